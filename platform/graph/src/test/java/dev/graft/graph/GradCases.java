package dev.graft.graph;

import java.util.List;
import java.util.function.BiFunction;
import java.util.stream.Stream;

/**
 * The catalogue of differentiable ops that gradient checks run: on the reference interpreter here
 * ({@link GradientTest}) and on ONNX Runtime in the backend bundles, which get it through this
 * module's test jar. Each case maps trainable inputs to a tensor; ops take their dtype from {@code
 * p[0]}, so every case builds in float32 and float64.
 */
public final class GradCases {
  /** A trainable input: its shape and the interval its random values are drawn from. */
  public record Spec(long[] shape, double lo, double hi) {}

  /** One op under test: a name that reads as a sentence, the op, and its inputs. */
  public record Case(String name, BiFunction<Graph, Tensor[], Tensor> op, Spec... specs) {
    @Override
    public String toString() {
      return name;
    }
  }

  /** Values in [-2, 2). */
  public static Spec any(long... shape) {
    return new Spec(shape, -2, 2);
  }

  /** Values in [0.5, 2), for ops defined on positive numbers. */
  public static Spec positive(long... shape) {
    return new Spec(shape, 0.5, 2);
  }

  /** Every case. */
  public static List<Case> all() {
    return Stream.of(
            elementwise(),
            reductionsAndNormalisers(),
            linearAlgebra(),
            indexingAndShapes(),
            lossesAndBlocks())
        .flatMap(List::stream)
        .toList();
  }

  /** Elementwise ops, comparisons feeding Where, casts. */
  public static List<Case> elementwise() {
    return List.of(
        op("add with broadcasting", (g, p) -> g.add(p[0], p[1]), any(2, 3), any(3)),
        op("sub with broadcasting", (g, p) -> g.sub(p[0], p[1]), any(2, 1, 3), any(4, 3)),
        op("mul with broadcasting", (g, p) -> g.mul(p[0], p[1]), any(2, 3), any(2, 1)),
        op("div with broadcasting", (g, p) -> g.div(p[0], p[1]), any(2, 3), positive(3)),
        op("pow of two tensors", (g, p) -> g.pow(p[0], p[1]), positive(2, 3), any(2, 3)),
        op("pow by a scalar", (g, p) -> g.pow(p[0], 3.0), any(4)),
        op("neg", (g, p) -> g.neg(p[0]), any(5)),
        op("sqrt", (g, p) -> g.sqrt(p[0]), positive(5)),
        op("rsqrt", (g, p) -> g.rsqrt(p[0]), positive(5)),
        op("reciprocal", (g, p) -> g.reciprocal(p[0]), positive(5)),
        op("exp", (g, p) -> g.exp(p[0]), any(5)),
        op("log", (g, p) -> g.log(p[0]), positive(5)),
        op("tanh", (g, p) -> g.tanh(p[0]), any(5)),
        op("sigmoid", (g, p) -> g.sigmoid(p[0]), any(5)),
        op("erf", (g, p) -> g.erf(p[0]), any(7)),
        op("abs", (g, p) -> g.abs(p[0]), any(6)),
        op("sign times x", (g, p) -> g.mul(g.sign(p[0]), p[0]), any(6)),
        op("max", (g, p) -> g.max(p[0], p[1]), any(3, 4), any(4)),
        op("min", (g, p) -> g.min(p[0], p[1]), any(3, 4), any(3, 1)),
        op("clip", (g, p) -> g.clip(p[0], -1, 1), any(10)),
        op(
            "cast to float32 and back",
            (g, p) ->
                g.cast(
                    g.mul(g.cast(p[0], DType.FLOAT32), g.scalar(2, DType.FLOAT32)), p[0].dtype()),
            any(4)),
        op(
            "where",
            (g, p) -> g.where(g.greater(p[0], g.scalar(0, p[0].dtype())), p[0], g.mul(p[1], p[0])),
            any(3, 4),
            any(4)),
        op(
            "masked fill after a comparison",
            (g, p) -> g.maskedFill(p[0], g.less(p[0], g.scalar(0.5, p[0].dtype())), -3),
            any(3, 4)));
  }

