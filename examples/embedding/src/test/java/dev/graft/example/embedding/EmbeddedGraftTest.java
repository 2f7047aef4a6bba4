package dev.graft.example.embedding;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.graft.api.MethodRegistry;
import dev.graft.api.train.Job;
import dev.graft.api.train.JobState;
import dev.graft.api.train.TrainingService;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The host application trains LoRA in a framework it launched, from Java alone. */
class EmbeddedGraftTest {
  @TempDir Path work;

  /** {@code shared/models/stories260K} above the working directory; skips the test without it. */
  private static Path stories260k() {
    for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
      Path model = p.resolveSibling("shared").resolve("models/stories260K");
      if (Files.isDirectory(model)) {
        return model;
      }
    }
    assumeTrue(false, "../shared not found above " + Path.of("").toAbsolutePath() + ": skipping");
    throw new AssertionError("unreachable");
  }

  @Test
  void aHostLaunchesTheFrameworkAndTrainsLoraThroughTheTrainingService() throws Exception {
    Path model = stories260k();
    Path bundles = Path.of(System.getProperty("graft.bundles"));
    ByteArrayOutputStream printed = new ByteArrayOutputStream();
    try (EmbeddedGraft graft = EmbeddedGraft.start(bundles, work)) {
      MethodRegistry methods = graft.service(MethodRegistry.class, Duration.ofSeconds(30));
      assertTrue(methods.find("lora").isPresent(), methods.methods().toString());
      Job job =
          EmbeddedGraft.train(
              graft.service(TrainingService.class, Duration.ofSeconds(30)),
              EmbeddedGraft.loraJob(model, work, "3"),
              new PrintStream(printed, true, StandardCharsets.UTF_8));
      String out = printed.toString(StandardCharsets.UTF_8);
      assertEquals(JobState.COMPLETED, job.status().state(), out);
      assertTrue(out.contains("COMPLETED after 3/3 steps"), out);
      List<String> metrics = Files.readAllLines(job.outputDirectory().resolve("metrics.csv"));
      assertEquals(4, metrics.size(), String.join("\n", metrics));
      for (String row : metrics.subList(1, 4)) {
        double loss = Double.parseDouble(row.split(",")[1]);
        assertTrue(loss > 0 && loss < 20, row);
      }
      assertTrue(Files.exists(job.outputDirectory().resolve("adapter/adapter_model.safetensors")));
      assertTrue(Files.isDirectory(work.resolve("graft-home/jobs/" + job.id())), job.id());
    }
  }
}
