package dev.graft.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.graft.train.job.JobSpec;
import dev.graft.train.run.SftRun;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Ten steps on stories260K with a fixed seed give the same losses every time (llm.c's test_gpt2).
 */
class GoldenCurveTest {
  @TempDir Path dir;

  static final String[] STORIES = {
    "Once upon a time, there was a little dog named Max. Max liked to run in the park.",
    "Lily had a red ball. She threw the ball to her friend Tom, and they laughed.",
    "One day, a small bird sat on a tree. The bird sang a happy song for the sun.",
    "Ben wanted a big cake. His mom made a cake with many candles for his birthday.",
    "The cat was sleepy. It lay on the warm bed and closed its eyes.",
    "Sue found a shiny stone by the river. She gave it to her grandma.",
    "Tim and Anna built a tower of blocks. The tower fell, and they built it again.",
    "A little fish swam in the blue sea. It met a kind turtle who was slow."
  };

  static Path data(Path dir) throws Exception {
    Path file = dir.resolve("stories.jsonl");
    StringBuilder lines = new StringBuilder();
    for (String s : STORIES) {
      lines.append("{\"text\": \"").append(s).append("\"}\n");
    }
    Files.writeString(file, lines);
    return file;
  }

  /**
   * Preference pairs from {@link #STORIES}, written into {@code dir}: the prompt is a story's first
   * four words, chosen the rest of it, rejected the rest of the next story.
   */
  static Path pairs(Path dir) throws Exception {
    Path file = dir.resolve("story-pairs.jsonl");
    StringBuilder lines = new StringBuilder();
    for (int i = 0; i < STORIES.length; i++) {
      String[] own = STORIES[i].split(" ", 5);
      String[] next = STORIES[(i + 1) % STORIES.length].split(" ", 5);
      String prompt = String.join(" ", own[0], own[1], own[2], own[3]);
      lines
          .append("{\"prompt\": \"")
          .append(prompt)
          .append("\", \"chosen\": \" ")
          .append(own[4])
          .append("\", \"rejected\": \" ")
          .append(next[4])
          .append("\"}\n");
    }
    Files.writeString(file, lines);
    return file;
  }

  static List<Double> losses(Map<String, String> spec, int steps) {
    List<Double> losses = new ArrayList<>();
    try (SftRun run =
        new SftRun(
            JobSpec.parse(spec, Fixtures.REGISTRY), Fixtures.REGISTRY, Fixtures.cpu(), n -> {})) {
      for (int s = 0; s < steps; s++) {
        losses.add(run.step(s).loss());
      }
    }
    return losses;
  }

  Map<String, String> spec(String method) throws Exception {
    Map<String, String> spec = new LinkedHashMap<>();
    spec.put("model", Fixtures.shared("models/stories260K").toString());
    spec.put("data", data(dir).toString());
    spec.put("method", method);
    spec.put("seed", "7");
    spec.put("per_device_train_batch_size", "4");
    spec.put("max_length", "64");
    spec.put("learning_rate", "3e-3");
    spec.put("max_steps", "10");
    return spec;
  }

  /**
   * Recorded from this implementation on the CPU backend with one thread (ORT 1.23.2); the first
   * loss is the base model's, equal for both methods because LoRA starts as a no-op.
   */
  static final double[] LORA = {
    1.982964, 2.364415, 1.793693, 1.842180, 1.650707, 1.452927, 1.472701, 1.206079, 1.232033,
    1.220733
  };

  static final double[] FULL = {
    1.982964, 2.582165, 1.213683, 1.335135, 0.764383, 0.707785, 0.524347, 0.458466, 0.325392,
    0.394422
  };

  @Test
  void loraFollowsItsGoldenCurve() throws Exception {
    Map<String, String> spec = spec("lora");
    spec.put("lora.target_modules", "all-linear");
    assertCurve(LORA, losses(spec, 10));
  }

  /** LoRA's job with B at 16 times the rate: a bigger first jump, then a lower curve. */
  static final double[] LORA_PLUS = {
    1.982963, 3.181540, 1.612236, 1.856905, 1.069097, 1.013243, 0.739096, 0.735245, 0.517609,
    0.643594
  };

  /**
   * LoRA's job with A frozen: step 2 equals LoRA's (the first step moves only B in both), later
   * steps fall more slowly.
   */
  static final double[] LORA_FA = {
    1.982963, 2.364414, 1.808118, 1.888170, 1.726720, 1.587375, 1.642043, 1.391781, 1.442639,
    1.435267
  };

  @Test
  void loraPlusFollowsItsGoldenCurve() throws Exception {
    Map<String, String> spec = spec("lora-plus");
    spec.put("lora-plus.target_modules", "all-linear");
    assertCurve(LORA_PLUS, losses(spec, 10));
  }

  @Test
  void loraFaFollowsItsGoldenCurve() throws Exception {
    Map<String, String> spec = spec("lora-fa");
    spec.put("lora-fa.target_modules", "all-linear");
    assertCurve(LORA_FA, losses(spec, 10));
  }

  @Test
  void fullFineTuningFollowsItsGoldenCurve() throws Exception {
    assertCurve(FULL, losses(spec("full"), 10));
  }

  /**
   * The first loss (the base model's forward) to 2e-6; later ones to 1e-4 relative. A reordering of
   * float32 arithmetic that computes the same (say, scaling q before q kᵀ instead of the scores
   * after) moves step 7 of full fine-tuning at this learning rate by 4e-5; a bug in the step moves
   * the curve by far more.
   */
  private static void assertCurve(double[] expected, List<Double> actual) {
    for (int i = 0; i < expected.length; i++) {
      assertEquals(
          expected[i],
          actual.get(i),
          (i == 0 ? 2e-6 : 1e-4) * Math.max(1, expected[i]),
          "step " + (i + 1) + " of " + actual);
    }
  }
}
