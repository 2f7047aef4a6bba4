package dev.graft.itests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.graft.api.MethodFamily;
import dev.graft.api.MethodRegistry;
import dev.graft.api.MethodRegistry.RegisteredMethod;
import dev.graft.api.train.Job;
import dev.graft.api.train.JobState;
import dev.graft.api.train.TrainingService;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Predicate;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.FrameworkUtil;
import org.osgi.framework.ServiceReference;
import org.osgi.test.common.annotation.InjectService;

/**
 * The hot-swap row of the conformance matrix, for every method the framework has installed (as the
 * {@link MethodRegistry} lists them, so a new method bundle in the framework is covered without a
 * test of its own): stopping the method's bundle under a running job stops the job with a
 * checkpoint and a reason, and once the bundle is back, resume continues the job to its end.
 */
class MethodBundleStopTest {
  private static final BundleContext CONTEXT =
      FrameworkUtil.getBundle(MethodBundleStopTest.class).getBundleContext();
  private static final int STEPS = 30;

  @InjectService TrainingService training;
  @InjectService MethodRegistry registry;

  /** The methods in service when the test starts, by name. */
  static Stream<String> installedMethods() {
    ServiceReference<MethodRegistry> ref = CONTEXT.getServiceReference(MethodRegistry.class);
    if (ref == null) {
      throw new IllegalStateException("No MethodRegistry service: dev.graft.train is not active.");
    }
    try {
      return CONTEXT.getService(ref).methods().stream().map(m -> m.info().name()).toList().stream();
    } finally {
      CONTEXT.ungetService(ref);
    }
  }

  /**
   * A job of {@value #STEPS} steps with the method on stories260K; a method that adds no parameters
   * (an objective) trains composed with lora. The save interval is longer than the job, so a
   * checkpoint in the folder can only come from the stop.
   */
  private Map<String, String> spec(RegisteredMethod method, boolean pairs) throws Exception {
    Path model = Path.of(CONTEXT.getProperty("graft.shared"), "models/stories260K").normalize();
    Assumptions.assumeTrue(Files.exists(model), "../shared not found (" + model + "): skipping");
    Path dir = Files.createTempDirectory(Path.of(CONTEXT.getProperty("graft.work")), "stop");
    Path data = dir.resolve("data.jsonl");
    Files.writeString(
        data,
        pairs
            ? "{\"prompt\": \"Once upon a time\", \"chosen\": \" there was a dog.\","
                + " \"rejected\": \" it rained.\"}\n"
                + "{\"prompt\": \"Lily had a\", \"chosen\": \" red ball.\", \"rejected\": \" cat.\"}\n"
            : "{\"text\": \"Once upon a time, there was a little dog named Max.\"}\n"
                + "{\"text\": \"Lily had a red ball. She threw it to Tom.\"}\n");
    String name = method.info().name();
    Map<String, String> spec = new LinkedHashMap<>();
    spec.put("model", model.toString());
    spec.put("data", data.toString());
    spec.put("method", method.info().family() == MethodFamily.OBJECTIVE ? "lora," + name : name);
    spec.put("max_steps", Integer.toString(STEPS));
    spec.put("save_steps", "1000");
    spec.put("per_device_train_batch_size", "2");
    spec.put("max_length", "32");
    spec.put("learning_rate", "1e-3");
    spec.put("output_dir", dir.resolve("out").toString());
    return spec;
  }

  private static void await(Job job, Predicate<Job> condition) throws InterruptedException {
    long deadline = System.currentTimeMillis() + 60_000;
    while (!condition.test(job)) {
      if (System.currentTimeMillis() > deadline) {
        throw new AssertionError("Not within 60 s: job " + job.id() + " is " + job.status());
      }
      Thread.sleep(20);
    }
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("installedMethods")
  void stoppingTheMethodsBundleStopsTheJobWithACheckpointAndResumeFinishesIt(String name)
      throws Exception {
    RegisteredMethod method = registry.require(name);
    Bundle bundle =
        Arrays.stream(CONTEXT.getBundles())
            .filter(b -> b.getSymbolicName().equals(method.bundle()))
            .findFirst()
            .orElseThrow();
    Job job = training.submit(spec(method, false));
    await(job, j -> j.status().step() >= 2 || j.status().state().isFinal());
    if (job.status().state() == JobState.FAILED
        && job.status().message().contains("the pairwise objective needs data")) {
      // The method's objective is pairwise (DPO), which only adapting the graph tells: pairs.
      job = training.submit(spec(method, true));
    }
    try {
      await(job, j -> j.status().step() >= 2 || j.status().state().isFinal());
      bundle.stop();
      await(job, j -> j.status().state().isFinal());
    } finally {
      bundle.start();
    }
    assertEquals(JobState.CANCELLED, job.status().state(), job.status().message());
    assertTrue(
        job.status()
            .message()
            .startsWith(
                "Method \""
                    + name
                    + "\" went away (its bundle was stopped, updated or uninstalled)."),
        job.status().message());
    long stoppedAt = job.status().step();
    assertTrue(stoppedAt < STEPS, "stopped before the end, at step " + stoppedAt);
    assertTrue(
        Files.exists(job.outputDirectory().resolve("checkpoint-" + stoppedAt)),
        "the stop wrote a checkpoint at step " + stoppedAt);

    Job resumed = resume(job, name);
    await(resumed, j -> j.status().state().isFinal());
    assertEquals(JobState.COMPLETED, resumed.status().state(), resumed.status().message());
    assertEquals(STEPS, resumed.status().step());
    assertEquals(
        STEPS + 1,
        Files.readAllLines(job.outputDirectory().resolve("metrics.csv")).size(),
        "one metrics row per step, none repeated or lost");
  }

  /**
   * Resumes the job once its method is back in service (the bundle's DS component registers it
   * shortly after the bundle starts); a job resumed before would fail on the missing method.
   */
  private Job resume(Job job, String name) throws InterruptedException {
    long deadline = System.currentTimeMillis() + 10_000;
    while (registry.find(name).isEmpty()) {
      if (System.currentTimeMillis() > deadline) {
        throw new AssertionError("Not within 10 s: method " + name + " back in service");
      }
      Thread.sleep(20);
    }
    return training.resume(job.id());
  }
}
