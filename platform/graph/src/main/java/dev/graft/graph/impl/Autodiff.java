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
 */
public final class Autodiff {
  private final Graph g;
  private final Map<Tensor, Tensor> grads = new IdentityHashMap<>();

  private Autodiff(Graph g) {
    this.g = g;
  }

  /** Gradients of {@code loss} (one element) for each tensor of {@code wrt} that it depends on. */
  public static Map<Tensor, Tensor> gradients(Graph graph, Tensor loss, List<Tensor> wrt) {
    if (!loss.shape().isFixed() || loss.shape().numel().size() != 1 || !loss.dtype().isFloating()) {
      throw new IllegalArgumentException(
          "The loss must be one floating-point element, got " + loss);
    }
    List<Node> forward = List.copyOf(graph.nodes());
    // Tensors that depend on a trainable: only these carry gradients.
    Set<Tensor> live = Collections.newSetFromMap(new IdentityHashMap<>());
    live.addAll(wrt);
    for (Node n : forward) {
      if (n.output().dtype().isFloating() && n.inputs().stream().anyMatch(live::contains)) {
        live.add(n.output());
      }
    }
    Autodiff ad = new Autodiff(graph);
    if (!live.contains(loss)) {
      return Map.of();
    }
    ad.grads.put(loss, graph.fill(loss.shape(), loss.dtype(), 1.0));
    for (int i = forward.size() - 1; i >= 0; i--) {
      Node n = forward.get(i);
      Tensor gy = ad.grads.get(n.output());
      if (gy != null) {
        ad.backward(n, gy, live);
      }
    }
    Map<Tensor, Tensor> out = new LinkedHashMap<>();
    for (Tensor w : wrt) {
      if (ad.grads.containsKey(w)) {
        out.put(w, ad.grads.get(w));
      }
    }
    return out;
  }

  private void accumulate(Tensor x, Tensor dx, Set<Tensor> live) {
    if (!live.contains(x)) {
      return;
    }
    if (!dx.shape().equals(x.shape())) {
      throw new IllegalStateException("Gradient of " + x + " has shape " + dx.shape());
    }
    Tensor prev = grads.get(x);
    grads.put(x, prev == null ? dx : g.add(prev, dx));
  }

  private void backward(Node n, Tensor gy, Set<Tensor> live) {
    Tensor y = n.output();
    Tensor a = n.inputs().isEmpty() ? null : n.input(0);
    Tensor b = n.inputs().size() > 1 ? n.input(1) : null;
    switch (n.op()) {
      // d(a+b) = g, reduced to each operand's shape where it was broadcast
      case "Add" -> {
        accumulate(a, sumTo(gy, a.shape()), live);
        accumulate(b, sumTo(gy, b.shape()), live);
      }
      // d(a-b) = (g, -g)
      case "Sub" -> {
        accumulate(a, sumTo(gy, a.shape()), live);
        if (live.contains(b)) {
          accumulate(b, sumTo(g.neg(gy), b.shape()), live);
        }
      }
      // d(ab) = (g b, g a)
      case "Mul" -> {
        if (live.contains(a)) {
          accumulate(a, sumTo(g.mul(gy, b), a.shape()), live);
        }
        if (live.contains(b)) {
          accumulate(b, sumTo(g.mul(gy, a), b.shape()), live);
        }
      }
      // d(a/b) = (g / b, -g y / b)
      case "Div" -> {
        if (live.contains(a)) {
          accumulate(a, sumTo(g.div(gy, b), a.shape()), live);
        }
        if (live.contains(b)) {
          accumulate(b, sumTo(g.neg(g.div(g.mul(gy, y), b)), b.shape()), live);
        }
      }
      // d(a^b) = (g b a^(b-1), g y ln a)
      case "Pow" -> {
        if (live.contains(a)) {
          accumulate(a, sumTo(g.mul(gy, g.mul(b, g.pow(a, g.sub(b, one(b))))), a.shape()), live);
        }
        if (live.contains(b)) {
          accumulate(b, sumTo(g.mul(gy, g.mul(y, g.log(a))), b.shape()), live);
        }
      }
      // d max(a,b) = g to a where a >= b, else to b; min likewise with a <= b
      case "Max", "Min" -> {
        Tensor toA = n.op().equals("Max") ? g.not(g.less(a, b)) : g.not(g.greater(a, b));
        accumulate(a, sumTo(g.where(toA, gy, zero(gy)), a.shape()), live);
        accumulate(b, sumTo(g.where(toA, zero(gy), gy), b.shape()), live);
      }
      // d where(c, a, b) = (g where c, g where not c)
      case "Where" -> {
        Tensor c = n.input(0);
        Tensor x1 = n.input(1);
        Tensor x2 = n.input(2);
        accumulate(x1, sumTo(g.where(c, gy, zero(gy)), x1.shape()), live);
        accumulate(x2, sumTo(g.where(c, zero(gy), gy), x2.shape()), live);
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
      // log-softmax: dx = g - e^y sum(g)
      case "LogSoftmax" -> {
        int axis = (int) n.longAttr("axis");
        accumulate(a, g.sub(gy, g.mul(g.exp(y), g.reduceSum(gy, true, axis))), live);
      }
      // y = a b: da = g b^T, db = a^T g (reduced over broadcast batch axes)
      case "MatMul" -> {
        if (live.contains(a)) {
          accumulate(a, sumTo(g.matmul(gy, g.transposeLast2(b)), a.shape()), live);
        }
        if (live.contains(b)) {
          accumulate(b, sumTo(g.matmul(g.transposeLast2(a), gy), b.shape()), live);
        }
      }
      case "Gemm" -> gemm(n, gy, live);
      // gather rows: d data = scatter-add of g at the indices (repeated indices accumulate)
      case "Gather" -> {
        if (n.longAttr("axis") != 0) {
          throw new IllegalArgumentException(
              "Gather: gradients are supported along axis 0 only, got " + n);
        }
        Tensor idx = b.dtype() == DType.INT64 ? b : g.cast(b, DType.INT64);
        Tensor zeros = g.fill(a.shape(), a.dtype(), 0);
        accumulate(a, g.scatterNdAdd(zeros, g.unsqueeze(idx, -1), gy), live);
      }
      // d data = scatter-add of g along the axis
      case "GatherElements" -> {
        Tensor zeros = g.fill(a.shape(), a.dtype(), 0);
        accumulate(a, g.scatterElementsAdd(zeros, b, gy, (int) n.longAttr("axis")), live);
      }
      // shape ops: apply the inverse to g
      case "Reshape" -> accumulate(a, g.reshape(gy, a.shape().dims().toArray()), live);
      case "Expand" -> accumulate(a, sumTo(gy, a.shape()), live);
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
    if (live.contains(a)) {
      accumulate(a, ta ? g.gemm(b, gy, null, tb, true) : g.gemm(gy, b, null, false, !tb), live);
    }
    if (live.contains(b)) {
      accumulate(b, tb ? g.gemm(gy, a, null, true, ta) : g.gemm(a, gy, null, !ta, false), live);
    }
    if (n.inputs().size() == 3) {
      accumulate(n.input(2), sumTo(gy, n.input(2).shape()), live);
    }
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
