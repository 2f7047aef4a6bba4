package dev.graft.model.impl;

import dev.graft.graph.DType;
import dev.graft.graph.Dim;
import dev.graft.graph.Graph;
import dev.graft.graph.Shape;
import dev.graft.graph.Tensor;
import dev.graft.model.ModelConfig;
import java.util.List;
import java.util.function.Function;

/**
 * The sequence-changing sites of a built decoder: key/value prefixes that every query of a layer
 * attends to (prefix tuning, P-tuning v2) and virtual tokens ahead of the input (prompt tuning,
 * P-tuning), added after the graph is built.
 *
 * <p>A prefix joins the attention as a second block of keys without touching the input's own block:
 * with {@code y_r} the attention over the input's keys and {@code y_p} over the prefix, {@code lse}
 * the log-sum-exp of each block's scores and {@code λ = sigmoid(lse_r − lse_p)}, the attention over
 * both is {@code λ·y_r + (1 − λ)·y_p}, exactly the softmax over the concatenated keys. Prefix keys
 * enter as given: Hugging Face keeps keys after RoPE in {@code past_key_values}, where PEFT puts
 * its prefix, so they are not rotated again. Prefixes are visible to every query (no causal,
 * padding or packing mask), and the input's positions move up by the prefix length, as Hugging Face
 * counts positions after {@code past_key_values}.
 *
 * <p>Virtual tokens see only themselves (causally), so their keys and values in every layer do not
 * depend on the input: they are computed once per run in a pass of their own at positions 0..n-1
 * and joined as a prefix. The input keeps its shape, so logits, labels and the cache hold input
 * positions only.
 */
public final class Prefixes {
  /** One layer's attention in the main pass, where prefixes join. */
  private record Site(Tensor query, Tensor scores, Tensor context, Tensor logSumExp) {}

  private final Graph g;
  private final ModelConfig c;
  private final DType dt;
  private final DType wide;
  private final Function<Tensor, List<Tensor[]>> virtualPass;
  private final Site[] sites;
  private final long[] lengths;
  private Tensor positions;
  private long shift;

  /**
   * @param positionIds the graph's {@code position_ids} input, which prefixes shift
   * @param virtualPass runs virtual token embeddings (n, d) through the blocks and returns each
   *     layer's keys and values (1, n, kvh, hs), keys after RoPE
   */
  Prefixes(
      Graph g,
      ModelConfig c,
      DType dt,
      DType wide,
      Tensor positionIds,
      Function<Tensor, List<Tensor[]>> virtualPass) {
    this.g = g;
    this.c = c;
    this.dt = dt;
    this.wide = wide;
    this.positions = positionIds;
    this.virtualPass = virtualPass;
    this.sites = new Site[c.numHiddenLayers()];
    this.lengths = new long[c.numHiddenLayers()];
  }

  /**
   * Records layer {@code layer}'s attention.
   *
   * @param query (B, nh, T, hs), scaled by 1/sqrt(hs)
   * @param scores (B, nh, T, S) of the wide dtype, the mask's bias added
   * @param context (B, nh, T, hs), the softmax of the scores times the values
   */
  void site(int layer, Tensor query, Tensor scores, Tensor context) {
    sites[layer] = new Site(query, scores, context, null);
  }

  /** The position of the first input token: the longest prefix over the layers (0 without any). */
  public long length() {
    return shift;
  }

  /**
   * Makes every query of block {@code layer} attend to {@code n} more keys and values, ahead of the
   * input's own and beside earlier prefixes.
   *
   * @param keys (n, kvh·hs) in the compute type, after RoPE (as Hugging Face caches keys)
   * @param values (n, kvh·hs) in the compute type
   * @throws IllegalArgumentException for a layer the model lacks or tensors of another shape or
   *     dtype
   */
  public void addKeyValuePrefix(int layer, Tensor keys, Tensor values) {
    if (layer < 0 || layer >= sites.length) {
      throw new IllegalArgumentException(
          "The model has no block " + layer + "; blocks are 0 to " + (sites.length - 1) + ".");
    }
    long width = (long) c.numKeyValueHeads() * c.headDim();
    Dim n = keys.rank() == 2 ? keys.shape().dim(0) : null;
    for (Tensor t : new Tensor[] {keys, values}) {
      if (t.rank() != 2
          || !t.shape().dim(0).equals(n)
          || !n.isFixed()
          || !t.shape().dim(1).equals(Dim.of(width))
          || t.dtype() != dt) {
        throw new IllegalArgumentException(
            "Key/value prefixes of block "
                + layer
                + " must be "
                + dt
                + " (n, "
                + width
                + ") = (n, kv_heads·head_dim) with the same fixed n, not "
                + keys
                + " and "
                + values
                + ".");
      }
    }
    int kvh = c.numKeyValueHeads();
    int hs = c.headDim();
    attend(layer, g.reshape(keys, n, kvh, hs), g.reshape(values, n, kvh, hs)); // (n, kvh, hs)
    lengths[layer] += n.size();
    shiftPositions();
  }

