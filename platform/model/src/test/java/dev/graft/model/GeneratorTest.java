package dev.graft.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.graft.api.backend.HostTensor;
import dev.graft.api.backend.Program;
import dev.graft.api.backend.Session;
import dev.graft.backend.cpu.CpuBackend;
import dev.graft.backend.cpu.Steps;
import dev.graft.graph.DType;
import dev.graft.model.impl.Sampling;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Generation on tiny random models in float32 on the CPU backend. (Float64 would rule out near-ties
 * between logits, but ORT 1.23 fuses SiLU into com.microsoft.QuickGelu, which has no float64
 * kernel; the seeds here give no near-ties.)
 */
class GeneratorTest {

  private static final CpuBackend BACKEND = Steps.cpu(1);

  /** Prompts of different lengths, so that a batch of them is left-padded. */
  private static final List<int[]> PROMPTS =
      List.of(new int[] {3, 14, 15, 9, 26, 5}, new int[] {7}, new int[] {40, 2, 18});

  @TempDir Path dir;

  @ParameterizedTest
  @ValueSource(strings = {"llama", "mistral", "qwen2", "gpt2"})
  void cachedGenerationEqualsFullRecomputation(String arch) throws IOException {
    Path folder = TinyModels.write(dir, TinyModels.ALL.get(arch), 21);
    Generator.Options greedy = Generator.Options.greedy(12);
    try (Generator cached = open(folder, true);
        Generator full = open(folder, false)) {
      for (int[] prompt : PROMPTS) {
        assertArrayEquals(
            full.generate(prompt, greedy).ids(), cached.generate(prompt, greedy).ids());
      }
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"llama", "gpt2"})
  void aLeftPaddedBatchEqualsOneByOneGeneration(String arch) throws IOException {
    Path folder = TinyModels.write(dir, TinyModels.ALL.get(arch), 22);
    Generator.Options greedy = Generator.Options.greedy(10);
    try (Generator cached = open(folder, true);
        Generator full = open(folder, false)) {
      List<Generator.Completion> batch = cached.generate(PROMPTS, greedy);
      List<Generator.Completion> fullBatch = full.generate(PROMPTS, greedy);
      for (int i = 0; i < PROMPTS.size(); i++) {
        int[] alone = cached.generate(PROMPTS.get(i), greedy).ids();
        assertArrayEquals(alone, batch.get(i).ids(), "prompt " + i);
        assertArrayEquals(alone, fullBatch.get(i).ids(), "prompt " + i + " without cache");
      }
    }
  }

  @Test
  void cachedLogitsEqualFullLogitsForAPaddedBatch() throws IOException {
    Path folder = TinyModels.write(dir, TinyModels.LLAMA, 23);
    ModelConfig c = ModelConfig.read(folder);
    // Row 0: [11, 12, 13] then 14; row 1: one padding slot, [21, 22] then 23.
    long[][] tokens = {{11, 12, 13, 14}, {0, 21, 22, 23}};
    long[][] positions = {{0, 1, 2, 3}, {0, 0, 1, 2}};
    long[][] segments = {{1, 1, 1, 1}, {0, 1, 1, 1}};
    ModelGraph full = ModelGraph.build(c, DType.FLOAT32);
    double[] expected =
        Runs.onBackend(
            BACKEND,
            full,
            Runs.weights(full, folder, DType.FLOAT32),
            Map.of(
                "input_ids", Runs.longs(tokens),
                "position_ids", Runs.longs(positions),
                "segment_ids", Runs.longs(segments)));
    ModelGraph m = ModelGraph.buildWithCache(c, DType.FLOAT32);
    Program program =
        new Program(
            m.graph().toOnnx(),
            Runs.weights(m, folder, DType.FLOAT32),
            m.kvCache(),
            Steps.dtypes(m.graph()));
    int vocab = c.vocabSize();
    double error = 0;
    try (Session s = BACKEND.open(program)) {
      long[] cacheShape = {2, 4, c.numKeyValueHeads(), c.headDim()};
      for (String past : m.kvCache().values()) {
        s.setState(
            past,
            new HostTensor(
                DType.FLOAT32,
                cacheShape,
                ByteBuffer.allocateDirect(4 * (int) HostTensor.elements(cacheShape))));
      }
      HostTensor mask = Runs.longs(new long[][] {{1, 1, 1, 1}, {0, 1, 1, 1}});
      // The three prompt columns in one run, then the fourth column alone.
      int[][] runs = {{0, 3}, {3, 4}};
      for (int[] run : runs) {
        double[] logits =
            Steps.values(
                s.run(
                        Map.of(
                            "input_ids", Runs.longs(columns(tokens, run[0], run[1])),
                            "position_ids", Runs.longs(columns(positions, run[0], run[1])),
                            "cache_position",
                                HostTensor.ofLongs(
                                    new long[] {run[1] - run[0]}, range(run[0], run[1])),
                            "attention_mask", mask),
                        Set.of("logits"))
                    .get("logits"));
        for (int b = 0; b < 2; b++) {
          for (int v = 0; v < vocab; v++) {
            double want = expected[(b * 4 + run[1] - 1) * vocab + v];
            error = Math.max(error, Math.abs(logits[b * vocab + v] - want));
          }
        }
      }
    }
    assertTrue(error < 1e-5, "max abs error " + error);
  }

