package dev.graft.graph.impl;

import dev.graft.graph.DType;
import dev.graft.graph.Dim;
import dev.graft.graph.Graph;
import dev.graft.graph.Node;
import dev.graft.graph.Shape;
import dev.graft.graph.Tensor;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reverse-mode differentiation over the graph IR. Every backward rule is written with the graph's
 * own primitives, so the backward lowers to standard ONNX ops (inference builds of ONNX Runtime
 * have no *Grad kernels). Notation in the rules: {@code x, a, b} are node inputs, {@code y} the
 * output, {@code g = dL/dy}.
 *
 * <p>The gradient of a gather (GatherElements, Gather) is zero but where the gathered values came
 * from. It stays a {@link Scatter} (indices and updates) until a rule needs it dense: added to
 * another gradient of the same tensor, it is scattered into that one instead of into zeros first,
 * and the log-softmax rule takes it as it is (the cross-entropy backward then makes three passes
 * over the logits instead of six). No backward node is created that no gradient needs: the ONNX
 * lowering keeps every node, and ONNX Runtime runs nodes whose results nothing reads.
 */
public final class Autodiff {
  /** The {@link Scatter#axis} of a gradient scattered by leading index tuples (ScatterND). */
  private static final int ROWS = -1;

  private final Graph g;

  /** Dense gradients. A tensor has its gradient here or in {@link #sparse}, not in both. */
  private final Map<Tensor, Tensor> grads = new IdentityHashMap<>();

  private final Map<Tensor, Scatter> sparse = new IdentityHashMap<>();

  /**
   * A gradient that is zero except for {@code updates} added at {@code indices}: along {@code axis}
   * as ScatterElements adds them (the adjoint of GatherElements), or with axis {@link #ROWS} at the
   * index tuples in the last axis of {@code indices}, as ScatterND adds them (the adjoint of Gather
   * along axis 0). Repeated indices accumulate.
   */
  private record Scatter(Tensor indices, Tensor updates, int axis) {
    /** {@code base} plus this gradient: one scatter-add into {@code base}. */
    Tensor addTo(Graph g, Tensor base) {
      return axis == ROWS
          ? g.scatterNdAdd(base, indices, updates)
          : g.scatterElementsAdd(base, indices, updates, axis);
    }
  }

  private Autodiff(Graph g) {
    this.g = g;
  }

  /** Gradients of {@code loss} (one element) for each tensor of {@code wrt} that it depends on. */
  public static Map<Tensor, Tensor> gradients(Graph graph, Tensor loss, List<Tensor> wrt) {
    return gradients(graph, loss, null, wrt);
  }

  /**
   * As {@link #gradients(Graph, Tensor, List)}, of {@code scale · loss}: the backward pass starts
   * from {@code scale}, a scalar of the graph, instead of 1 (null starts from 1).
   */
  public static Map<Tensor, Tensor> gradients(
      Graph graph, Tensor loss, Tensor scale, List<Tensor> wrt) {
    if (!loss.shape().isFixed() || loss.shape().numel().size() != 1 || !loss.dtype().isFloating()) {
      throw new IllegalArgumentException(
          "The loss must be one floating-point element, got " + loss);
    }
    List<Node> forward = List.copyOf(graph.nodes());
    // Tensors that depend on a trainable: only these carry gradients. A stop-gradient's result
    // depends on none as far as differentiation goes, so nothing flows back through it.
    Set<Tensor> live = Collections.newSetFromMap(new IdentityHashMap<>());
    live.addAll(wrt);
    for (Node n : forward) {
      // An after() carries its value's gradient only: the dependency orders, it does not compute.
      List<Tensor> carrying = n.op().equals("After") ? List.of(n.input(0)) : n.inputs();
      if (n.output().dtype().isFloating()
          && !n.op().equals("StopGradient")
          && carrying.stream().anyMatch(live::contains)) {
        live.add(n.output());
      }
    }
    Autodiff ad = new Autodiff(graph);
    if (!live.contains(loss)) {
      return Map.of();
    }
    Tensor ones = graph.fill(loss.shape(), loss.dtype(), 1.0);
    ad.grads.put(loss, scale == null ? ones : graph.mul(ones, scale));
    for (int i = forward.size() - 1; i >= 0; i--) {
      Node n = forward.get(i);
      if (!ad.backwardSparse(n, live)) {
        Tensor gy = ad.dense(n.output());
        if (gy != null) {
          ad.backward(n, gy, live);
        }
      }
    }
    Map<Tensor, Tensor> out = new LinkedHashMap<>();
    for (Tensor w : wrt) {
      Tensor gw = ad.dense(w);
      if (gw != null) {
        out.put(w, gw);
      }
    }
    return out;
  }

