package dev.graft.model.impl;

import dev.graft.graph.DType;
import dev.graft.graph.Dim;
import dev.graft.graph.Graph;
import dev.graft.graph.NdArray;
import dev.graft.graph.Shape;
import dev.graft.graph.Tensor;
import dev.graft.model.Architecture;
import dev.graft.model.ModelConfig;
import dev.graft.model.ModelGraph;
import dev.graft.model.ModelGraph.Block;
import dev.graft.model.ModelGraph.Linear;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Builds the forward graph of a decoder-only transformer from its config, following the Hugging
 * Face modeling code of each architecture ({@code modeling_llama}, {@code modeling_mistral}, {@code
 * modeling_qwen2}, {@code modeling_gpt2}). Shapes use B = batch, T = seq (new tokens), S = key
 * positions (T, or the cache slots L), d = hidden size, nh/kvh = query/key-value heads, hs = head
 * dim.
 *
 * <p>Two variants share the blocks. The <b>full</b> graph (training, evaluation) reads {@code
 * input_ids}, {@code position_ids} and {@code segment_ids} (B, T) and outputs {@code logits} (B, T,
 * V). The <b>cached</b> graph (generation) reads {@code input_ids} and {@code position_ids} (B, T),
 * {@code cache_position} (T), the cache slot of each new token, {@code attention_mask} (B, L), 1
 * where a slot holds a real token, and per layer {@code past_key_values.i.key}/{@code .value} (B,
 * L, kvh, hs); it writes the new keys and values into their slots and outputs {@code
 * present.i.key}/{@code .value} of the same shape, and {@code logits} (B, V) of the last new token
 * only.
 *
 * <p>Both record, per layer, the attention site that {@link Prefixes} extends with key/value
 * prefixes and virtual tokens after the graph is built; virtual tokens run through the same blocks
 * in a second pass of batch 1 and fixed length n, which records no sites.
 */
public final class Decoder {

  /** Parameter names, ops and results of one built model. */
  public record Built(
      Graph graph,
      Tensor inputIds,
      Tensor positionIds,
      Tensor segmentIds,
      Tensor logits,
      List<Linear> linears,
      List<Block> blocks,
      Map<String, String> checkpointNames,
      Map<String, String> cache,
      Prefixes prefixes) {}

  /** Added to masked attention scores; finite, so that a fully masked row stays finite. */
  private static final double MASKED = -1e9;

  /** Activations by their {@code hidden_act} spelling. */
  private static final List<String> ACTIVATIONS =
      List.of("silu", "swish", "gelu_new", "gelu_pytorch_tanh", "gelu");

  private final ModelConfig c;
  private final DType dt;

  /** Where half-precision graphs compute norms and softmax, as Hugging Face does: float32. */
  private final DType wide;

  private final boolean cached;
  private final boolean gpt2;
  private final Graph g = new Graph();
  private final Map<String, long[]> shapes;
  private final Dim batch = Dim.of("batch");
  private final Dim seq = Dim.of("seq");
  private final Dim slots = Dim.of("cache");
  private final List<Linear> linears = new ArrayList<>();
  private final List<Block> blocks = new ArrayList<>();
  private final Map<String, String> names = new LinkedHashMap<>();
  private final Map<String, String> cache = new LinkedHashMap<>();

  private Tensor inputIds;
  private Tensor positionIds;
  private Tensor segmentIds;
  private Tensor cachePosition;
  private Tensor attentionMask;

  /** (B, T, 2): the (row, slot) index of each new token in the cache. */
  private Tensor cacheIndex;

  /**
   * (B, 1, T, S) of the wide dtype, added to the attention scores: 0 where a query may attend to a
   * key, {@link #MASKED} elsewhere. Built once for all layers; the backward of the addition passes
   * the scores' gradient through unchanged.
   */
  private Tensor bias;

  /** (d) ones of the wide dtype: the float32 norm weight of half-precision graphs, or null. */
  private Tensor ones;

  /** The training/evaluation or generation pass over the input tokens. */
  private Stream main;

  private Prefixes prefixes;

  /**
   * One pass of tokens through the blocks.
   *
   * @param batch B
   * @param seq T
   * @param cos (B, T, 1, hs) RoPE table, or null for GPT-2
   * @param sin likewise
   * @param bias (B, 1, T, S) additive attention bias
   * @param keyValues where a virtual pass collects each layer's {k, v} (B, T, kvh, hs) after RoPE,
   *     or null for the main pass
   */
  private record Stream(
      Dim batch, Dim seq, Tensor cos, Tensor sin, Tensor bias, List<Tensor[]> keyValues) {
    /** Whether layer {@code layer} is the last one this pass needs: a virtual pass needs k, v. */
    boolean keysOnly(int layer, int layers) {
      return keyValues != null && layer == layers - 1;
    }
  }