  /** Reductions, softmaxes, normalisation layers and activations. */
  public static List<Case> reductionsAndNormalisers() {
    return List.of(
        op("reduceSum keepdims", (g, p) -> g.reduceSum(p[0], true, 1), any(2, 3, 4)),
        op("reduceSum over two axes", (g, p) -> g.reduceSum(p[0], false, 0, 2), any(2, 3, 4)),
        op("reduceMean", (g, p) -> g.reduceMean(p[0], false, -1), any(2, 3, 4)),
        op("reduceMax", (g, p) -> g.reduceMax(p[0], false, 1), any(3, 5)),
        op("reduceMax keepdims", (g, p) -> g.reduceMax(p[0], true, 0), any(3, 5)),
        op("softmax", (g, p) -> g.softmax(p[0], -1), any(2, 3, 5)),
        op("softmax over axis 0", (g, p) -> g.softmax(p[0], 0), any(4, 3)),
        op("logSoftmax", (g, p) -> g.logSoftmax(p[0], 1), any(3, 6)),
        op(
            "layerNorm",
            (g, p) -> g.layerNorm(p[0], p[1], p[2], 1e-5),
            any(2, 3, 8),
            any(8),
            any(8)),
        op("rmsNorm", (g, p) -> g.rmsNorm(p[0], p[1], 1e-6), any(2, 3, 8), any(8)),
        op(
            "layerNorm without beta",
            (g, p) -> g.layerNorm(p[0], p[1], null, 1e-5),
            any(3, 8),
            any(8)),
        op(
            "layerNorm with frozen gamma and beta, of an input far from zero mean",
            (g, p) -> g.layerNorm(g.add(p[0], 3.0), weight(g, p[0], 8), weight(g, p[0], 8), 1e-5),
            any(2, 3, 8)),
        op(
            "layerNorm with frozen gamma, no beta",
            (g, p) -> g.layerNorm(p[0], weight(g, p[0], 6), null, 1e-5),
            any(2, 6)),
        op(
            "layerNorm of a frozen input, trainable gamma and beta",
            (g, p) -> g.layerNorm(weight(g, p[0], 2, 3, 8), p[0], p[1], 1e-5),
            any(8),
            any(8)),
        op(
            "layerNorm of a vector",
            (g, p) -> g.layerNorm(p[0], p[1], p[2], 1e-5),
            any(7),
            any(7),
            any(7)),
        op(
            "rmsNorm with frozen gamma",
            (g, p) -> g.rmsNorm(p[0], weight(g, p[0], 8), 1e-6),
            any(2, 3, 8)),
        op(
            "rmsNorm of a frozen input, trainable gamma",
            (g, p) -> g.rmsNorm(weight(g, p[0], 4, 8), p[0], 1e-6),
            any(8)),
        op("rmsNorm of a vector", (g, p) -> g.rmsNorm(p[0], p[1], 1e-6), any(5), any(5)),
        op(
            "rmsNorm in a residual block (x also read by the sum)",
            (g, p) -> g.add(p[0], g.tanh(g.rmsNorm(p[0], p[1], 1e-6))),
            any(3, 8),
            any(8)),
        op(
            "layerNorm twice in a row (GPT-2's final norm after a block's)",
            (g, p) -> g.layerNorm(g.layerNorm(p[0], p[1], p[2], 1e-5), p[2], p[1], 1e-5),
            any(2, 8),
            any(8),
            any(8)),
        op("gelu tanh", (g, p) -> g.gelu(p[0], true), any(9)),
        op("gelu exact", (g, p) -> g.gelu(p[0], false), any(9)),
        op("silu", (g, p) -> g.silu(p[0]), any(9)),
        op(
            "gelu tanh of a tensor that a product also reads",
            (g, p) -> g.mul(g.gelu(p[0], true), p[0]),
            any(2, 5)),
        op(
            "silu gate times up (SwiGLU)",
            (g, p) -> g.mul(g.silu(p[0]), p[1]),
            any(2, 5),
            any(2, 5)));
  }

