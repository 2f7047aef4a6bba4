package dev.graft.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.graft.api.backend.HostTensor;
import dev.graft.backend.cpu.CpuBackend;
import dev.graft.backend.cpu.Steps;
import dev.graft.graph.DType;
import dev.graft.graph.Graph;
import dev.graft.graph.NdArray;
import dev.graft.graph.Shape;
import dev.graft.graph.Tensor;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Virtual tokens and key/value prefixes, checked exactly (float64, interpreter) against the plain
 * model on the sequence with real tokens ahead: virtual tokens whose embeddings are those of tokens
 * t, or prefixes that are the model's own cached keys and values of t, must give the logits of
 * {@code [t, x]} at x's positions.
 */
class PrefixesTest {

  /** The tokens the virtual tokens or the prefix stand for. */
  private static final long[] AHEAD = {5, 17, 30};

  /**
   * Row 0 holds one sample; row 1 packs two samples and ends in padding (segment 0). Each sample
   * starts at position 0.
   */
  private static final long[][] TOKENS = {{11, 12, 13, 14}, {21, 22, 31, 0}};

  private static final long[][] POSITIONS = {{0, 1, 2, 3}, {0, 1, 0, 0}};
  private static final long[][] SEGMENTS = {{1, 1, 1, 1}, {1, 1, 2, 0}};

  private static final CpuBackend BACKEND = Steps.cpu(1);

  @TempDir Path dir;

  @ParameterizedTest
  @ValueSource(strings = {"llama", "mistral", "qwen2", "gpt2"})
  void virtualTokensWithTheEmbeddingsOfTokensActAsThoseTokensAheadOfEverySample(String arch)
      throws IOException {
    Path folder = TinyModels.write(dir, TinyModels.ALL.get(arch), 31);
    ModelGraph m = ModelGraph.build(ModelConfig.read(folder), DType.FLOAT64);
    Map<String, HostTensor> weights = new HashMap<>(Runs.weights(m, folder, DType.FLOAT64));
    addVirtualTokens(m, weights);
    assertEquals(AHEAD.length, m.prefixLength());
    double[] logits = Runs.interpret(m, weights, feeds());
    assertMatchesTheSamplesAfterTheTokensAhead(folder, logits);
  }

  @Test
  void theVirtualTokensPassReadsWeightsReplacedBeforeIt() throws IOException {
    Path folder = TinyModels.write(dir, TinyModels.LLAMA, 37);
    ModelGraph m = ModelGraph.build(ModelConfig.read(folder), DType.FLOAT64);
    Map<String, HostTensor> weights = new HashMap<>(Runs.weights(m, folder, DType.FLOAT64));
    Graph g = m.graph();
    for (ModelGraph.Linear l : m.linears()) {
      // A method's computed weight (QLoRA's dequantisation): here 2 · (W / 2), the original gone.
      String half = l.module() + ".half";
      Tensor stored = g.parameter(half, DType.FLOAT64, l.weight().shape(), false);
      g.replaceUses(l.weight(), g.mul(stored, g.scalar(2.0, DType.FLOAT64)));
      double[] w = weights.remove(l.weight().name()).doubles();
      for (int i = 0; i < w.length; i++) {
        w[i] /= 2;
      }
      weights.put(half, HostTensor.ofDoubles(l.weight().shape().sizes(), w));
    }
    addVirtualTokens(m, weights);
    double[] logits = Runs.interpret(m, weights, feeds());
    assertMatchesTheSamplesAfterTheTokensAhead(folder, logits);
  }

  @Test
  void virtualTokensWorkOnTheCpuBackendWhereTheirPassFoldsToConstants() throws IOException {
    Path folder = TinyModels.write(dir, TinyModels.LLAMA, 36);
    ModelGraph m = ModelGraph.build(ModelConfig.read(folder), DType.FLOAT32);
    Map<String, HostTensor> weights = new HashMap<>(Runs.weights(m, folder, DType.FLOAT32));
    addVirtualTokens(m, weights);
    double[] logits = Runs.onBackend(BACKEND, m, weights, feeds());
    assertMatchesTheSamplesAfterTheTokensAhead(folder, logits, 1e-4);
  }