  private Decoder(ModelConfig config, DType computeType, boolean cached) {
    if (!computeType.isFloating()) {
      throw new IllegalArgumentException(
          "The compute type must be floating point (FLOAT32, FLOAT64, FLOAT16 or BFLOAT16), not "
              + computeType
              + ".");
    }
    if (!ACTIVATIONS.contains(config.hiddenAct())) {
      throw new IllegalArgumentException(
          "config.json: hidden_act \""
              + config.hiddenAct()
              + "\" is not supported; supported: "
              + String.join(", ", ACTIVATIONS)
              + ".");
    }
    this.c = config;
    this.dt = computeType;
    this.wide =
        computeType == DType.FLOAT16 || computeType == DType.BFLOAT16 ? DType.FLOAT32 : computeType;
    this.cached = cached;
    this.gpt2 = config.architecture() == Architecture.GPT2;
    this.shapes = config.expectedTensors();
  }

  /**
   * Builds the graph of {@code config}; {@code cached} selects the generation variant with a KV
   * cache.
   *
   * @throws IllegalArgumentException for a non-float compute type or an unsupported activation
   */
  public static Built build(ModelConfig config, DType computeType, boolean cached) {
    return new Decoder(config, computeType, cached).build();
  }

  private Built build() {
    inputIds = g.input("input_ids", DType.INT64, Shape.with(batch, seq));
    positionIds = g.input("position_ids", DType.INT64, Shape.with(batch, seq));
    if (cached) {
      cachePosition = g.input("cache_position", DType.INT64, Shape.with(seq));
      attentionMask = g.input("attention_mask", DType.INT64, Shape.with(batch, slots));
      cacheMask();
    } else {
      segmentIds = g.input("segment_ids", DType.INT64, Shape.with(batch, seq));
      segmentMask();
    }
    prefixes = new Prefixes(g, c, dt, wide, positionIds, this::virtualPass);
    Tensor logits = gpt2 ? gpt2() : llama();
    g.output(ModelGraph.LOGITS, logits);
    return new Built(
        g,
        inputIds,
        positionIds,
        segmentIds,
        logits,
        List.copyOf(linears),
        List.copyOf(blocks),
        Collections.unmodifiableMap(names),
        Collections.unmodifiableMap(cache),
        prefixes);
  }

  // ---------------------------------------------------------------- masks

  /**
   * Query i attends to key j iff {@code j <= i} and {@code segment_ids[i] == segment_ids[j] != 0}:
   * packing (one segment per sample) and padding (segment 0) in one mask.
   */
  private void segmentMask() {
    Tensor zero = g.scalar(0, DType.INT64);
    Tensor query = g.unsqueeze(segmentIds, 2); // (B, T, 1)
    Tensor key = g.unsqueeze(segmentIds, 1); // (B, 1, T)
    Tensor sameSample = g.and(g.equal(query, key), g.not(g.equal(key, zero))); // (B, T, T)
    bias = bias(g.unsqueeze(g.and(sameSample, g.causalMask(seq)), 1)); // (B, 1, T, T)
  }

  /**
   * Query i attends to slot j iff {@code j <= cache_position[i]} and {@code attention_mask[j] !=
   * 0}; slots not yet written lie after every query and are masked by the first condition.
   */
  private void cacheMask() {
    Tensor slot = g.unsqueeze(g.range(slots), 0); // (1, L)
    Tensor causal = g.not(g.greater(slot, g.unsqueeze(cachePosition, 1))); // (T, L)
    Tensor real = g.not(g.equal(attentionMask, g.scalar(0, DType.INT64))); // (B, L)
    bias = bias(g.unsqueeze(g.and(g.unsqueeze(real, 1), causal), 1)); // (B, 1, T, L)
    Shape column = Shape.with(batch, seq, 1);
    Tensor rows = g.expand(g.unsqueeze(g.range(batch), 1, 2), column); // (B, T, 1)
    Tensor cols = g.expand(g.unsqueeze(cachePosition, 0, 2), column); // (B, T, 1)
    cacheIndex = g.concat(2, rows, cols); // (B, T, 2)
  }

  /** The additive attention bias of a BOOL mask: 0 where it keeps, {@link #MASKED} elsewhere. */
  private Tensor bias(Tensor keep) {
    return g.where(keep, g.scalar(0, wide), g.scalar(MASKED, wide));
  }

  // ---------------------------------------------------------------- architectures

