package dev.graft.itests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.graft.api.train.Job;
import dev.graft.api.train.JobState;
import dev.graft.api.train.TrainingService;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.apache.felix.service.command.CommandProcessor;
import org.apache.felix.service.command.CommandSession;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.osgi.framework.BundleContext;
import org.osgi.framework.FrameworkUtil;
import org.osgi.service.cm.Configuration;
import org.osgi.service.cm.ConfigurationAdmin;
import org.osgi.test.common.annotation.InjectService;

/**
 * Training inside the framework: job files, the shell and configurations. Method bundles that stop
 * under a running job: {@link MethodBundleStopTest}.
 */
class TrainingInFrameworkTest {
  private final BundleContext context = FrameworkUtil.getBundle(getClass()).getBundleContext();

  @InjectService TrainingService training;
  @InjectService ConfigurationAdmin configAdmin;
  @InjectService CommandProcessor processor;

  private Path jobFile(int steps) throws Exception {
    Path model = Path.of(context.getProperty("graft.shared"), "models/stories260K").normalize();
    Assumptions.assumeTrue(Files.exists(model), "../shared not found (" + model + "): skipping");
    Path dir = Files.createTempDirectory(Path.of(context.getProperty("graft.work")), "job");
    Path data = dir.resolve("data.jsonl");
    Files.writeString(
        data,
        "{\"text\": \"Once upon a time, there was a little dog named Max.\"}\n"
            + "{\"text\": \"Lily had a red ball. She threw it to Tom.\"}\n");
    Path file = dir.resolve("job.yaml");
    Files.writeString(
        file,
        "vars:\n  dir: "
            + dir
            + "\nmodel: "
            + model
            + "\nmethod: lora\ndata: ${vars.dir}/data.jsonl"
            + "\nmax_steps: "
            + steps
            + "\nsave_steps: 1\nper_device_train_batch_size: 2\nmax_length: 32\nlearning_rate: 1e-3\n"
            + "output_dir: "
            + dir.resolve("out")
            + "\nlora:\n  r: 4\n");
    return file;
  }

  private static void await(Job job, java.util.function.Predicate<Job> condition)
      throws InterruptedException {
    long deadline = System.currentTimeMillis() + 60_000;
    while (!condition.test(job)) {
      if (System.currentTimeMillis() > deadline) {
        throw new AssertionError("Not within 60 s: job " + job.id() + " is " + job.status());
      }
      Thread.sleep(50);
    }
  }

  @Test
  void aYamlJobTrainsToAPeftAdapterAndIsListedByGraftJobs() throws Exception {
    Path file = jobFile(3);
    Job job = training.submit(file, Map.of("seed", "5"));
    await(job, j -> j.status().state().isFinal());
    assertEquals(JobState.COMPLETED, job.status().state(), job.status().message());
    assertTrue(Files.exists(job.outputDirectory().resolve("adapter/adapter_model.safetensors")));
    assertTrue(Files.exists(job.outputDirectory().resolve("report.html")));
    assertEquals(4, Files.readAllLines(job.outputDirectory().resolve("metrics.csv")).size());
    try (CommandSession session = processor.createSession(System.in, System.out, System.err)) {
      String jobs = String.valueOf(session.execute("graft:jobs"));
      assertTrue(
          jobs.contains(job.id()) && jobs.contains("completed") && jobs.contains("3/3"), jobs);
    }
  }

  @Test
  void aFactoryConfigurationStartsAJob() throws Exception {
    Path file = jobFile(2);
    java.util.Hashtable<String, Object> properties = new java.util.Hashtable<>();
    for (String line : Files.readAllLines(file)) {
      int colon = line.indexOf(": ");
      if (colon > 0 && !line.startsWith(" ") && !line.startsWith("vars")) {
        properties.put(line.substring(0, colon), line.substring(colon + 2));
      }
    }
    properties.put("data", file.resolveSibling("data.jsonl").toString());
    properties.put("lora.r", "2");
    int before = training.jobs().size();
    Configuration config = configAdmin.createFactoryConfiguration("dev.graft.job", "?");
    try {
      config.update(properties);
      long deadline = System.currentTimeMillis() + 30_000;
      while (training.jobs().size() == before && System.currentTimeMillis() < deadline) {
        Thread.sleep(50);
      }
      Job job = training.jobs().get(0);
      await(job, j -> j.status().state().isFinal());
      assertEquals(JobState.COMPLETED, job.status().state(), job.status().message());
      assertEquals("2", job.spec().get("lora.r"));
    } finally {
      config.delete();
    }
  }
}