  /** MatMul with broadcasting, Gemm in every transposition, linear layers, an LSTM cell. */
  public static List<Case> linearAlgebra() {
    return List.of(
        op("matmul 2-D", (g, p) -> g.matmul(p[0], p[1]), any(3, 4), any(4, 2)),
        op(
            "matmul with broadcast batch on the right",
            (g, p) -> g.matmul(p[0], p[1]),
            any(2, 3, 4),
            any(4, 5)),
        op(
            "matmul with broadcast batch on the left",
            (g, p) -> g.matmul(p[0], p[1]),
            any(3, 4),
            any(2, 4, 5)),
        op(
            "matmul with size-1 batch axes",
            (g, p) -> g.matmul(p[0], p[1]),
            any(2, 1, 3, 4),
            any(1, 3, 4, 2)),
        op("gemm", (g, p) -> g.gemm(p[0], p[1], p[2], false, false), any(3, 4), any(4, 2), any(2)),
        op("gemm transA", (g, p) -> g.gemm(p[0], p[1], null, true, false), any(4, 3), any(4, 2)),
        op(
            "gemm transB",
            (g, p) -> g.gemm(p[0], p[1], p[2], false, true),
            any(3, 4),
            any(2, 4),
            any(3, 2)),
        op(
            "gemm transA transB",
            (g, p) -> g.gemm(p[0], p[1], null, true, true),
            any(4, 3),
            any(2, 4)),
        op(
            "linear on a 3-D input",
            (g, p) -> g.linear(p[0], p[1], p[2]),
            any(2, 3, 4),
            any(5, 4),
            any(5)),
        op(
            "lstm cell",
            (g, p) -> {
              Tensor[] hc = g.lstmCell(p[0], p[1], p[2], p[3], p[4], p[5]);
              return g.add(hc[0], g.mul(hc[1], 0.5));
            },
            any(2, 3),
            any(2, 4),
            any(2, 4),
            any(16, 3),
            any(16, 4),
            any(16)));
  }

  /**
   * Gathers (also from tensors that other ops or gathers read), reshapes, slices, pads,
   * concatenation, broadcasting, RoPE, dropout.
   */
  public static List<Case> indexingAndShapes() {
    return List.of(
        op(
            "gather rows with repeated indices",
            (g, p) -> g.gather(p[0], ids(g, new long[] {2, 3}, 1, 4, 1, 0, 4, 4), 0),
            any(5, 3)),
        op(
            "gatherElements",
            (g, p) -> g.gatherElements(p[0], ids(g, new long[] {3, 2}, 0, 3, 2, 2, 1, 0), 1),
            any(3, 4)),
        op(
            "gatherElements from a tensor that tanh also reads, sparse gradient first",
            (g, p) ->
                g.concat(
                    0,
                    g.slice(g.tanh(p[0]), 1, 1, 3),
                    g.gatherElements(p[0], ids(g, new long[] {3, 2}, 0, 3, 2, 2, 1, 0), 1)),
            any(3, 4)),
        op(
            "gatherElements from a tensor that tanh also reads, dense gradient first",
            (g, p) ->
                g.concat(
                    0,
                    g.gatherElements(p[0], ids(g, new long[] {3, 2}, 0, 3, 2, 2, 1, 0), 1),
                    g.slice(g.tanh(p[0]), 1, 1, 3)),
            any(3, 4)),
        op(
            "gatherElements twice from one tensor",
            (g, p) ->
                g.add(
                    g.gatherElements(p[0], ids(g, new long[] {3, 2}, 0, 3, 2, 2, 1, 0), 1),
                    g.gatherElements(p[0], ids(g, new long[] {3, 2}, 0, 0, 1, 2, 3, 3), 1)),
            any(3, 4)),
        op(
            "gather rows twice from one table",
            (g, p) ->
                g.add(
                    g.gather(p[0], ids(g, new long[] {2, 3}, 1, 4, 1, 0, 4, 4), 0),
                    g.gather(p[0], ids(g, new long[] {3}, 2, 1, 4), 0)),
            any(5, 3)),
        op(
            "gather rows of a table that a product also reads (tied embedding)",
            (g, p) ->
                g.linear(
                    g.gather(p[0], ids(g, new long[] {2, 3}, 1, 4, 1, 0, 4, 4), 0), p[0], null),
            any(5, 3)),
        op("reshape", (g, p) -> g.mul(g.reshape(p[0], 3, -1), p[1]), any(2, 3, 2), any(3, 4)),
        op(
            "transpose",
            (g, p) -> g.mul(g.transpose(p[0], 2, 0, 1), p[1]),
            any(2, 3, 4),
            any(4, 2, 3)),
        op("slice", (g, p) -> g.slice(p[0], 1, 1, 3), any(2, 4, 3)),
        op("pad", (g, p) -> g.mul(g.pad(p[0], 0, 1, 2), p[1]), any(2, 3), any(5, 3)),
        op("concat", (g, p) -> g.concat(1, p[0], p[1], p[0]), any(2, 1, 3), any(2, 2, 3)),
        op(
            "expand",
            (g, p) -> g.mul(g.expand(p[0], Shape.of(2, 3, 4)), p[1]),
            any(3, 1),
            any(2, 3, 4)),
        op("squeeze and unsqueeze", (g, p) -> g.unsqueeze(g.squeeze(p[0], 1), 0, 3), any(2, 1, 3)),
        op(
            "rotary embedding",
            (g, p) -> g.rope(p[0], p[1], p[2]),
            any(2, 3, 4),
            any(3, 4),
            any(3, 4)),
        op(
            "dropout with a fixed seed",
            (g, p) -> g.dropout(p[0], 0.3, g.scalar(7, DType.INT64)),
            any(4, 5)));
  }