  @ParameterizedTest
  @ValueSource(strings = {"llama", "mistral", "gpt2"})
  void prefixesOfTheModelsOwnCachedKeysAndValuesActAsTheirTokensAhead(String arch)
      throws IOException {
    Path folder = TinyModels.write(dir, TinyModels.ALL.get(arch), 32);
    ModelGraph m = ModelGraph.build(ModelConfig.read(folder), DType.FLOAT64);
    Map<String, HostTensor> weights = new HashMap<>(Runs.weights(m, folder, DType.FLOAT64));
    addCachedPrefixes(folder, m, weights);
    assertEquals(AHEAD.length, m.prefixLength());
    double[] logits = Runs.interpret(m, weights, feeds());
    assertMatchesTheSamplesAfterTheTokensAhead(folder, logits);
  }

  @ParameterizedTest
  @ValueSource(strings = {"llama", "gpt2"})
  void cachedGenerationWithVirtualTokensSeesThemAhead(String arch) throws IOException {
    Path folder = TinyModels.write(dir, TinyModels.ALL.get(arch), 33);
    ModelGraph m = ModelGraph.buildWithCache(ModelConfig.read(folder), DType.FLOAT64);
    Map<String, HostTensor> weights = new HashMap<>(Runs.weights(m, folder, DType.FLOAT64));
    addVirtualTokens(m, weights);
    assertCachedRunsMatchTheTokensAhead(folder, m, weights);
  }

  @Test
  void cachedGenerationWithPrefixesSeesThemAhead() throws IOException {
    Path folder = TinyModels.write(dir, TinyModels.LLAMA, 34);
    ModelGraph m = ModelGraph.buildWithCache(ModelConfig.read(folder), DType.FLOAT64);
    Map<String, HostTensor> weights = new HashMap<>(Runs.weights(m, folder, DType.FLOAT64));
    addCachedPrefixes(folder, m, weights);
    assertCachedRunsMatchTheTokensAhead(folder, m, weights);
  }