  /** Llama, Mistral, Qwen2: pre-RMSNorm blocks, RoPE, grouped-query attention, gated MLP. */
  private Tensor llama() {
    Tensor embedding = param("model.embed_tokens.weight");
    Tensor h = g.gather(embedding, inputIds, 0); // (B, T, d)
    Tensor[] cs =
        Rope.cosSin(g, positionIds, Rope.inverseFrequencies(c), c.maxPositionEmbeddings(), dt);
    // (B, T, 1, hs) tables
    main = new Stream(batch, seq, g.unsqueeze(cs[0], 2), g.unsqueeze(cs[1], 2), bias, null);
    for (int i = 0; i < c.numHiddenLayers(); i++) {
      h = llamaBlock(i, h, main);
    }
    h = lastPosition(h);
    h = rmsNorm(h, param("model.norm.weight"));
    return head(h, embedding);
  }

  /** Block {@code i} of Llama over h (B, T, d); null where a virtual pass has what it needs. */
  private Tensor llamaBlock(int i, Tensor h, Stream s) {
    String p = "model.layers." + i + ".";
    boolean keysOnly = s.keysOnly(i, c.numHiddenLayers());
    Tensor x = rmsNorm(h, param(p + "input_layernorm.weight"));
    Tensor qp = keysOnly ? null : linear(p + "self_attn.q_proj", i, x, c.qkvBias(), s);
    Tensor kp = linear(p + "self_attn.k_proj", i, x, c.qkvBias(), s);
    Tensor vp = linear(p + "self_attn.v_proj", i, x, c.qkvBias(), s);
    Tensor att = attention(i, qp, kp, vp, s); // (B, T, nh*hs)
    if (att == null) {
      return null;
    }
    Tensor input = h;
    Tensor a = linear(p + "self_attn.o_proj", i, att, c.outputBias(), s); // (B, T, d)
    h = g.add(h, a);
    x = rmsNorm(h, param(p + "post_attention_layernorm.weight"));
    Tensor gate = linear(p + "mlp.gate_proj", i, x, c.mlpBias(), s);
    Tensor up = linear(p + "mlp.up_proj", i, x, c.mlpBias(), s);
    // down(act(gate(x)) * up(x))
    Tensor m = linear(p + "mlp.down_proj", i, g.mul(activation(gate), up), c.mlpBias(), s);
    if (s == main) {
      blocks.add(new Block(i, a, m, input, h));
    }
    return g.add(h, m);
  }

  /** GPT-2: pre-LayerNorm blocks, learned positions, Conv1D layers, GELU MLP. */
  private Tensor gpt2() {
    Tensor wte = param("transformer.wte.weight");
    Tensor wpe = param("transformer.wpe.weight");
    Tensor h = g.add(g.gather(wte, inputIds, 0), g.gather(wpe, positionIds, 0)); // (B, T, d)
    main = new Stream(batch, seq, null, null, bias, null);
    for (int i = 0; i < c.numHiddenLayers(); i++) {
      h = gpt2Block(i, h, main);
    }
    h = lastPosition(h);
    h = layerNorm(h, "transformer.ln_f");
    return head(h, wte);
  }

  /** Block {@code i} of GPT-2 over h (B, T, d); null where a virtual pass has what it needs. */
  private Tensor gpt2Block(int i, Tensor h, Stream s) {
    String p = "transformer.h." + i + ".";
    int d = c.hiddenSize();
    Tensor x = layerNorm(h, p + "ln_1");
    Tensor qkv = conv1d(p + "attn.c_attn", i, x, s); // (B, T, 3d) = q | k | v
    Tensor att =
        attention(
            i,
            s.keysOnly(i, c.numHiddenLayers()) ? null : g.slice(qkv, -1, 0, d), // (B, T, d)
            g.slice(qkv, -1, d, 2L * d),
            g.slice(qkv, -1, 2L * d, 3L * d),
            s);
    if (att == null) {
      return null;
    }
    Tensor input = h;
    Tensor a = conv1d(p + "attn.c_proj", i, att, s); // (B, T, d)
    h = g.add(h, a);
    x = layerNorm(h, p + "ln_2");
    Tensor m = conv1d(p + "mlp.c_proj", i, activation(conv1d(p + "mlp.c_fc", i, x, s)), s);
    if (s == main) {
      blocks.add(new Block(i, a, m, input, h));
    }
    return g.add(h, m);
  }