  /** Losses, log-softmax read by gathers, and a causal self-attention block. */
  public static List<Case> lossesAndBlocks() {
    return List.of(
        op(
            "cross-entropy with an ignored target",
            (g, p) -> g.crossEntropy(p[0], ids(g, new long[] {4}, 2, -100, 0, 2), -100),
            any(4, 3)),
        op(
            "cross-entropy of logits that a square also reads",
            (g, p) ->
                g.add(
                    g.crossEntropy(p[0], ids(g, new long[] {4}, 2, -100, 0, 2), -100),
                    g.reduceSum(g.mul(p[0], p[0]), false, 0, 1)),
            any(4, 3)),
        op(
            "log-softmax picked at two targets per row, one of them twice",
            (g, p) ->
                g.gatherElements(
                    g.logSoftmax(p[0], 1), ids(g, new long[] {3, 2}, 0, 3, 2, 2, 1, 0), 1),
            any(3, 4)),
        op(
            "log-softmax picked across its axis",
            (g, p) ->
                g.gatherElements(
                    g.logSoftmax(p[0], 0), ids(g, new long[] {3, 2}, 0, 3, 2, 2, 1, 0), 1),
            any(3, 4)),
        op(
            "log-softmax picked and sliced",
            (g, p) -> {
              Tensor logp = g.logSoftmax(p[0], 1);
              Tensor picked = g.gatherElements(logp, ids(g, new long[] {3, 1}, 2, 0, 3), 1);
              return g.mul(picked, g.slice(logp, 1, 0, 1));
            },
            any(3, 4)),
        op("mse loss", (g, p) -> g.mseLoss(p[0], p[1]), any(3, 2), any(3, 2)),
        op(
            "causal self-attention",
            (g, p) -> {
              Tensor q = g.rope(p[0], p[2], p[3]); // (B, T, hs)
              Tensor k = g.rope(p[1], p[2], p[3]);
              Tensor att = g.mul(g.matmul(q, g.transposeLast2(k)), 0.5); // (B, T, T)
              att = g.maskedFill(att, g.causalMask(Dim.of(3)), -1e9);
              return g.matmul(g.softmax(att, -1), p[1]); // (B, T, hs)
            },
            any(2, 3, 4),
            any(2, 3, 4),
            any(3, 4),
            any(3, 4)));
  }

  private static Case op(String name, BiFunction<Graph, Tensor[], Tensor> op, Spec... specs) {
    return new Case(name, op, specs);
  }

  /**
   * A frozen weight of {@code shape} in {@code like}'s dtype: fixed values around 1 (a constant, so
   * that no gradient flows to it).
   */
  private static Tensor weight(Graph g, Tensor like, long... shape) {
    long n = 1;
    for (long d : shape) {
      n *= d;
    }
    double[] v = new double[(int) n];
    for (int i = 0; i < v.length; i++) {
      v[i] = 0.5 + ((i * 7) % 11) / 8.0 - (i % 3 == 0 ? 1.25 : 0);
    }
    return g.constant(NdArray.of(like.dtype(), shape, v));
  }

  private static Tensor ids(Graph g, long[] shape, double... values) {
    return g.constant(NdArray.of(DType.INT64, shape, values));
  }

  private GradCases() {}
}
