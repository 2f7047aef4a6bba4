package dev.graft.itests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.graft.api.MethodRegistry;
import dev.graft.api.train.Job;
import dev.graft.api.train.JobState;
import dev.graft.api.train.TrainingService;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.function.BooleanSupplier;
import org.apache.felix.service.command.CommandProcessor;
import org.apache.felix.service.command.CommandSession;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.osgi.framework.BundleContext;
import org.osgi.framework.FrameworkUtil;
import org.osgi.test.common.annotation.InjectService;

/**
 * A third-party method bundle, built from Graft's published API alone (examples/ia3-bundle), as a
 * user installs it: its jar dropped into deploy/. The registry lists it, a job trains with it, and
 * it goes when the jar is removed.
 */
class ExampleBundleDropInTest {
  private final BundleContext context = FrameworkUtil.getBundle(getClass()).getBundleContext();

  @InjectService MethodRegistry registry;
  @InjectService TrainingService training;
  @InjectService CommandProcessor processor;

  private String shell(String command) throws Exception {
    try (CommandSession session = processor.createSession(System.in, System.out, System.err)) {
      return String.valueOf(session.execute(command));
    }
  }

  private static void eventually(String what, long millis, BooleanSupplier condition)
      throws InterruptedException {
    long deadline = System.currentTimeMillis() + millis;
    while (!condition.getAsBoolean()) {
      if (System.currentTimeMillis() > deadline) {
        throw new AssertionError("Not within " + millis / 1000 + " s: " + what);
      }
      Thread.sleep(50);
    }
  }

  @Test
  void theIa3JarDroppedIntoDeployIsListedTrainsAndGoesWhenRemoved() throws Exception {
    Path built = Path.of(context.getProperty("graft.example.ia3"));
    assertTrue(Files.exists(built), "the build copies the example's jar to " + built);
    Path model = Path.of(context.getProperty("graft.shared"), "models/stories260K").normalize();
    Assumptions.assumeTrue(Files.exists(model), "../shared not found (" + model + "): skipping");

    Path jar = Path.of(context.getProperty("felix.fileinstall.dir")).resolve("ia3.jar");
    Files.copy(built, jar);
    try {
      eventually("ia3 appears after the drop", 10_000, () -> registry.find("ia3").isPresent());
      assertEquals("dev.graft.example.ia3", registry.require("ia3").bundle());
      String table = shell("graft:methods");
      assertTrue(
          table
              .lines()
              .anyMatch(
                  l ->
                      l.matches("ia3\\s+adapter\\s+dev\\.graft\\.example\\.ia3\\s+\\S+\\s+active")),
          table);
      assertTrue(shell("graft:method ia3").contains("feedforward_modules"));

      Path dir = Files.createTempDirectory(Path.of(context.getProperty("graft.work")), "ia3");
      Files.writeString(
          dir.resolve("data.jsonl"),
          "{\"text\": \"Once upon a time, there was a little dog named Max.\"}\n"
              + "{\"text\": \"Lily had a red ball. She threw it to Tom.\"}\n");
      Job job =
          training.submit(
              Map.of(
                  "model", model.toString(),
                  "method", "ia3",
                  "data", dir.resolve("data.jsonl").toString(),
                  "max_steps", "2",
                  "per_device_train_batch_size", "2",
                  "max_length", "32",
                  "learning_rate", "1e-2",
                  "output_dir", dir.resolve("out").toString()));
      eventually("the ia3 job ends", 60_000, () -> job.status().state().isFinal());
      assertEquals(JobState.COMPLETED, job.status().state(), job.status().message());
      String config =
          Files.readString(job.outputDirectory().resolve("adapter/adapter_config.json"));
      assertTrue(config.matches("(?s).*\"peft_type\"\\s*:\\s*\"IA3\".*"), config);
    } finally {
      Files.delete(jar);
    }
    eventually("ia3 is gone after the delete", 10_000, () -> registry.find("ia3").isEmpty());
  }
}
