package dev.graft.model.impl;

import dev.graft.graph.DType;
import dev.graft.graph.Graph;
import dev.graft.graph.NdArray;
import dev.graft.graph.Tensor;
import dev.graft.model.ModelConfig;

/**
 * Rotary position embedding tables (Hugging Face {@code modeling_rope_utils}), looked up in the
 * graph by position id.
 */
final class Rope {

  private Rope() {}

  /**
   * The rotation frequencies {@code inv_freq[k] = theta^(-2k / head_dim)}, k < head_dim / 2, with
   * the config's {@code rope_scaling} applied, in double precision.
   */
  static double[] inverseFrequencies(ModelConfig c) {
    int half = c.headDim() / 2;
    double[] inv = new double[half];
    for (int k = 0; k < half; k++) {
      inv[k] = 1 / Math.pow(c.ropeTheta(), 2.0 * k / c.headDim());
    }
    ModelConfig.RopeScaling s = c.ropeScaling();
    if (s == null) {
      return inv;
    }
    if (s.type().equals("linear")) {
      // Positions divided by the factor, i.e. every frequency divided by it.
      for (int k = 0; k < half; k++) {
        inv[k] /= s.factor();
      }
      return inv;
    }
    // llama3: wavelengths longer than original/low_freq_factor are slowed down by the factor,
    // shorter than original/high_freq_factor kept, and the band between interpolated:
    //   smooth = (original / wavelen - low) / (high - low)
    //   inv'   = (1 - smooth) * inv / factor + smooth * inv
    double original = s.originalMaxPositionEmbeddings();
    double lowWavelen = original / s.lowFreqFactor();
    double highWavelen = original / s.highFreqFactor();
    for (int k = 0; k < half; k++) {
      double wavelen = 2 * Math.PI / inv[k];
      if (wavelen > lowWavelen) {
        inv[k] /= s.factor();
      } else if (wavelen >= highWavelen) {
        double smooth =
            (original / wavelen - s.lowFreqFactor()) / (s.highFreqFactor() - s.lowFreqFactor());
        inv[k] = (1 - smooth) * inv[k] / s.factor() + smooth * inv[k];
      }
    }
    return inv;
  }

  /**
   * cos and sin of {@code position * inv_freq}, duplicated over the two halves of a head (the
   * rotate-half layout), for INT64 {@code positions} of any shape: returns two tensors of shape
   * {@code positions.shape + (head_dim)}.
   *
   * <p>A table over every position would hold {@code max_positions × head_dim / 2} values per
   * function (32 MB for 131072 positions and head_dim 128). Instead each position is split as
   * {@code p = q·S + r} with {@code S = ceil(sqrt(max_positions))}, two small tables of angles
   * {@code q·S·θ} and {@code r·θ} are gathered, and the angle-addition formulas combine them:
   *
   * <pre>
   * cos(pθ) = cos(qSθ) cos(rθ) − sin(qSθ) sin(rθ)
   * sin(pθ) = sin(qSθ) cos(rθ) + cos(qSθ) sin(rθ)
   * </pre>
   *
   * Tables are float64 for a float64 graph and float32 otherwise (half-precision graphs cast the
   * result, as Hugging Face computes RoPE in float32).
   */
  static Tensor[] cosSin(
      Graph g, Tensor positions, double[] invFreq, int maxPositions, DType computeType) {
    DType tableType = computeType == DType.FLOAT64 ? DType.FLOAT64 : DType.FLOAT32;
    int step = (int) Math.ceil(Math.sqrt(maxPositions));
    int coarseRows = (maxPositions + step - 1) / step;
    Tensor coarse = g.div(positions, g.scalar(step, DType.INT64)); // q = p / S
    Tensor fine = g.mod(positions, g.scalar(step, DType.INT64)); // r = p mod S
    Tensor cq = lookup(g, table(coarseRows, step, invFreq, true, tableType), coarse);
    Tensor sq = lookup(g, table(coarseRows, step, invFreq, false, tableType), coarse);
    Tensor cr = lookup(g, table(step, 1, invFreq, true, tableType), fine);
    Tensor sr = lookup(g, table(step, 1, invFreq, false, tableType), fine);
    Tensor cos = g.sub(g.mul(cq, cr), g.mul(sq, sr)); // (..., head_dim/2)
    Tensor sin = g.add(g.mul(sq, cr), g.mul(cq, sr)); // (..., head_dim/2)
    cos = g.concat(-1, cos, cos); // (..., head_dim)
    sin = g.concat(-1, sin, sin); // (..., head_dim)
    if (computeType != tableType) {
      cos = g.cast(cos, computeType);
      sin = g.cast(sin, computeType);
    }
    return new Tensor[] {cos, sin};
  }

  /** (rows, head_dim/2): {@code cos} or {@code sin} of {@code row * stride * invFreq[k]}. */
  private static NdArray table(int rows, int stride, double[] invFreq, boolean cos, DType type) {
    double[] v = new double[rows * invFreq.length];
    for (int i = 0; i < rows; i++) {
      for (int k = 0; k < invFreq.length; k++) {
        double angle = (double) i * stride * invFreq[k];
        v[i * invFreq.length + k] = cos ? Math.cos(angle) : Math.sin(angle);
      }
    }
    return NdArray.of(type, new long[] {rows, invFreq.length}, v);
  }

  private static Tensor lookup(Graph g, NdArray table, Tensor index) {
    return g.gather(g.constant(table), index, 0); // (..., head_dim/2)
  }
}
