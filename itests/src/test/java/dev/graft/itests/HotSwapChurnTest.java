package dev.graft.itests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.graft.api.MethodRegistry;
import dev.graft.api.backend.BackendRegistry;
import dev.graft.api.backend.ComputeBackend;
import dev.graft.api.train.Job;
import dev.graft.api.train.JobState;
import dev.graft.api.train.TrainingService;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Predicate;
import org.apache.felix.service.command.CommandProcessor;
import org.apache.felix.service.command.CommandSession;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.FrameworkEvent;
import org.osgi.framework.FrameworkUtil;
import org.osgi.framework.wiring.FrameworkWiring;
import org.osgi.test.common.annotation.InjectService;

/**
 * The hot-swap soak: while LoRA jobs train on stories260K, the method bundle and the CPU backend
 * bundle are stopped and started, or updated and refreshed, at random steps, {@code
 * graft.churn.cycles} times (100 in the build; {@code GRAFT_CHURN_CYCLES=1000} for the long run).
 * Every disturbed job stops with a checkpoint and a reason and is resumed until it completes, and
 * its loss curve must equal an undisturbed run's, step for step. The shell answers throughout, no
 * ONNX Runtime session stays open once a job ends, and the process's resident memory after the last
 * cycle stays within {@value #RSS_BOUND_MB} MB of what it was after cycle 10.
 */
class HotSwapChurnTest {
  private static final BundleContext CONTEXT =
      FrameworkUtil.getBundle(HotSwapChurnTest.class).getBundleContext();
  private static final int STEPS = 24;
  private static final long RSS_BOUND_MB = 256;

  @InjectService TrainingService training;
  @InjectService MethodRegistry methods;
  @InjectService BackendRegistry backends;
  @InjectService CommandProcessor processor;

  private Map<String, String> spec(String name) throws Exception {
    Path model = Path.of(CONTEXT.getProperty("graft.shared"), "models/stories260K").normalize();
    Assumptions.assumeTrue(Files.exists(model), "../shared not found (" + model + "): skipping");
    Path dir = Files.createTempDirectory(Path.of(CONTEXT.getProperty("graft.work")), name);
    Path data = dir.resolve("data.jsonl");
    Files.writeString(
        data,
        "{\"text\": \"Once upon a time, there was a little dog named Max.\"}\n"
            + "{\"text\": \"Lily had a red ball. She threw it to Tom.\"}\n"
            + "{\"text\": \"The sun was hot, so the cat slept under a big tree.\"}\n");
    Map<String, String> spec = new LinkedHashMap<>();
    spec.put("model", model.toString());
    spec.put("data", data.toString());
    spec.put("method", "lora");
    spec.put("max_steps", Integer.toString(STEPS));
    spec.put("save_steps", "1000");
    spec.put("per_device_train_batch_size", "2");
    spec.put("max_length", "32");
    spec.put("learning_rate", "1e-3");
    spec.put("seed", "7");
    spec.put("output_dir", dir.resolve("out").toString());
    return spec;
  }

