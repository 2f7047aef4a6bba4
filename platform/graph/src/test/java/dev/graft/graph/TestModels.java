package dev.graft.graph;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Small models that tests train, here on the reference interpreter and in the backend bundles on
 * ONNX Runtime (through this module's test jar).
 */
public final class TestModels {
  /** Vocabulary size of {@link #tinyTransformer}. */
  public static final long VOCAB = 11;

  /** Model width of {@link #tinyTransformer}. */
  public static final long WIDTH = 8;

  private static final long HEADS = 2;
  private static final long HEAD_SIZE = WIDTH / HEADS;

  /**
   * A one-block GPT-style causal LM with symbolic (batch, seq): frozen embeddings and projections,
   * a LoRA adapter on the query projection, a trainable LayerNorm, RoPE, dropout and cross-entropy;
   * its training step clips at 1 and accumulates over 2 micro-steps.
   */
  public static TrainingStep tinyTransformer(DType f) {
    Graph g = new Graph();
    Tensor ids = g.input("input_ids", DType.INT64, Shape.with("batch", "seq"));
    Tensor labels = g.input("labels", DType.INT64, Shape.with("batch", "seq"));
    Tensor mask = g.input("attention_mask", DType.INT64, Shape.with("batch", "seq"));
    Tensor cos = g.input("rope_cos", f, Shape.with("seq", HEAD_SIZE));
    Tensor sin = g.input("rope_sin", f, Shape.with("seq", HEAD_SIZE));
    Tensor seed = g.input("dropout_seed", DType.INT64, Shape.scalar());
    Tensor wte = g.parameter("wte", f, Shape.of(VOCAB, WIDTH), false);
    Tensor wq = g.parameter("wq", f, Shape.of(WIDTH, WIDTH), false);
    Tensor wk = g.parameter("wk", f, Shape.of(WIDTH, WIDTH), false);
    Tensor wv = g.parameter("wv", f, Shape.of(WIDTH, WIDTH), false);
    Tensor loraA = g.parameter("lora_A", f, Shape.of(2, WIDTH), true);
    Tensor loraB = g.parameter("lora_B", f, Shape.of(WIDTH, 2), true);
    Tensor ln = g.parameter("ln.weight", f, Shape.of(WIDTH), true);
    Tensor lnBias = g.parameter("ln.bias", f, Shape.of(WIDTH), true);

    Tensor x = g.gather(wte, ids, 0); // (B, T, C)
    Tensor h = g.layerNorm(x, ln, lnBias, 1e-5);
    Tensor q =
        g.add(g.linear(h, wq, null), g.mul(g.linear(g.linear(h, loraA, null), loraB, null), 2.0));
    Tensor k = g.linear(h, wk, null);
    Tensor v = g.linear(h, wv, null);
    Tensor[] heads = new Tensor[3];
    Tensor[] in = {q, k, v};
    for (int i = 0; i < 3; i++) {
      Tensor r = g.reshape(in[i], "batch", "seq", HEADS, HEAD_SIZE); // (B, T, nh, hs)
      heads[i] = g.transpose(r, 0, 2, 1, 3); // (B, nh, T, hs)
    }
    Tensor qr = g.rope(heads[0], cos, sin);
    Tensor kr = g.rope(heads[1], cos, sin);
    Tensor att =
        g.mul(g.matmul(qr, g.transposeLast2(kr)), 1 / Math.sqrt(HEAD_SIZE)); // (B, nh, T, T)
    Tensor keep = g.and(g.causalMask(Dim.of("seq")), g.paddingMask(mask)); // (B, 1, T, T)
    att = g.softmax(g.maskedFill(att, keep, -1e9), -1);
    att = g.dropout(att, 0.1, seed);
    Tensor y = g.matmul(att, heads[2]); // (B, nh, T, hs)
    y = g.reshape(g.transpose(y, 0, 2, 1, 3), "batch", "seq", WIDTH); // (B, T, C)
    Tensor logits = g.matmul(g.gelu(g.add(x, y), true), g.transpose(wte, 1, 0)); // (B, T, V)
    Tensor flat = g.reshape(logits, -1, VOCAB); // (B*T, V)
    Tensor loss = g.crossEntropy(flat, g.reshape(labels, -1), -100);
    g.output("logits", logits);
    return TrainingStep.builder(g, loss).maxGradNorm(1.0).accumulationSteps(2).build();
  }

  /**
   * Random values for every input of a {@link #tinyTransformer} training step with the given batch
   * and sequence sizes: token ids, labels (every third ignored), an attention mask that hides the
   * last token, RoPE tables, seed, {@code step} 1, {@code lr.default} 1e-3, {@code apply} true,
   * {@code micro_weight} 1/2, parameters uniform in [-0.5, 0.5] and zero moments and accumulators.
   * FLOAT32 values are rounded to float.
   */
  public static Map<String, NdArray> tinyTransformerFeeds(
      Graph g, long batch, long seq, Random rnd) {
    DType f = g.tensor("rope_cos").dtype();
    long[] bt = {batch, seq};
    Map<String, NdArray> feeds = new HashMap<>();
    long n = batch * seq;
    double[] ids = new double[(int) n];
    double[] labels = new double[(int) n];
    double[] mask = new double[(int) n];
    for (int i = 0; i < n; i++) {
      ids[i] = rnd.nextInt((int) VOCAB);
      labels[i] = i % 3 == 0 ? -100 : rnd.nextInt((int) VOCAB);
      mask[i] = i == n - 1 ? 0 : 1;
    }
    feeds.put("input_ids", NdArray.of(DType.INT64, bt, ids));
    feeds.put("labels", NdArray.of(DType.INT64, bt, labels));
    feeds.put("attention_mask", NdArray.of(DType.INT64, bt, mask));
    feeds.put("dropout_seed", NdArray.scalar(DType.INT64, 5));
    feeds.put("step", NdArray.scalar(f, 1));
    feeds.put("lr.default", NdArray.scalar(f, rounded(f, 1e-3)));
    feeds.put("apply", NdArray.scalar(DType.BOOL, 1));
    feeds.put("micro_weight", NdArray.scalar(f, 0.5));
    for (String name : List.of("rope_cos", "rope_sin")) {
      feeds.put(name, GradCheck.random(rnd, GradCases.any(seq, HEAD_SIZE), f));
    }
    for (Tensor p : g.parameters()) {
      GradCases.Spec init = new GradCases.Spec(p.shape().sizes(), -0.5, 0.5);
      feeds.put(p.name(), GradCheck.random(rnd, init, f));
      if (g.isTrainable(p)) {
        for (String prefix : List.of("m.", "v.", "acc.")) {
          feeds.put(prefix + p.name(), NdArray.zeros(f, p.shape().sizes()));
        }
      }
    }
    return feeds;
  }

  /**
   * The feeds of {@code runs} micro-steps of a {@link #tinyTransformer} step, starting from {@code
   * init} (whose carried values and frozen weights they keep): each has a new batch of init's size
   * and new RoPE tables, its own dropout seed, {@code apply} on every second micro-step, and the
   * step count and learning rate (0.05 / t) of the update it belongs to.
   */
  public static List<Map<String, NdArray>> tinyTransformerRuns(
      TrainingStep step, Map<String, NdArray> init, int runs, Random rnd) {
    DType f = step.graph().tensor("step").dtype();
    long[] bt = init.get("input_ids").shape();
    List<Map<String, NdArray>> rows = new ArrayList<>();
    for (int i = 0; i < runs; i++) {
      Map<String, NdArray> row = new HashMap<>(init);
      Map<String, NdArray> batch = tinyTransformerFeeds(step.graph(), bt[0], bt[1], rnd);
      for (String name : List.of("input_ids", "labels", "attention_mask", "rope_cos", "rope_sin")) {
        row.put(name, batch.get(name));
      }
      int t = 1 + i / 2;
      row.put("dropout_seed", NdArray.scalar(DType.INT64, 100 + i));
      row.put("apply", NdArray.scalar(DType.BOOL, i % 2));
      row.put("step", NdArray.scalar(f, t));
      row.put("lr.default", NdArray.scalar(f, rounded(f, 0.05 / t)));
      rows.add(row);
    }
    return rows;
  }

  /** A memorisation task: a training step and the feeds of its first run. */
  public record Memoriser(TrainingStep step, Map<String, NdArray> feeds) {}

  /**
   * A tiny causal attention model that must memorise one sequence of 6 tokens over a vocabulary of
   * 7, where token 1 is followed once by 4 and once by 5, so it needs positions (attention). AdamW
   * without weight decay, lr 0.05, clipping at 1; starting loss near ln(7) = 1.95. Every feed but
   * {@code step} is given.
   */
  public static Memoriser memoriser(DType f) {
    int vocab = 7;
    int dim = 8;
    int t = 6;
    double[] ids = {3, 1, 4, 1, 5, 2};
    double[] next = {1, 4, 1, 5, 2, 6};
    Graph g = new Graph();
    Tensor in = g.input("ids", DType.INT64, Shape.of(t));
    Tensor labels = g.input("labels", DType.INT64, Shape.of(t));
    Tensor emb = g.parameter("emb", f, Shape.of(vocab, dim), true);
    Tensor pos = g.parameter("pos", f, Shape.of(t, dim), true);
    Tensor wq = g.parameter("wq", f, Shape.of(dim, dim), true);
    Tensor wk = g.parameter("wk", f, Shape.of(dim, dim), true);
    Tensor wv = g.parameter("wv", f, Shape.of(dim, dim), true);
    Tensor norm = g.parameter("norm", f, Shape.of(dim), true);
    Tensor head = g.parameter("head", f, Shape.of(vocab, dim), true);
    Tensor x = g.add(g.gather(emb, in, 0), pos); // (T, C)
    Tensor q = g.linear(x, wq, null);
    Tensor k = g.linear(x, wk, null);
    Tensor att = g.mul(g.matmul(q, g.transposeLast2(k)), 1 / Math.sqrt(dim)); // (T, T)
    att = g.softmax(g.maskedFill(att, g.causalMask(Dim.of(t)), -1e9), -1);
    x = g.add(x, g.matmul(att, g.linear(x, wv, null)));
    Tensor logits = g.linear(g.rmsNorm(x, norm, 1e-6), head, null); // (T, V)
    TrainingStep step =
        TrainingStep.builder(g, g.crossEntropy(logits, labels, -100))
            .weightDecay(0)
            .maxGradNorm(1)
            .build();

    Random rnd = new Random(5);
    Map<String, NdArray> feeds = new HashMap<>();
    feeds.put("ids", NdArray.of(DType.INT64, new long[] {t}, ids));
    feeds.put("labels", NdArray.of(DType.INT64, new long[] {t}, next));
    feeds.put("lr.default", NdArray.scalar(f, rounded(f, 0.05)));
    for (Tensor p : g.trainables()) {
      long[] s = p.shape().sizes();
      double[] v = new double[(int) p.shape().numel().size()];
      for (int i = 0; i < v.length; i++) {
        v[i] = p == norm ? 1 : rounded(f, rnd.nextGaussian() * 0.3);
      }
      feeds.put(p.name(), NdArray.of(f, s, v));
      feeds.put("m." + p.name(), NdArray.zeros(f, s));
      feeds.put("v." + p.name(), NdArray.zeros(f, s));
    }
    return new Memoriser(step, feeds);
  }

  /** Codes per scale of {@link #blockwise4bit}. */
  public static final int CODES_PER_SCALE = 16;

  /**
   * A packed 4-bit weight dequantised in the graph, as QLoRA's base weights are: frozen parameters
   * {@code q} UINT8 (rows, cols/2), two codes per byte, high nibble first, and {@code scale} of
   * dtype {@code f} (rows·cols/{@value #CODES_PER_SCALE}); output {@code w} (rows, cols) = {@code
   * table[code] · scale[k / CODES_PER_SCALE]} for the k-th code in row-major order. {@link
   * Reference#dequantise4bit} computes the same in plain Java.
   */
  public static Graph blockwise4bit(long rows, long cols, double[] table, DType f) {
    long blocks = rows * cols / CODES_PER_SCALE;
    Graph g = new Graph();
    Tensor q = g.parameter("q", DType.UINT8, Shape.of(rows, cols / 2), false);
    Tensor scale = g.parameter("scale", f, Shape.of(blocks), false);
    Tensor codes = g.unpackNibbles(q); // (rows, cols), INT32
    Tensor values = g.gather(g.constant(NdArray.of(f, new long[] {16}, table)), codes, 0);
    Tensor perBlock = g.reshape(values, blocks, CODES_PER_SCALE); // (blocks, 16)
    Tensor w = g.mul(perBlock, g.unsqueeze(scale, 1)); // (blocks, 16)
    g.output("w", g.reshape(w, rows, cols)); // (rows, cols)
    return g;
  }

  private static double rounded(DType f, double x) {
    return f == DType.FLOAT32 ? (float) x : x;
  }

  private TestModels() {}
}
