package dev.graft.graph;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Neural-network ops of {@link GraphOps}: reductions, softmaxes, layer and RMS normalisation, GELU
 * and SiLU, matrix products and linear layers. Package-private: its public methods are {@link
 * Graph}'s.
 */
abstract class NnOps extends ShapeOps {
  // ---------------------------------------------------------------- reductions and normalisers

  @Override
  public Tensor reduceSum(Tensor x, boolean keepDims, int... axes) {
    return reduce("ReduceSum", x, keepDims, axes);
  }

  @Override
  public Tensor reduceMax(Tensor x, boolean keepDims, int... axes) {
    return reduce("ReduceMax", x, keepDims, axes);
  }

  @Override
  public Tensor reduceMean(Tensor x, boolean keepDims, int... axes) {
    Dim count = Dim.of(1);
    for (long a : normaliseAxes("ReduceMean", x.shape(), axes)) {
      count = count.times(x.shape().dim((int) a));
    }
    return div(reduceSum(x, keepDims, axes), size(count, x.dtype()));
  }

  @Override
  public Tensor softmax(Tensor x, int axis) {
    requireFloat("Softmax", x);
    return op(
        "Softmax", Map.of("axis", (long) x.shape().axis("Softmax", axis)), x.dtype(), x.shape(), x);
  }

  @Override
  public Tensor logSoftmax(Tensor x, int axis) {
    requireFloat("LogSoftmax", x);
    return op(
        "LogSoftmax",
        Map.of("axis", (long) x.shape().axis("LogSoftmax", axis)),
        x.dtype(),
        x.shape(),
        x);
  }

  @Override
  public Tensor layerNorm(Tensor x, Tensor gamma, Tensor beta, double eps) {
    String op = "LayerNormalization";
    requireNormWeight(op, x, gamma, "gamma", eps);
    if (beta == null) {
      return op(op, Map.of("epsilon", eps), x.dtype(), x.shape(), x, gamma);
    }
    requireNormWeight(op, x, beta, "beta", eps);
    return op(op, Map.of("epsilon", eps), x.dtype(), x.shape(), x, gamma, beta);
  }

  @Override
  public Tensor rmsNorm(Tensor x, Tensor gamma, double eps) {
    requireNormWeight("RMSNormalization", x, gamma, "gamma", eps);
    return op("RMSNormalization", Map.of("epsilon", eps), x.dtype(), x.shape(), x, gamma);
  }

  // ---------------------------------------------------------------- activations

  @Override
  public Tensor gelu(Tensor x, boolean tanhApproximation) {
    requireFloat("Gelu", x);
    return op(
        "Gelu",
        Map.of("approximate", tanhApproximation ? "tanh" : "none"),
        x.dtype(),
        x.shape(),
        x);
  }

  @Override
  public Tensor silu(Tensor x) {
    return unaryFloat("Silu", x);
  }

  // ---------------------------------------------------------------- linear algebra

  @Override
  public Tensor matmul(Tensor a, Tensor b) {
    sameDType("MatMul", a, b);
    if (a.rank() < 2 || b.rank() < 2) {
      throw new IllegalArgumentException(
          "MatMul: operands need rank >= 2, got "
              + a.shape()
              + " and "
              + b.shape()
              + " (unsqueeze vectors first)");
    }
    Dim inA = a.shape().dim(-1);
    Dim inB = b.shape().dim(-2);
    if (!inA.equals(inB)) {
      throw new IllegalArgumentException(
          "MatMul: cannot multiply "
              + a.shape()
              + " by "
              + b.shape()
              + " (inner dimensions "
              + inA
              + " and "
              + inB
              + " differ)");
    }
    Shape batchA = Shape.of(a.shape().dims().subList(0, a.rank() - 2));
    Shape batchB = Shape.of(b.shape().dims().subList(0, b.rank() - 2));
    Shape batch = Shape.broadcast(batchA, batchB);
    if (batch == null) {
      throw new IllegalArgumentException(
          "MatMul: batch dimensions of " + a.shape() + " and " + b.shape() + " do not broadcast");
    }
    List<Dim> out = new ArrayList<>(batch.dims());
    out.add(a.shape().dim(-2));
    out.add(b.shape().dim(-1));
    return op("MatMul", Map.of(), a.dtype(), Shape.of(out), a, b);
  }