  /** The gradient of {@code x} as a tensor (a sparse one is scattered into zeros now), or null. */
  private Tensor dense(Tensor x) {
    Scatter s = sparse.remove(x);
    if (s != null) {
      grads.put(x, s.addTo(g, g.fill(x.shape(), x.dtype(), 0)));
    }
    return grads.get(x);
  }

  private void accumulate(Tensor x, Tensor dx, Set<Tensor> live) {
    if (!live.contains(x)) {
      return;
    }
    if (!dx.shape().equals(x.shape())) {
      throw new IllegalStateException("Gradient of " + x + " has shape " + dx.shape());
    }
    Scatter s = sparse.remove(x);
    Tensor prev = grads.get(x);
    grads.put(x, s != null ? s.addTo(g, dx) : prev == null ? dx : g.add(prev, dx));
  }

  /**
   * Accumulates a sparse gradient: kept sparse if it is x's first, else added into x's gradient.
   */
  private void accumulate(Tensor x, Scatter dx, Set<Tensor> live) {
    if (!live.contains(x)) {
      return;
    }
    if (grads.containsKey(x) || sparse.containsKey(x)) {
      grads.put(x, dx.addTo(g, dense(x)));
    } else {
      sparse.put(x, dx);
    }
  }

  /** Accumulates {@code gx} into x, summed over the axes along which x was broadcast. */
  private void accumulateSum(Tensor x, Tensor gx, Set<Tensor> live) {
    if (live.contains(x)) {
      accumulate(x, sumTo(gx, x.shape()), live);
    }
  }

  /**
   * The rules that take a sparse incoming gradient as it is. Returns false, creating nothing, where
   * n's gradient is not sparse or n's rule needs it dense.
   *
   * <p>log-softmax with g scattered along its axis (cross-entropy): {@code sum(g)} is the sum of
   * the updates, and {@code dx = g - e^y sum(g)} is the updates scattered into {@code -e^y sum(g)}.
   */
  private boolean backwardSparse(Node n, Set<Tensor> live) {
    Scatter s = sparse.get(n.output());
    if (s == null || !n.op().equals("LogSoftmax") || s.axis() != n.longAttr("axis")) {
      return false;
    }
    Tensor y = n.output();
    Shape updates = s.updates().shape();
    for (int i = 0; i < y.rank(); i++) {
      if (i != s.axis() && !updates.dim(i).equals(y.shape().dim(i))) {
        return false; // the updates cover part of the other axes: sum(g) would need zeros
      }
    }
    Tensor sum = g.reduceSum(s.updates(), true, s.axis()); // y's shape, 1 on the axis
    accumulate(n.input(0), s.addTo(g, g.mul(g.exp(y), g.neg(sum))), live);
    return true;
  }

