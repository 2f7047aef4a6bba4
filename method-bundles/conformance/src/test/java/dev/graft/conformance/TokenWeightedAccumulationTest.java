package dev.graft.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.graft.model.SafetensorsReader;
import dev.graft.train.job.JobSpec;
import dev.graft.train.job.Run;
import dev.graft.train.run.SftRun;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Gradient accumulation weighs each micro-batch by its learned tokens: one batch of 8 samples and
 * four micro-batches of 2 (of different token counts) make the same steps — the same loss, the same
 * gradient norm and the same adapter — as Transformers computes since its 2024 fix. The mean of the
 * micro-batches' means, which weighs a token of a short micro-batch more, does not.
 */
class TokenWeightedAccumulationTest {
  @TempDir Path dir;

  /** Samples of 1 to 4 stories each, so that micro-batches of 2 differ in their token counts. */
  private Path unevenData() throws Exception {
    StringBuilder lines = new StringBuilder();
    String[] stories = GoldenCurveTest.STORIES;
    for (int i = 0; i < stories.length; i++) {
      String text = (stories[i] + " ").repeat(1 + i % 4).trim();
      lines.append("{\"text\": \"").append(text).append("\"}\n");
    }
    return Files.writeString(dir.resolve("uneven.jsonl"), lines);
  }

  /** What {@code steps} steps of {@code accumulation} micro-batches of {@code batch} give. */
  private record Steps(List<Run.StepResult> results, Path out) {}

  private Steps train(int batch, int accumulation, int steps) throws Exception {
    Map<String, String> spec = Fixtures.spec(dir, "lora", steps);
    spec.put("data", unevenData().toString());
    spec.put("max_length", "256");
    spec.put("lora.lora_dropout", "0");
    spec.put("per_device_train_batch_size", Integer.toString(batch));
    spec.put("gradient_accumulation_steps", Integer.toString(accumulation));
    Path out = Files.createDirectories(dir.resolve(batch + "x" + accumulation + "x" + steps));
    List<Run.StepResult> results = new ArrayList<>();
    try (SftRun run =
        new SftRun(
            JobSpec.parse(spec, Fixtures.REGISTRY), Fixtures.REGISTRY, Fixtures.cpu(), n -> {})) {
      for (int s = 0; s < steps; s++) {
        results.add(run.step(s));
      }
      run.finish(out);
    }
    return new Steps(results, out);
  }

  @Test
  void fourMicroBatchesOfTwoStepAsOneBatchOfEight() throws Exception {
    Steps whole = train(8, 1, 3);
    Steps accumulated = train(2, 4, 3);
    for (int s = 0; s < 3; s++) {
      Run.StepResult a = whole.results().get(s);
      Run.StepResult b = accumulated.results().get(s);
      assertEquals(a.tokens(), b.tokens(), "the same samples at step " + (s + 1));
      assertEquals(a.loss(), b.loss(), 1e-5, "loss at step " + (s + 1));
      assertEquals(a.gradNorm(), b.gradNorm(), 1e-5 * a.gradNorm(), "grad norm " + (s + 1));
    }
    try (SafetensorsReader a = open(whole.out());
        SafetensorsReader b = open(accumulated.out())) {
      for (String name : a.names()) {
        float[] x = a.floats(name);
        float[] y = b.floats(name);
        for (int i = 0; i < x.length; i++) {
          assertEquals(x[i], y[i], 1e-5, name + "[" + i + "]");
        }
      }
    }
  }

  @Test
  void theMicroBatchesDifferInTheirTokenCounts() throws Exception {
    // Without different counts the test above could not tell the weighting from a plain mean:
    // batches 0 to 3 of 2 samples are the micro-batches of the first accumulated step.
    List<Long> tokens = train(2, 1, 4).results().stream().map(Run.StepResult::tokens).toList();
    assertEquals(4, new java.util.HashSet<>(tokens).size(), tokens.toString());
  }

  private static SafetensorsReader open(Path out) throws Exception {
    return SafetensorsReader.open(out.resolve("adapter/adapter_model.safetensors"));
  }
}