  /**
   * Puts {@code n} virtual tokens ahead of every row's input: every input token attends to them,
   * and they to each other causally.
   *
   * @param embeddings (n, d) in the compute type
   * @throws IllegalArgumentException for another shape or dtype
   */
  public void prependVirtualTokens(Tensor embeddings) {
    if (embeddings.rank() != 2
        || !embeddings.shape().dim(0).isFixed()
        || !embeddings.shape().dim(1).equals(Dim.of(c.hiddenSize()))
        || embeddings.dtype() != dt) {
      throw new IllegalArgumentException(
          "Virtual token embeddings must be "
              + dt
              + " (n, "
              + c.hiddenSize()
              + ") = (n, hidden_size), not "
              + embeddings
              + ".");
    }
    List<Tensor[]> keyValues = virtualPass.apply(embeddings); // per layer (1, n, kvh, hs)
    for (int i = 0; i < sites.length; i++) {
      attend(i, g.squeeze(keyValues.get(i)[0], 0), g.squeeze(keyValues.get(i)[1], 0));
      lengths[i] += embeddings.shape().dim(0).size();
    }
    shiftPositions();
  }

  /** Joins keys and values (n, kvh, hs) to layer {@code layer}'s attention. */
  private void attend(int layer, Tensor keys, Tensor values) {
    Site s = sites[layer];
    Tensor k = repeatHeads(g.transpose(keys, 1, 0, 2)); // (nh, n, hs)
    Tensor v = repeatHeads(g.transpose(values, 1, 0, 2)); // (nh, n, hs)
    Tensor scores = widen(g.matmul(s.query(), g.transposeLast2(k))); // (B, nh, T, n)
    Tensor prefix = g.matmul(narrow(g.softmax(scores, -1)), v); // (B, nh, T, hs)
    Tensor before = s.logSumExp() != null ? s.logSumExp() : logSumExp(s.scores()); // (B, nh, T, 1)
    Tensor added = logSumExp(scores); // (B, nh, T, 1)
    Tensor difference = g.sub(before, added);
    Tensor context =
        g.add(
            g.mul(s.context(), narrow(g.sigmoid(difference))),
            g.mul(prefix, narrow(g.sigmoid(g.neg(difference))))); // (B, nh, T, hs)
    g.replaceUses(s.context(), context);
    // log(e^a + e^b) = max(a, b) + log(1 + e^-|a-b|)
    Tensor both =
        g.add(
            g.max(before, added),
            g.log(g.add(g.exp(g.neg(g.abs(difference))), 1.0))); // (B, nh, T, 1)
    sites[layer] = new Site(s.query(), s.scores(), context, both);
  }

  /**
   * {@code log Σ exp(x)} over the last axis, kept: {@code m + log Σ exp(x − m)} with m the maximum.
   * Its gradient is exactly softmax(x) whatever the maximum's ties (m's terms cancel).
   */
  private Tensor logSumExp(Tensor x) {
    Tensor m = g.reduceMax(x, true, -1);
    return g.add(m, g.log(g.reduceSum(g.exp(g.sub(x, m)), true, -1)));
  }

  /** (kvh, n, hs) to (nh, n, hs), query head h reading key-value head {@code h / (nh / kvh)}. */
  private Tensor repeatHeads(Tensor x) {
    int kvh = c.numKeyValueHeads();
    int groups = c.numAttentionHeads() / kvh;
    if (groups == 1) {
      return x;
    }
    Dim n = x.shape().dim(1);
    int hs = c.headDim();
    Tensor repeated =
        g.expand(g.unsqueeze(x, 1), Shape.with(kvh, groups, n, hs)); // (kvh, g, n, hs)
    return g.reshape(repeated, kvh * groups, n, hs); // (nh, n, hs)
  }

  /** Moves the input's positions up to the longest prefix. */
  private void shiftPositions() {
    long longest = 0;
    for (long l : lengths) {
      longest = Math.max(longest, l);
    }
    if (longest > shift) {
      Tensor shifted = g.add(positions, g.scalar(longest - shift, DType.INT64)); // (B, T)
      g.replaceUses(positions, shifted);
      positions = shifted;
      shift = longest;
    }
  }

  private Tensor widen(Tensor x) {
    return x.dtype() == wide ? x : g.cast(x, wide);
  }

  private Tensor narrow(Tensor x) {
    return x.dtype() == dt ? x : g.cast(x, dt);
  }
}