  private void backward(Node n, Tensor gy, Set<Tensor> live) {
    Tensor y = n.output();
    Tensor a = n.inputs().isEmpty() ? null : n.input(0);
    Tensor b = n.inputs().size() > 1 ? n.input(1) : null;
    switch (n.op()) {
      // d(a+b) = g, reduced to each operand's shape where it was broadcast
      case "Add" -> {
        accumulateSum(a, gy, live);
        accumulateSum(b, gy, live);
      }
      // d(a-b) = (g, -g)
      case "Sub" -> {
        accumulateSum(a, gy, live);
        if (live.contains(b)) {
          accumulateSum(b, g.neg(gy), live);
        }
      }
      // d(ab) = (g b, g a)
      case "Mul" -> {
        if (live.contains(a)) {
          accumulateSum(a, g.mul(gy, b), live);
        }
        if (live.contains(b)) {
          accumulateSum(b, g.mul(gy, a), live);
        }
      }
      // d(a/b) = (g / b, -g y / b)
      case "Div" -> {
        if (live.contains(a)) {
          accumulateSum(a, g.div(gy, b), live);
        }
        if (live.contains(b)) {
          accumulateSum(b, g.neg(g.div(g.mul(gy, y), b)), live);
        }
      }
      // d(a^b) = (g b a^(b-1), g y ln a)
      case "Pow" -> {
        if (live.contains(a)) {
          accumulateSum(a, g.mul(gy, g.mul(b, g.pow(a, g.sub(b, one(b))))), live);
        }
        if (live.contains(b)) {
          accumulateSum(b, g.mul(gy, g.mul(y, g.log(a))), live);
        }
      }
      // d max(a,b) = g to a where a >= b, else to b; min likewise with a <= b
      case "Max", "Min" -> {
        Tensor toA = n.op().equals("Max") ? g.not(g.less(a, b)) : g.not(g.greater(a, b));
        if (live.contains(a)) {
          accumulateSum(a, g.where(toA, gy, zero(gy)), live);
        }
        if (live.contains(b)) {
          accumulateSum(b, g.where(toA, zero(gy), gy), live);
        }
      }
      // d where(c, a, b) = (g where c, g where not c)
      case "Where" -> {
        Tensor c = n.input(0);
        Tensor x1 = n.input(1);
        Tensor x2 = n.input(2);
        if (live.contains(x1)) {
          accumulateSum(x1, g.where(c, gy, zero(gy)), live);
        }
        if (live.contains(x2)) {
          accumulateSum(x2, g.where(c, zero(gy), gy), live);
        }
      }
      // d(-x) = -g
      case "Neg" -> accumulate(a, g.neg(gy), live);
      // d sqrt(x) = g / (2 y)
      case "Sqrt" -> accumulate(a, g.div(gy, g.mul(y, 2.0)), live);
      // d(1/x) = -g y^2
      case "Reciprocal" -> accumulate(a, g.neg(g.mul(gy, g.mul(y, y))), live);
      // d e^x = g y
      case "Exp" -> accumulate(a, g.mul(gy, y), live);
      // d ln x = g / x
      case "Log" -> accumulate(a, g.div(gy, a), live);
      // d tanh x = g (1 - y^2)
      case "Tanh" -> accumulate(a, g.mul(gy, g.sub(one(y), g.mul(y, y))), live);
      // d sigmoid x = g y (1 - y)
      case "Sigmoid" -> accumulate(a, g.mul(gy, g.mul(y, g.sub(one(y), y))), live);
      // d erf x = g 2/sqrt(pi) e^(-x^2)
      case "Erf" ->
          accumulate(a, g.mul(gy, g.mul(g.exp(g.neg(g.mul(a, a))), 2 / Math.sqrt(Math.PI))), live);
      // d gelu(x), d silu(x) = g f'(x), f' recomputed from x alone (see the methods)
      case "Gelu" ->
          accumulate(
              a,
              n.attr("approximate").equals("tanh") ? geluTanhGrad(a, gy) : geluErfGrad(a, gy),
              live);
      case "Silu" -> accumulate(a, siluGrad(a, gy), live);
      // layer and RMS normalisation: recomputed from x and gamma (see normGrad)
      case "LayerNormalization", "RMSNormalization" -> normGrad(n, gy, live);
      // d sign(x) = 0 almost everywhere: nothing flows back
      case "Sign" -> {}
      // d |x| = g sign(x)
      case "Abs" -> accumulate(a, g.mul(gy, g.sign(a)), live);
      // d clip(x) = g where lo <= x <= hi
      case "Clip" -> {
        Tensor inside =
            g.and(
                g.not(g.less(a, scalarLike(n.doubleAttr("min"), a))),
                g.not(g.greater(a, scalarLike(n.doubleAttr("max"), a))));
        accumulate(a, g.where(inside, gy, zero(gy)), live);
      }
      // d cast(x) = cast back
      case "Cast" -> accumulate(a, g.cast(gy, a.dtype()), live);
      // d sum(x) = g broadcast back over the reduced axes
      case "ReduceSum" -> accumulate(a, g.expand(keepDims(n, gy), a.shape()), live);
      // d max(x) = g where x equals the maximum (every tied element gets it)
      case "ReduceMax" -> {
        Tensor hit = g.cast(g.equal(a, keepDims(n, y)), a.dtype());
        accumulate(a, g.mul(hit, keepDims(n, gy)), live);
      }
      // softmax: dx = y (g - sum(g y))
      case "Softmax" -> {
        int axis = (int) n.longAttr("axis");
        Tensor dot = g.reduceSum(g.mul(gy, y), true, axis);
        accumulate(a, g.mul(y, g.sub(gy, dot)), live);
      }
      // log-softmax: dx = g - e^y sum(g) (for a g scattered along the axis, see backwardSparse)
      case "LogSoftmax" -> {
        int axis = (int) n.longAttr("axis");
        accumulate(a, g.sub(gy, g.mul(g.exp(y), g.reduceSum(gy, true, axis))), live);
      }
      case "After" -> accumulate(a, gy, live);
      // y = a b: da = g b^T, db = a^T g (reduced over broadcast batch axes); a frozen operand
      // computed through after() is computed again after g (Graph.recompute)
      case "MatMul" -> {
        if (live.contains(a)) {
          Tensor w = live.contains(b) ? b : g.recompute(b, gy);
          accumulateSum(a, g.matmul(gy, g.transposeLast2(w)), live);
        }
        if (live.contains(b)) {
          Tensor x = live.contains(a) ? a : g.recompute(a, gy);
          accumulateSum(b, g.matmul(g.transposeLast2(x), gy), live);
        }
      }
      case "Gemm" -> gemm(n, gy, live);
      // gather rows: d data = scatter-add of g at the indices (repeated indices accumulate), kept
      // sparse until needed
      case "Gather" -> {
        if (n.longAttr("axis") != 0) {
          throw new IllegalArgumentException(
              "Gather: gradients are supported along axis 0 only, got " + n);
        }
        Tensor idx = b.dtype() == DType.INT64 ? b : g.cast(b, DType.INT64);
        accumulate(a, new Scatter(g.unsqueeze(idx, -1), gy, ROWS), live);
      }
      // d data = scatter-add of g along the axis, kept sparse until needed
      case "GatherElements" -> accumulate(a, new Scatter(b, gy, (int) n.longAttr("axis")), live);
      // shape ops: apply the inverse to g
      case "Reshape" -> accumulate(a, g.reshape(gy, a.shape().dims().toArray()), live);
      case "Expand" -> accumulateSum(a, gy, live);
      case "Squeeze" -> accumulate(a, g.unsqueeze(gy, toInts(n.longsAttr("axes"))), live);
      case "Unsqueeze" -> accumulate(a, g.squeeze(gy, toInts(n.longsAttr("axes"))), live);
      case "Transpose" -> {
        long[] perm = n.longsAttr("perm");
        int[] inverse = new int[perm.length];
        for (int i = 0; i < perm.length; i++) {
          inverse[(int) perm[i]] = i;
        }
        accumulate(a, g.transpose(gy, inverse), live);
      }
      // d slice = g padded back with zeros
      case "Slice" -> {
        int axis = (int) n.longAttr("axis");
        long size = a.shape().dim(axis).size();
        accumulate(a, g.pad(gy, axis, n.longAttr("start"), size - n.longAttr("end")), live);
      }
      // d pad = the middle of g
      case "Pad" -> {
        int axis = (int) n.longAttr("axis");
        long before = n.longAttr("before");
        accumulate(a, g.slice(gy, axis, before, before + a.shape().dim(axis).size()), live);
      }
      // d concat = consecutive slices of g
      case "Concat" -> {
        int axis = (int) n.longAttr("axis");
        long offset = 0;
        for (Tensor x : n.inputs()) {
          Dim d = x.shape().dim(axis);
          if (!d.isFixed()) {
            throw new IllegalArgumentException(
                "Concat: cannot differentiate along symbolic axis " + axis + " of " + x);
          }
          if (live.contains(x)) {
            accumulate(x, g.slice(gy, axis, offset, offset + d.size()), live);
          }
          offset += d.size();
        }
      }
      default -> {
        if (n.inputs().stream().anyMatch(live::contains)) {
          throw new IllegalArgumentException("No gradient rule for op " + n.op() + " (" + n + ")");
        }
      }
    }
  }