  @Override
  public Tensor gemm(Tensor a, Tensor b, Tensor c, boolean transA, boolean transB) {
    sameDType("Gemm", a, b);
    if (a.rank() != 2 || b.rank() != 2) {
      throw new IllegalArgumentException(
          "Gemm: operands need rank 2, got " + a.shape() + " and " + b.shape());
    }
    Dim m = a.shape().dim(transA ? 1 : 0);
    Dim k = a.shape().dim(transA ? 0 : 1);
    Dim kb = b.shape().dim(transB ? 1 : 0);
    Dim n = b.shape().dim(transB ? 0 : 1);
    if (!k.equals(kb)) {
      throw new IllegalArgumentException(
          "Gemm: cannot multiply "
              + a.shape()
              + (transA ? "ᵀ" : "")
              + " by "
              + b.shape()
              + (transB ? "ᵀ" : "")
              + " (inner dimensions "
              + k
              + " and "
              + kb
              + " differ)");
    }
    Shape out = Shape.with(m, n);
    Map<String, Object> attrs = Map.of("transA", transA ? 1L : 0L, "transB", transB ? 1L : 0L);
    if (c == null) {
      return op("Gemm", attrs, a.dtype(), out, a, b);
    }
    sameDType("Gemm", a, c);
    if (!out.equals(Shape.broadcast(out, c.shape()))) {
      throw new IllegalArgumentException(
          "Gemm: bias " + c.shape() + " does not broadcast to " + out);
    }
    return op("Gemm", attrs, a.dtype(), out, a, b, c);
  }

  @Override
  public Tensor linear(Tensor x, Tensor w, Tensor b) {
    if (w.rank() != 2) {
      throw new IllegalArgumentException("Linear: weight must be (out, in), got " + w.shape());
    }
    return flatGemm(x, w, b, true);
  }

  @Override
  public Tensor conv1d(Tensor x, Tensor w, Tensor b) {
    if (w.rank() != 2) {
      throw new IllegalArgumentException("Conv1D: weight must be (in, out), got " + w.shape());
    }
    return flatGemm(x, w, b, false);
  }

  // ---------------------------------------------------------------- helpers

  /** One Gemm over the leading axes of {@code x} flattened into one, reshaped back. */
  private Tensor flatGemm(Tensor x, Tensor w, Tensor b, boolean transB) {
    if (x.rank() == 2) {
      return gemm(x, w, b, false, transB);
    }
    List<Dim> lead = x.shape().dims().subList(0, x.rank() - 1);
    Tensor flat = reshape(x, -1, x.shape().dim(-1)); // (N, in), N = product of leading dims
    Tensor y = gemm(flat, w, b, false, transB); // (N, out)
    List<Object> back = new ArrayList<>(lead);
    back.add(w.shape().dim(transB ? 0 : 1));
    return reshape(y, back.toArray()); // (..., out)
  }

  private Tensor reduce(String op, Tensor x, boolean keepDims, int... axes) {
    long[] ax = normaliseAxes(op, x.shape(), axes);
    List<Dim> out = new ArrayList<>();
    for (int i = 0; i < x.rank(); i++) {
      final int axis = i;
      boolean reduced = Arrays.stream(ax).anyMatch(a -> a == axis);
      if (!reduced) {
        out.add(x.shape().dim(i));
      } else if (keepDims) {
        out.add(Dim.of(1));
      }
    }
    return op(op, Map.of("axes", ax, "keepdims", keepDims ? 1L : 0L), x.dtype(), Shape.of(out), x);
  }

  /** A normalisation's x is floating point with a fixed last axis of the weight's size. */
  private static void requireNormWeight(String op, Tensor x, Tensor w, String name, double eps) {
    requireFloat(op, x);
    sameDType(op, x, w);
    if (x.rank() == 0
        || !x.shape().dim(-1).isFixed()
        || x.shape().dim(-1).size() == 0
        || !w.shape().equals(Shape.of(x.shape().dim(-1).size()))) {
      throw new IllegalArgumentException(
          op
              + ": "
              + name
              + " must have the shape of the last axis of x, which must be fixed and non-empty; got x "
              + x.shape()
              + " and "
              + name
              + " "
              + w.shape());
    }
    if (!(eps >= 0) || Double.isInfinite(eps)) {
      throw new IllegalArgumentException(op + ": epsilon must be finite and >= 0, got " + eps);
    }
  }
}