  @Test
  void prefixesOfAnotherWidthOrDtypeAreRejectedWithTheExpectedShape() throws IOException {
    Path folder = TinyModels.write(dir, TinyModels.LLAMA, 35);
    ModelGraph m = ModelGraph.build(ModelConfig.read(folder), DType.FLOAT32);
    Tensor wide = m.graph().parameter("k", DType.FLOAT32, Shape.of(3, 32), true);
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> m.addKeyValuePrefix(0, wide, wide));
    assertTrue(e.getMessage().startsWith("Key/value prefixes of block 0 must be FLOAT32 (n, 16)"));
    Tensor doubles = m.graph().parameter("p", DType.FLOAT64, Shape.of(3, 32), true);
    e = assertThrows(IllegalArgumentException.class, () -> m.prependVirtualTokens(doubles));
    assertTrue(e.getMessage().startsWith("Virtual token embeddings must be FLOAT32 (n, 32)"));
    e = assertThrows(IllegalArgumentException.class, () -> m.addKeyValuePrefix(2, wide, wide));
    assertEquals("The model has no block 2; blocks are 0 to 1.", e.getMessage());
  }

  // ---------------------------------------------------------------- helpers

  /** Virtual tokens whose embeddings are the rows of {@link #AHEAD} in the embedding matrix. */
  private static void addVirtualTokens(ModelGraph m, Map<String, HostTensor> weights) {
    int d = m.config().hiddenSize();
    String table =
        m.config().architecture() == Architecture.GPT2
            ? "transformer.wte.weight"
            : "model.embed_tokens.weight";
    HostTensor embeddings = weights.get(table);
    double[] all =
        embeddings.dtype() == DType.FLOAT64
            ? embeddings.doubles()
            : Steps.values(embeddings); // float32 widened
    double[] rows = new double[AHEAD.length * d];
    for (int i = 0; i < AHEAD.length; i++) {
      System.arraycopy(all, (int) AHEAD[i] * d, rows, i * d, d);
    }
    long[] shape = {AHEAD.length, d};
    Tensor p = m.graph().parameter("prompt", embeddings.dtype(), Shape.of(shape), false);
    m.prependVirtualTokens(p);
    float[] narrow = new float[rows.length];
    for (int i = 0; i < rows.length; i++) {
      narrow[i] = (float) rows[i];
    }
    weights.put(
        "prompt",
        embeddings.dtype() == DType.FLOAT64
            ? HostTensor.ofDoubles(shape, rows)
            : HostTensor.ofFloats(shape, narrow));
  }

  /**
   * Per layer a prefix that is what the cached graph stores for {@link #AHEAD}: keys after RoPE,
   * values, (n, kv_heads·head_dim).
   */
  private static void addCachedPrefixes(Path folder, ModelGraph m, Map<String, HostTensor> weights)
      throws IOException {
    ModelConfig c = m.config();
    ModelGraph cache = ModelGraph.buildWithCache(c, DType.FLOAT64);
    int n = AHEAD.length;
    long[] slots = {1, n, c.numKeyValueHeads(), c.headDim()};
    Map<String, HostTensor> feeds = new HashMap<>();
    feeds.put("input_ids", Runs.longs(new long[][] {AHEAD}));
    feeds.put("position_ids", Runs.longs(new long[][] {range(0, n)}));
    feeds.put("cache_position", HostTensor.ofLongs(new long[] {n}, range(0, n)));
    feeds.put("attention_mask", Runs.longs(new long[][] {ones(n)}));
    cache
        .kvCache()
        .values()
        .forEach(
            past ->
                feeds.put(past, HostTensor.ofDoubles(slots, new double[(int) elements(slots)])));
    Map<String, NdArray> present =
        Runs.interpretAll(cache, Runs.weights(cache, folder, DType.FLOAT64), feeds);
    long width = (long) c.numKeyValueHeads() * c.headDim();
    for (int i = 0; i < c.numHiddenLayers(); i++) {
      Tensor[] kv = new Tensor[2];
      String[] kinds = {"key", "value"};
      for (int j = 0; j < 2; j++) {
        String name = "prefix." + i + "." + kinds[j];
        kv[j] = m.graph().parameter(name, DType.FLOAT64, Shape.of(n, width), false);
        double[] v = present.get("present." + i + "." + kinds[j]).data(); // (1, n, kvh, hs)
        weights.put(name, HostTensor.ofDoubles(new long[] {n, width}, v));
      }
      m.addKeyValuePrefix(i, kv[0], kv[1]);
    }
  }

  private static Map<String, HostTensor> feeds() {
    return Map.of(
        "input_ids", Runs.longs(TOKENS),
        "position_ids", Runs.longs(POSITIONS),
        "segment_ids", Runs.longs(SEGMENTS));
  }

  /**
   * Each sample of {@link #TOKENS} must get the logits of the plain model on {@code [AHEAD,
   * sample]}; padding is not compared.
   */
  private static void assertMatchesTheSamplesAfterTheTokensAhead(Path folder, double[] logits)
      throws IOException {
    assertMatchesTheSamplesAfterTheTokensAhead(folder, logits, 1e-9);
  }

  private static void assertMatchesTheSamplesAfterTheTokensAhead(
      Path folder, double[] logits, double tolerance) throws IOException {
    int vocab = ModelConfig.read(folder).vocabSize();
    int length = TOKENS[0].length;
    double error = 0;
    for (int b = 0; b < TOKENS.length; b++) {
      int start = 0;
      while (start < length && SEGMENTS[b][start] != 0) {
        int end = start;
        while (end < length && SEGMENTS[b][end] == SEGMENTS[b][start]) {
          end++;
        }
        double[] plain = plain(folder, concat(AHEAD, Arrays.copyOfRange(TOKENS[b], start, end)));
        for (int t = start; t < end; t++) {
          for (int v = 0; v < vocab; v++) {
            double want = plain[(AHEAD.length + t - start) * vocab + v];
            error = Math.max(error, Math.abs(logits[(b * length + t) * vocab + v] - want));
          }
        }
        start = end;
      }
    }
    assertTrue(error < tolerance, "max abs error " + error);
  }

  /**
   * Runs a left-padded batch through the cached graph (three columns, then one) and compares the
   * last token's logits with the plain model on {@code [AHEAD, row so far]}.
   */
  private static void assertCachedRunsMatchTheTokensAhead(
      Path folder, ModelGraph m, Map<String, HostTensor> weights) throws IOException {
    ModelConfig c = m.config();
    long[][] tokens = {{11, 12, 13, 14}, {0, 21, 22, 23}};
    long[][] positions = {{0, 1, 2, 3}, {0, 0, 1, 2}};
    long[] slots = {2, 4, c.numKeyValueHeads(), c.headDim()};
    Map<String, HostTensor> state = new HashMap<>();
    m.kvCache()
        .values()
        .forEach(
            past ->
                state.put(past, HostTensor.ofDoubles(slots, new double[(int) elements(slots)])));
    int vocab = c.vocabSize();
    double error = 0;
    for (int[] run : new int[][] {{0, 3}, {3, 4}}) {
      Map<String, HostTensor> feeds = new HashMap<>(state);
      feeds.put("input_ids", Runs.longs(columns(tokens, run[0], run[1])));
      feeds.put("position_ids", Runs.longs(columns(positions, run[0], run[1])));
      feeds.put(
          "cache_position",
          HostTensor.ofLongs(new long[] {run[1] - run[0]}, range(run[0], run[1])));
      feeds.put("attention_mask", Runs.longs(new long[][] {{1, 1, 1, 1}, {0, 1, 1, 1}}));
      Map<String, NdArray> out = Runs.interpretAll(m, weights, feeds);
      m.kvCache()
          .forEach(
              (present, past) ->
                  state.put(past, HostTensor.ofDoubles(slots, out.get(present).data())));
      double[] logits = out.get("logits").data(); // (2, V)
      for (int b = 0; b < 2; b++) {
        int from = b == 0 ? 0 : 1;
        double[] plain = plain(folder, concat(AHEAD, Arrays.copyOfRange(tokens[b], from, run[1])));
        int last = AHEAD.length + run[1] - from - 1;
        for (int v = 0; v < vocab; v++) {
          error = Math.max(error, Math.abs(logits[b * vocab + v] - plain[last * vocab + v]));
        }
      }
    }
    assertTrue(error < 1e-9, "max abs error " + error);
  }

  /** The plain float64 model's logits (T, V) on one unpadded row. */
  private static double[] plain(Path folder, long[] row) throws IOException {
    ModelGraph m = ModelGraph.build(ModelConfig.read(folder), DType.FLOAT64);
    long[] segments = ones(row.length);
    return Runs.interpret(
        m,
        Runs.weights(m, folder, DType.FLOAT64),
        Map.of(
            "input_ids", Runs.longs(new long[][] {row}),
            "position_ids", Runs.longs(new long[][] {range(0, row.length)}),
            "segment_ids", Runs.longs(new long[][] {segments})));
  }

  private static long[] concat(long[] a, long[] b) {
    long[] out = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
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

  private static long[] ones(int n) {
    long[] out = new long[n];
    Arrays.fill(out, 1);
    return out;
  }

  private static long elements(long[] shape) {
    return HostTensor.elements(shape);
  }
}