  /**
   * y = op(A) op(B) + C. With g = dL/dy: dA = g op(B)^T (transposed back if transA), dB = op(A)^T g
   * (transposed back if transB), dC = sum of g. Each is one Gemm with transpose flags, so weights
   * are read as stored.
   */
  private void gemm(Node n, Tensor gy, Set<Tensor> live) {
    Tensor a = n.input(0);
    Tensor b = n.input(1);
    boolean ta = n.longAttr("transA") == 1;
    boolean tb = n.longAttr("transB") == 1;
    // The other operand, when frozen and computed through after(), is computed again after g.
    if (live.contains(a)) {
      Tensor w = live.contains(b) ? b : g.recompute(b, gy);
      accumulate(a, ta ? g.gemm(w, gy, null, tb, true) : g.gemm(gy, w, null, false, !tb), live);
    }
    if (live.contains(b)) {
      Tensor x = live.contains(a) ? a : g.recompute(a, gy);
      accumulate(b, tb ? g.gemm(gy, x, null, true, ta) : g.gemm(x, gy, null, !ta, false), live);
    }
    if (n.inputs().size() == 3) {
      accumulateSum(n.input(2), gy, live);
    }
  }

  // The activations' rules recompute what they need from x, so that the forward keeps only x alive
  // for them, and each spends as few full-size passes as it can (scalar operands are free). Their
  // first op on x differs from every op of the forward's lowering (OnnxLowering.gelu, Silu), so
  // that ONNX Runtime's common-subexpression elimination cannot merge the recomputation into the
  // forward, which would keep the forward's intermediates alive after all and stop ONNX Runtime
  // from fusing the forward into one kernel.