  @Test
  void jobsSurviveRandomStopsAndUpdatesOfTheirMethodAndBackendBundles() throws Exception {
    int cycles = Integer.parseInt(CONTEXT.getProperty("graft.churn.cycles"));
    Job reference = training.submit(spec("churn-reference"));
    await(reference, j -> j.status().state().isFinal(), 120);
    assertEquals(JobState.COMPLETED, reference.status().state(), reference.status().message());
    List<String> expected = losses(reference);

    Bundle lora = bundle("dev.graft.method.lora");
    Bundle cpu = bundle("dev.graft.backend.cpu");
    Random random = new Random(20261204L);
    int done = 0;
    int jobs = 0;
    long rssAt10 = -1;
    long started = System.nanoTime();
    while (done < cycles) {
      Job job = training.submit(spec("churn"));
      jobs++;
      while (true) {
        long from = job.status().step();
        // At least one step after each (re)start, so the job has its method and backend in hand.
        long at = from + 1 + random.nextInt(3);
        await(job, j -> j.status().step() >= at || j.status().state().isFinal(), 60);
        if (job.status().state().isFinal() || done >= cycles) {
          break;
        }
        int action = random.nextInt(4);
        Bundle target = action < 2 ? lora : cpu;
        if (action % 2 == 0) {
          target.stop();
          target.start();
        } else {
          target.update();
          refresh(target);
        }
        done++;
        await(job, j -> j.status().state().isFinal(), 60);
        assertShellAnswers(job.id());
        if (job.status().state() == JobState.CANCELLED) {
          assertTrue(
              job.status().message().contains("went away (its bundle was stopped, updated"),
              job.status().message());
          awaitServices();
          job = training.resume(job.id());
        }
        if (done == 10) {
          rssAt10 = residentMegabytes();
        }
      }
      await(job, j -> j.status().state().isFinal(), 120);
      assertEquals(JobState.COMPLETED, job.status().state(), job.status().message());
      assertEquals(
          expected, losses(job), "the churned job's loss curve equals the undisturbed one");
      assertEquals(0, openSessions(), "no ONNX Runtime session is open once the job has ended");
    }
    long rssEnd = residentMegabytes();
    System.out.printf(
        "hot-swap churn: %d cycles over %d jobs in %.0f s; open ORT sessions after each job 0;"
            + " RSS %d MB after cycle 10, %d MB after cycle %d%n",
        done, jobs, (System.nanoTime() - started) / 1e9, rssAt10, rssEnd, done);
    assertTrue(
        rssAt10 < 0 || rssEnd - rssAt10 <= RSS_BOUND_MB,
        "RSS grew from " + rssAt10 + " MB (cycle 10) to " + rssEnd + " MB (cycle " + done + ")");
  }

  /** The loss column of the job's metrics.csv, as written (one row per step). */
  private static List<String> losses(Job job) throws Exception {
    List<String> lines = Files.readAllLines(job.outputDirectory().resolve("metrics.csv"));
    List<String> out = new ArrayList<>();
    for (String line : lines.subList(1, lines.size())) {
      out.add(line.split(",")[1]);
    }
    assertEquals(STEPS, out.size(), "one metrics row per step, none repeated or lost");
    return out;
  }

  private static Bundle bundle(String symbolicName) {
    return Arrays.stream(CONTEXT.getBundles())
        .filter(b -> b.getSymbolicName().equals(symbolicName))
        .findFirst()
        .orElseThrow(() -> new AssertionError(symbolicName + " is not installed"));
  }

  private static void refresh(Bundle bundle) throws InterruptedException {
    CountDownLatch refreshed = new CountDownLatch(1);
    CONTEXT
        .getBundle(0)
        .adapt(FrameworkWiring.class)
        .refreshBundles(
            List.of(bundle),
            e -> {
              if (e.getType() == FrameworkEvent.PACKAGES_REFRESHED) {
                refreshed.countDown();
              }
            });
    assertTrue(refreshed.await(30, TimeUnit.SECONDS), "packages refreshed within 30 s");
  }

  /** Waits until lora and cpu are back in service (their DS components register shortly after). */
  private void awaitServices() throws InterruptedException {
    eventually(
        "lora and cpu back in service",
        () ->
            methods.find("lora").isPresent()
                && backends.backends().stream().anyMatch(b -> b.name().equals("cpu")),
        10);
  }

  private int openSessions() {
    return backends.backends().stream()
        .filter(b -> b.name().equals("cpu"))
        .mapToInt(ComputeBackend::openSessions)
        .sum();
  }

  private void assertShellAnswers(String id) throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (PrintStream print = new PrintStream(out, true, StandardCharsets.UTF_8);
        CommandSession session = processor.createSession(System.in, print, print)) {
      Object listed = session.execute("graft:jobs");
      assertTrue(String.valueOf(listed).contains(id), "graft:jobs answers: " + listed);
    }
  }

  private static long residentMegabytes() throws Exception {
    System.gc();
    for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
      if (line.startsWith("VmRSS:")) {
        return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024;
      }
    }
    return -1;
  }

  private static void await(Job job, Predicate<Job> condition, int seconds)
      throws InterruptedException {
    eventually("job " + job.id() + " (" + job.status() + ")", () -> condition.test(job), seconds);
  }

  private static void eventually(String what, BooleanSupplier condition, int seconds)
      throws InterruptedException {
    long deadline = System.currentTimeMillis() + seconds * 1000L;
    while (!condition.getAsBoolean()) {
      if (System.currentTimeMillis() > deadline) {
        throw new AssertionError("Not within " + seconds + " s: " + what);
      }
      Thread.sleep(20);
    }
  }
}