  @Test
  void seededSamplingRepeatsAndDoesNotDependOnTheBatch() throws IOException {
    Path folder = TinyModels.write(dir, TinyModels.QWEN2, 24);
    Generator.Options sampling =
        Generator.Options.greedy(16).withSampling(1.3, 20, 0.95).withSeed(42);
    try (Generator g = open(folder, true)) {
      List<Generator.Completion> batch = g.generate(PROMPTS, sampling);
      for (int i = 0; i < PROMPTS.size(); i++) {
        assertArrayEquals(g.generate(PROMPTS.get(i), sampling).ids(), batch.get(i).ids());
      }
      int[] other = g.generate(PROMPTS.get(0), sampling.withSeed(43)).ids();
      assertFalse(Arrays.equals(batch.get(0).ids(), other), "another seed, the same 16 tokens");
      int[] greedy = g.generate(PROMPTS.get(0), Generator.Options.greedy(16)).ids();
      int[] topOne = g.generate(PROMPTS.get(0), sampling.withSampling(1.3, 1, 1)).ids();
      assertArrayEquals(greedy, topOne);
    }
  }

  @Test
  void aStopTokenEndsTheCompletionAndIsKept() throws IOException {
    Path folder = TinyModels.write(dir, TinyModels.MISTRAL, 25);
    try (Generator g = open(folder, true)) {
      int[] free = g.generate(PROMPTS.get(0), Generator.Options.greedy(12)).ids();
      int stop = free[4];
      int first = 0;
      while (free[first] != stop) {
        first++;
      }
      Generator.Completion c =
          g.generate(PROMPTS.get(0), Generator.Options.greedy(12).withStopTokens(List.of(stop)));
      assertArrayEquals(Arrays.copyOf(free, first + 1), c.ids());
      assertEquals(Generator.Finish.STOP_TOKEN, c.finish());
      assertNull(c.text(), "no tokenizer, no text");
      // In a batch, the other prompts keep going.
      List<Generator.Completion> batch =
          g.generate(PROMPTS, Generator.Options.greedy(12).withStopTokens(List.of(stop)));
      assertArrayEquals(c.ids(), batch.get(0).ids());
      for (Generator.Completion other : batch) {
        int last = other.ids()[other.ids().length - 1];
        assertTrue(
            other.finish() == Generator.Finish.LENGTH
                ? other.ids().length == 12
                : other.finish() == Generator.Finish.STOP_TOKEN && last == stop);
      }
    }
  }

  @Test
  void repetitionPenaltyDividesPositiveAndMultipliesNegativeLogitsOfSeenTokens() {
    double[] logits = {2, -2, 1, 3};
    Sampling.penalize(logits, new boolean[] {true, true, false, false}, 2);
    assertArrayEquals(new double[] {1, -4, 1, 3}, logits);
  }

  @Test
  void topPKeepsTheSmallestSetReachingTheMassAndTopKKeepsTies() {
    // softmax probabilities 0.5, 0.3, 0.2 (log-probabilities as logits).
    double[] logits = {Math.log(0.3), Math.log(0.5), Math.log(0.2)};
    SplittableRandom rng = new SplittableRandom(1);
    int[] counts = new int[3];
    for (int i = 0; i < 4000; i++) {
      counts[Sampling.sample(logits, 1, 0, 0.6, rng)]++;
    }
    // 0.5 < 0.6, so the second most likely token is kept; the third never.
    assertEquals(0, counts[2]);
    assertEquals(0.375, counts[0] / 4000.0, 0.03); // 0.3 / 0.8
    double[] tied = {1, 2, 2, 0};
    List<Integer> seen = new ArrayList<>();
    for (int i = 0; i < 200; i++) {
      seen.add(Sampling.sample(tied, 1, 1, 1, rng));
    }
    assertTrue(seen.contains(1) && seen.contains(2) && !seen.contains(0) && !seen.contains(3));
  }

  @Test
  void badPromptsAndSettingsAreRejectedWithTheValue() throws IOException {
    Path folder = TinyModels.write(dir, TinyModels.GPT2, 26);
    IllegalArgumentException e;
    try (Generator g = open(folder, true)) {
      e =
          assertThrows(
              IllegalArgumentException.class,
              () -> g.generate(new int[30], Generator.Options.greedy(11)));
      assertEquals(
          "A prompt of 30 tokens plus 11 new tokens exceeds max_position_embeddings 40; shorten"
              + " the prompt or lower max_new_tokens.",
          e.getMessage());
      assertThrows(
          IllegalArgumentException.class,
          () -> g.generate(new int[0], Generator.Options.greedy(1)));
      e =
          assertThrows(
              IllegalArgumentException.class,
              () -> g.generate(new int[] {48}, Generator.Options.greedy(1)));
      assertEquals("Token id 48 is outside the vocabulary [0, 48).", e.getMessage());
      assertThrows(
          IllegalArgumentException.class,
          () ->
              g.generate(new int[] {1}, Generator.Options.greedy(1).withStopStrings(List.of("x"))));
    }
    e =
        assertThrows(
            IllegalArgumentException.class,
            () -> Generator.Options.greedy(4).withSampling(0, 0, 1));
    assertEquals("Generation setting temperature must be above 0, not 0.0.", e.getMessage());
  }

  // ---------------------------------------------------------------- helpers

  private static Generator open(Path folder, boolean cache) throws IOException {
    ModelConfig c = ModelConfig.read(folder);
    ModelGraph m =
        cache ? ModelGraph.buildWithCache(c, DType.FLOAT32) : ModelGraph.build(c, DType.FLOAT32);
    return Generator.open(
        BACKEND, m, Runs.weights(m, folder, DType.FLOAT32), null, Generator.Options.greedy(1));
  }

  private static long[][] columns(long[][] rows, int from, int to) {
    long[][] out = new long[rows.length][];
    for (int b = 0; b < rows.length; b++) {
      out[b] = Arrays.copyOfRange(rows[b], from, to);
    }
    return out;
  }

  private static long[] range(int from, int to) {
    long[] out = new long[to - from];
    Arrays.setAll(out, i -> from + i);
    return out;
  }
}