  /**
   * GELU, tanh form: {@code f = x s} with {@code s = sigmoid(q)}, {@code q = 2k (x + c x^3)}
   * ({@code k = sqrt(2/pi)}, {@code c = 0.044715}), so {@code f' = s (1 + (1 - s) x q')}. With
   * {@code a = γx}, {@code γ = (2kc)^(1/3)} and {@code b = a^2 + 2k/γ}: {@code q = a b} and {@code
   * x q' = a (3b - 4k/γ)}. 13 passes: a, a², b, q, s; 3b - 4k/γ, x q'; 1 - s, (1 - s) x q', + 1, ·
   * s, · g.
   */
  private Tensor geluTanhGrad(Tensor x, Tensor gy) {
    double k = Math.sqrt(2 / Math.PI);
    double gamma = Math.cbrt(2 * k * 0.044715);
    double beta = 2 * k / gamma;
    Tensor a = g.mul(x, gamma);
    Tensor b = g.add(g.mul(a, a), beta);
    Tensor s = g.sigmoid(g.mul(a, b));
    Tensor xq = g.mul(a, g.add(g.mul(b, 3.0), -2 * beta)); // x q'
    Tensor inner = g.add(g.mul(g.sub(one(s), s), xq), 1.0); // 1 + (1 - s) x q'
    return g.mul(gy, g.mul(s, inner));
  }

