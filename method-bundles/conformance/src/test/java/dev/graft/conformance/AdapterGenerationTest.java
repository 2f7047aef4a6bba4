package dev.graft.conformance;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.graft.api.backend.HostTensor;
import dev.graft.api.backend.Program;
import dev.graft.api.backend.Session;
import dev.graft.graph.DType;
import dev.graft.model.Generator;
import dev.graft.model.ModelGraph;
import dev.graft.model.Tokenizer;
import dev.graft.train.run.Adapters;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Generation with a trained prompt-tuning or prefix-tuning adapter on stories260K: the KV-cache
 * graph (virtual tokens or prefixes computed once, then one token per run) gives the tokens and
 * logits of recomputing the whole sequence without a cache, and a left-padded batch gives what each
 * prompt gives alone.
 */
class AdapterGenerationTest {
  private static final List<String> PROMPTS =
      List.of("Once upon a time", "Tom had 3 apples and 12 oranges.");
  private static final int NEW_TOKENS = 12;

  @TempDir Path dir;

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"prompt-tuning", "prefix-tuning"})
  void cachedGreedyGenerationEqualsRecomputationWithoutTheCache(String method) throws Exception {
    Path model = Fixtures.shared("models/stories260K");
    Path adapter = trainedAdapter(method);
    try (Generator cached = generator(model, adapter, true);
        Generator plain = generator(model, adapter, false)) {
      for (int[] prompt : prompts(model)) {
        Generator.Options greedy = Generator.Options.greedy(NEW_TOKENS);
        assertArrayEquals(
            plain.generate(prompt, greedy).ids(), cached.generate(prompt, greedy).ids());
      }
    }
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"prompt-tuning", "prefix-tuning"})
  void aLeftPaddedBatchGeneratesWhatEachPromptGeneratesAlone(String method) throws Exception {
    Path model = Fixtures.shared("models/stories260K");
    Path adapter = trainedAdapter(method);
    List<int[]> prompts = prompts(model);
    try (Generator cached = generator(model, adapter, true)) {
      Generator.Options greedy = Generator.Options.greedy(NEW_TOKENS);
      List<Generator.Completion> batch = cached.generate(prompts, greedy);
      for (int b = 0; b < prompts.size(); b++) {
        assertArrayEquals(cached.generate(prompts.get(b), greedy).ids(), batch.get(b).ids());
      }
    }
  }

  /**
   * Teacher-forced along each prompt's greedy continuation: the cached graph, fed the left-padded
   * batch of prompts and then one column per run, gives at every step each row's logits of the full
   * graph on that row alone, unpadded.
   */
  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"prompt-tuning", "prefix-tuning"})
  void cachedLogitsOfALeftPaddedBatchEqualRecomputedLogitsOfEachRow(String method)
      throws Exception {
    Path model = Fixtures.shared("models/stories260K");
    Path adapter = trainedAdapter(method);
    List<int[]> prompts = prompts(model);
    long[][] rows = new long[prompts.size()][];
    try (Generator plain = generator(model, adapter, false)) {
      for (int b = 0; b < rows.length; b++) {
        int[] p = prompts.get(b);
        int[] gen = plain.generate(p, Generator.Options.greedy(NEW_TOKENS)).ids();
        rows[b] = new long[p.length + gen.length];
        Arrays.setAll(rows[b], i -> i < p.length ? p[i] : gen[i - p.length]);
      }
    }
    Adapters.Adapted full = Adapters.load(model, adapter, Fixtures.REGISTRY, false);
    Adapters.Adapted cached = Adapters.load(model, adapter, Fixtures.REGISTRY, true);
    double[][][] stepLogits = cachedLogits(cached, prompts, rows); // (steps, rows, V)
    double error = 0;
    for (int b = 0; b < rows.length; b++) {
      float[] recomputed = Fixtures.logits(full.model(), full.weights(), rows[b]); // (T, V)
      int vocab = stepLogits[0][b].length;
      for (int s = 0; s < stepLogits.length; s++) {
        int position = prompts.get(b).length - 1 + s;
        for (int v = 0; v < vocab; v++) {
          error = Math.max(error, Math.abs(stepLogits[s][b][v] - recomputed[position * vocab + v]));
        }
      }
    }
    assertTrue(error < 1e-4, "max abs logit difference " + error);
  }

  /**
   * Runs the cached graph as {@link Generator} does: the prompts left-padded in one run, then the
   * continuation one column per run, every row's tokens given. Returns the logits of each run.
   */
  private static double[][][] cachedLogits(
      Adapters.Adapted cached, List<int[]> prompts, long[][] rows) {
    ModelGraph m = cached.model();
    int width = prompts.stream().mapToInt(p -> p.length).max().orElseThrow();
    int steps = rows[0].length - prompts.get(0).length; // NEW_TOKENS for every row
    int slots = width + steps - 1;
    int n = rows.length;
    long[][] padded = new long[n][slots];
    int[] pad = new int[n];
    for (int b = 0; b < n; b++) {
      pad[b] = width - prompts.get(b).length;
      System.arraycopy(rows[b], 0, padded[b], pad[b], slots - pad[b]);
    }
    Set<DType> dtypes = Set.of(DType.FLOAT32, DType.INT64);
    Program program = new Program(m.graph().toOnnx(), cached.weights(), m.kvCache(), dtypes);
    double[][][] out = new double[steps][][];
    try (Session session = Fixtures.cpu().open(program)) {
      long[] cacheShape = {n, slots, m.config().numKeyValueHeads(), m.config().headDim()};
      HostTensor zeros = HostTensor.ofFloats(cacheShape, new float[(int) product(cacheShape)]);
      m.kvCache().values().forEach(past -> session.setState(past, zeros));
      long[] mask = new long[n * slots];
      for (int b = 0; b < n; b++) {
        Arrays.fill(mask, b * slots + pad[b], (b + 1) * slots, 1);
      }
      for (int s = 0; s < steps; s++) {
        int from = s == 0 ? 0 : width + s - 1;
        int to = width + s;
        int cols = to - from;
        long[] ids = new long[n * cols];
        long[] positions = new long[n * cols];
        for (int b = 0; b < n; b++) {
          for (int t = 0; t < cols; t++) {
            ids[b * cols + t] = padded[b][from + t];
            positions[b * cols + t] = Math.max(0, from + t - pad[b]);
          }
        }
        long[] cachePosition = new long[cols];
        Arrays.setAll(cachePosition, t -> from + t);
        Map<String, HostTensor> feeds = new LinkedHashMap<>();
        feeds.put("input_ids", HostTensor.ofLongs(new long[] {n, cols}, ids));
        feeds.put("position_ids", HostTensor.ofLongs(new long[] {n, cols}, positions));
        feeds.put("cache_position", HostTensor.ofLongs(new long[] {cols}, cachePosition));
        feeds.put("attention_mask", HostTensor.ofLongs(new long[] {n, slots}, mask));
        float[] logits = session.run(feeds, Set.of("logits")).get("logits").floats(); // (n, V)
        int vocab = logits.length / n;
        out[s] = new double[n][vocab];
        for (int b = 0; b < n; b++) {
          for (int v = 0; v < vocab; v++) {
            out[s][b][v] = logits[b * vocab + v];
          }
        }
      }
    }
    return out;
  }

  private static long product(long[] shape) {
    return Arrays.stream(shape).reduce(1, (a, b) -> a * b);
  }

  /** Two steps at prompt tuning's learning rate: an adapter that differs from its init. */
  private Path trainedAdapter(String method) throws Exception {
    Map<String, String> spec = Fixtures.spec(dir, method, 2);
    spec.put("learning_rate", "3e-2");
    return Fixtures.train(spec, dir.resolve("job"), Fixtures.REGISTRY).resolve("adapter");
  }

  private static List<int[]> prompts(Path model) throws Exception {
    Tokenizer tokenizer = Tokenizer.load(model);
    return PROMPTS.stream().map(p -> tokenizer.encode(p, true)).toList();
  }

  private static Generator generator(Path model, Path adapter, boolean withCache) {
    Adapters.Adapted a = Adapters.load(model, adapter, Fixtures.REGISTRY, withCache);
    return Generator.open(
        Fixtures.cpu(), a.model(), a.weights(), null, Generator.Options.greedy(NEW_TOKENS));
  }
}