  /**
   * Runs virtual token embeddings (n, d) through the blocks as one sequence at positions 0..n-1,
   * causally and alone (they attend to no input token), and returns each layer's keys and values
   * (1, n, kvh, hs), keys after RoPE: what the input tokens attend to when the virtual tokens come
   * first in the sequence. The pass reads the model's weights as they are now, without the linear
   * rewrites and insertions methods made at the main pass's sites.
   */
  private List<Tensor[]> virtualPass(Tensor embeddings) {
    Dim n = embeddings.shape().dim(0);
    Dim one = Dim.of(1);
    Tensor positions = g.unsqueeze(g.range(n), 0); // (1, n)
    Tensor causal = bias(g.unsqueeze(g.causalMask(n), 0, 1)); // (1, 1, n, n)
    Tensor h = g.unsqueeze(embeddings, 0); // (1, n, d)
    List<Tensor[]> keyValues = new ArrayList<>();
    Stream s;
    if (gpt2) {
      h = g.add(h, g.gather(param("transformer.wpe.weight"), positions, 0)); // (1, n, d)
      s = new Stream(one, n, null, null, causal, keyValues);
    } else {
      Tensor[] cs =
          Rope.cosSin(g, positions, Rope.inverseFrequencies(c), c.maxPositionEmbeddings(), dt);
      s = new Stream(one, n, g.unsqueeze(cs[0], 2), g.unsqueeze(cs[1], 2), causal, keyValues);
    }
    for (int i = 0; h != null && i < c.numHiddenLayers(); i++) {
      h = gpt2 ? gpt2Block(i, h, s) : llamaBlock(i, h, s);
    }
    return keyValues;
  }

  // ---------------------------------------------------------------- attention

  /**
   * Causal self-attention over the projections q (B, T, nh·hs), k and v (B, T, kvh·hs): {@code
   * softmax(mask(q kᵀ / sqrt(hs))) v}, returned as (B, T, nh·hs). With RoPE, q and k are rotated by
   * position; with the cache, k and v are written into their slots and attention reads all slots. A
   * virtual pass collects k and v; at its last layer q is null and so is the result.
   */
  private Tensor attention(int layer, Tensor q, Tensor k, Tensor v, Stream s) {
    int nh = c.numAttentionHeads();
    int kvh = c.numKeyValueHeads();
    int hs = c.headDim();
    k = g.reshape(k, s.batch(), s.seq(), kvh, hs); // (B, T, kvh, hs)
    v = g.reshape(v, s.batch(), s.seq(), kvh, hs); // (B, T, kvh, hs)
    if (s.cos() != null) {
      k = g.rope(k, s.cos(), s.sin());
    }
    if (s.keyValues() != null) {
      s.keyValues().add(new Tensor[] {k, v});
    }
    if (q == null) {
      return null;
    }
    q = g.reshape(q, s.batch(), s.seq(), nh, hs); // (B, T, nh, hs)
    if (s.cos() != null) {
      q = g.rope(q, s.cos(), s.sin());
    }
    if (cached && s == main) {
      k = store(layer, "key", k); // (B, L, kvh, hs)
      v = store(layer, "value", v);
    }
    // q scaled by 1/sqrt(hs) before the product: a pass over (B, T, nh·hs), not (B, nh, T, S).
    q = g.transpose(g.mul(q, 1 / Math.sqrt(hs)), 0, 2, 1, 3); // (B, nh, T, hs)
    k = repeatHeads(g.transpose(k, 0, 2, 1, 3)); // (B, nh, S, hs)
    v = repeatHeads(g.transpose(v, 0, 2, 1, 3)); // (B, nh, S, hs)
    Tensor scores = g.matmul(q, g.transposeLast2(k)); // (B, nh, T, S)
    scores = g.add(widen(scores), s.bias());
    Tensor weights = narrow(g.softmax(scores, -1)); // (B, nh, T, S)
    Tensor context = g.matmul(weights, v); // (B, nh, T, hs)
    if (s == main) {
      prefixes.site(layer, q, scores, context);
    }
    Tensor y = g.transpose(context, 0, 2, 1, 3); // (B, T, nh, hs)
    return g.reshape(y, s.batch(), s.seq(), nh * hs); // (B, T, nh*hs)
  }

  /**
   * Adds the new keys or values x (B, T, kvh, hs) into the cache at (row, {@code
   * cache_position[t]}): {@code present = past + scatter(x)}. The slots written are zero in {@code
   * past} (the caller starts from zeros and writes each slot once), so the sum is a write.
   */
  private Tensor store(int layer, String kind, Tensor x) {
    Shape shape = Shape.with(batch, slots, c.numKeyValueHeads(), c.headDim());
    String past = "past_key_values." + layer + "." + kind;
    String present = "present." + layer + "." + kind;
    Tensor out = g.scatterNdAdd(g.input(past, dt, shape), cacheIndex, x); // (B, L, kvh, hs)
    g.output(present, out);
    cache.put(present, past);
    return out;
  }