  /**
   * GELU, exact: {@code f = x Φ(x)}, {@code f' = Φ(x) + x φ(x)} with {@code Φ(x) = (1 + erf(x /
   * sqrt 2)) / 2}, {@code φ(x) = e^(-x^2/2) / sqrt(2 pi)}. With {@code m = -x / sqrt 2}: {@code Φ =
   * (1 - erf(m)) / 2} and {@code x φ = x / e^(m^2) / sqrt(2 pi)} (a Div instead of a Neg and a Mul;
   * for large |x|, x / inf = 0 is the right limit). 10 passes: m, erf, m², exp, x / exp; · 1/sqrt(2
   * pi), erf · -1/2, + 1/2, sum, · g.
   */
  private Tensor geluErfGrad(Tensor x, Tensor gy) {
    Tensor m = g.mul(x, -1 / Math.sqrt(2));
    Tensor phi = g.add(g.mul(g.erf(m), -0.5), 0.5); // Φ(x)
    Tensor xDensity = g.mul(g.div(x, g.exp(g.mul(m, m))), 1 / Math.sqrt(2 * Math.PI)); // x φ(x)
    return g.mul(gy, g.add(phi, xDensity));
  }

  /**
   * SiLU: {@code f = x s}, {@code s = sigmoid(x)}, {@code f' = s (1 + x (1 - s))}, with {@code 1 -
   * s = sigmoid(-x)} computed first (a Sigmoid of x itself would be merged with the forward's). 7
   * passes: -x, t = sigmoid(-x), 1 - t, x t, + 1, product, · g.
   */
  private Tensor siluGrad(Tensor x, Tensor gy) {
    Tensor t = g.sigmoid(g.neg(x)); // 1 - s
    Tensor s = g.sub(one(t), t);
    return g.mul(gy, g.mul(s, g.add(g.mul(x, t), 1.0)));
  }

  /**
   * Layer normalisation {@code y = xc r γ + β} with {@code xc = x - mean(x)}, and RMS normalisation
   * {@code y = x r γ} (there {@code xc = x}), with {@code r = 1 / sqrt(mean(xc^2) + eps)} over the
   * last axis (size d). With {@code u = g γ}, {@code s = sum(u xc)} and {@code k = r^3 s / d}:
   *
   * <pre>
   * dx = (u - mean(u)) r - xc k     (RMS: u r - xc k)
   * dγ = sum over rows of g xc r
   * dβ = sum over rows of g
   * </pre>
   *
   * The rule reads only x and γ: it recomputes the mean and r (reductions to (..., 1)), so the
   * forward keeps no intermediate alive for it, and its first ops on x (ReduceSum for the mean, Mul
   * for the squares) are none of the forward lowering's (LayerNormalization, or ReduceMean and Pow
   * for RMS in float32; ReduceMean and ReduceSumSquare in other dtypes), so that ONNX Runtime's
   * common-subexpression elimination cannot merge them. It emits only what a live input needs.
   * Passes over x's size for dx: layer norm 8 (xc, xc², u, u xc, u - mean(u), · r, xc k, -), RMS 6
   * (x², u, u x, u r, x k, -). When γ is trainable, {@code g xc} replaces {@code u xc} and serves
   * both {@code s = (g xc) γ} (a MatMul by γ as a column) and {@code dγ = rᵀ (g xc)} (a Gemm over
   * the rows), so dγ costs no pass of its own.
   */
  private void normGrad(Node n, Tensor gy, Set<Tensor> live) {
    Tensor x = n.input(0);
    Tensor gamma = n.input(1);
    Tensor beta = n.inputs().size() > 2 ? n.input(2) : null;
    boolean centre = n.op().equals("LayerNormalization");
    if (beta != null && live.contains(beta)) {
      accumulate(beta, sumRows(gy), live);
    }
    boolean dx = live.contains(x);
    boolean dGamma = live.contains(gamma);
    if (!dx && !dGamma) {
      return;
    }
    long d = x.shape().dim(-1).size();
    Tensor perD = g.scalar(1.0 / d, x.dtype());
    Tensor xc = centre ? g.sub(x, g.mul(g.reduceSum(x, true, -1), perD)) : x;
    Tensor meanSquare = g.mul(g.reduceSum(g.mul(xc, xc), true, -1), perD); // (..., 1)
    Tensor r = g.reciprocal(g.sqrt(g.add(meanSquare, n.doubleAttr("epsilon")))); // (..., 1)
    Tensor gxc = dGamma ? g.mul(gy, xc) : null;
    if (dGamma) {
      // dγ = rᵀ (g xc) over the rows (N = product of the leading axes)
      Tensor rows = g.reshape(r, -1, 1); // (N, 1)
      Tensor gxcRows = g.reshape(gxc, -1, d); // (N, d)
      accumulate(gamma, g.reshape(g.gemm(rows, gxcRows, null, true, false), d), live);
    }
    if (!dx) {
      return;
    }
    Tensor u = g.mul(gy, gamma);
    Tensor s; // sum(u xc), (..., 1)
    if (gxc != null && x.rank() >= 2) {
      s = g.matmul(gxc, g.reshape(gamma, d, 1));
    } else {
      s = g.reduceSum(g.mul(u, xc), true, -1);
    }
    Tensor k = g.mul(g.mul(r, r), g.mul(r, g.mul(s, perD))); // r^3 s / d, (..., 1)
    Tensor centredU = centre ? g.sub(u, g.mul(g.reduceSum(u, true, -1), perD)) : u;
    accumulate(x, g.sub(g.mul(centredU, r), g.mul(xc, k)), live);
  }

  /** {@code t} summed over all axes but the last. */
  private Tensor sumRows(Tensor t) {
    if (t.rank() == 1) {
      return t;
    }
    int[] lead = new int[t.rank() - 1];
    for (int i = 0; i < lead.length; i++) {
      lead[i] = i;
    }
    return g.reduceSum(t, false, lead);
  }

  /** Sums {@code t} over the axes along which {@code target} was broadcast to t's shape. */
  private Tensor sumTo(Tensor t, Shape target) {
    if (t.shape().equals(target)) {
      return t;
    }
    int extra = t.rank() - target.rank();
    List<Integer> axes = new ArrayList<>();
    for (int i = 0; i < t.rank(); i++) {
      if (i < extra
          || (target.dim(i - extra).equals(Dim.of(1)) && !t.shape().dim(i).equals(Dim.of(1)))) {
        axes.add(i);
      }
    }
    Tensor r =
        axes.isEmpty()
            ? t
            : g.reduceSum(t, true, axes.stream().mapToInt(Integer::intValue).toArray());
    if (extra > 0) {
      int[] lead = new int[extra];
      for (int i = 0; i < extra; i++) {
        lead[i] = i;
      }
      r = g.squeeze(r, lead);
    }
    return r;
  }

  /** The reduction result {@code t} with the reduced axes restored as size 1. */
  private Tensor keepDims(Node reduce, Tensor t) {
    return reduce.longAttr("keepdims") == 1 ? t : g.unsqueeze(t, toInts(reduce.longsAttr("axes")));
  }

  private Tensor zero(Tensor like) {
    return scalarLike(0, like);
  }

  private Tensor one(Tensor like) {
    return scalarLike(1, like);
  }

  private Tensor scalarLike(double v, Tensor like) {
    return g.scalar(v, like.dtype());
  }

  private static int[] toInts(long[] v) {
    int[] r = new int[v.length];
    for (int i = 0; i < v.length; i++) {
      r[i] = (int) v[i];
    }
    return r;
  }
}