  /**
   * Grouped-query attention: (B, kvh, S, hs) to (B, nh, S, hs), query head h reading key-value head
   * {@code h / (nh / kvh)} (Hugging Face {@code repeat_kv}).
   */
  private Tensor repeatHeads(Tensor x) {
    int groups = c.numAttentionHeads() / c.numKeyValueHeads();
    if (groups == 1) {
      return x;
    }
    Dim b = x.shape().dim(0);
    Dim s = x.shape().dim(2);
    int kvh = c.numKeyValueHeads();
    int hs = c.headDim();
    Tensor repeated =
        g.expand(g.unsqueeze(x, 2), Shape.with(b, kvh, groups, s, hs)); // (B, kvh, g, S, hs)
    return g.reshape(repeated, b, kvh * groups, s, hs); // (B, nh, S, hs)
  }

  // ---------------------------------------------------------------- layers

  /**
   * A torch Linear: {@code x Wᵀ + b}, W (out, in), read as stored by Gemm(transB=1); a site for
   * methods in the main pass.
   */
  private Tensor linear(String module, int layer, Tensor x, boolean bias, Stream s) {
    Tensor w = param(module + ".weight");
    Tensor b = bias ? param(module + ".bias") : null;
    Tensor y = g.linear(x, w, b); // (..., out)
    if (s == main) {
      linears.add(new Linear(module, layer, x, y, w, b, false));
    }
    return y;
  }

  /** A GPT-2 Conv1D: {@code x W + b}, W stored (in, out). */
  private Tensor conv1d(String module, int layer, Tensor x, Stream s) {
    Tensor w = param(module + ".weight");
    Tensor b = param(module + ".bias");
    Tensor y = g.conv1d(x, w, b); // (B, T, out)
    if (s == main) {
      linears.add(new Linear(module, layer, x, y, w, b, true));
    }
    return y;
  }

  /** The output projection: {@code lm_head} when untied, else the embedding matrix (V, d). */
  private Tensor head(Tensor h, Tensor embedding) {
    if (c.tieWordEmbeddings()) {
      return g.linear(h, embedding, null); // (..., V)
    }
    return linear("lm_head", -1, h, false, main); // (..., V)
  }

  /** Generation needs the logits of the last new token only: (B, T, d) to (B, d). */
  private Tensor lastPosition(Tensor h) {
    if (!cached) {
      return h;
    }
    Tensor last = g.sub(g.size(seq, DType.INT64), g.scalar(1, DType.INT64));
    return g.gather(h, last, 1); // (B, d)
  }

  /**
   * {@code x / sqrt(mean(x²) + eps) * w}, one RMSNormalization op. Half-precision graphs normalise
   * in float32 with a weight of ones and multiply by {@code w} after rounding to the half type, as
   * Hugging Face does.
   */
  private Tensor rmsNorm(Tensor x, Tensor w) {
    if (dt == wide) {
      return g.rmsNorm(x, w, c.normEps());
    }
    if (ones == null) {
      long d = c.hiddenSize();
      double[] v = new double[(int) d];
      Arrays.fill(v, 1);
      ones = g.constant(NdArray.of(wide, new long[] {d}, v));
    }
    return g.mul(narrow(g.rmsNorm(widen(x), ones, c.normEps())), w);
  }

  private Tensor layerNorm(Tensor x, String module) {
    Tensor w = param(module + ".weight");
    Tensor b = param(module + ".bias");
    return narrow(g.layerNorm(widen(x), widen(w), widen(b), c.normEps()));
  }

  private Tensor activation(Tensor x) {
    return switch (c.hiddenAct()) {
      case "silu", "swish" -> g.silu(x);
      case "gelu" -> g.gelu(x, false);
      default -> g.gelu(x, true); // gelu_new, gelu_pytorch_tanh
    };
  }

  private Tensor widen(Tensor x) {
    return x.dtype() == wide ? x : g.cast(x, wide);
  }

  private Tensor narrow(Tensor x) {
    return x.dtype() == dt ? x : g.cast(x, dt);
  }

  /**
   * A frozen weight named and shaped as in the checkpoint; a second pass (virtual tokens) reads the
   * parameter the first declared, or what a method has replaced it by ({@link Graph#current}).
   */
  private Tensor param(String name) {
    if (names.containsKey(name)) {
      return g.current(name);
    }
    names.put(name, name);
    return g.parameter(name, dt, Shape.of(shapes.get(name)), false);
  }
}
