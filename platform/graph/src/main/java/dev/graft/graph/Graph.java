package dev.graft.graph;

import dev.graft.graph.impl.Autodiff;
import dev.graft.graph.impl.OnnxLowering;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.Set;
import java.util.TreeSet;

/**
 * A tensor graph under construction. Every op method checks dtypes and shapes at build time and
 * throws {@link IllegalArgumentException} naming the op and the offending shapes. Nodes are kept in
 * creation order, which is a topological order.
 *
 * <p>Sources are graph {@linkplain #input inputs} (fed per step), {@linkplain #parameter
 * parameters} (named weights, each frozen or trainable) and {@linkplain #constant constants}. Ops
 * are the primitives that lower one-to-one to ONNX ops (plus a few with a fixed small lowering,
 * such as the activations {@link #gelu} and {@link #silu} and the normalisations {@link #layerNorm}
 * and {@link #rmsNorm}), and composites built from them ({@link #crossEntropy}, {@link #rope},
 * ...), which are differentiated through their primitives.
 */
public final class Graph {
  private final List<Node> nodes = new ArrayList<>();
  private final Map<String, Tensor> byName = new LinkedHashMap<>();
  private final Map<Tensor, Node> producers = new IdentityHashMap<>();
  private final List<Tensor> inputs = new ArrayList<>();
  private final Map<Tensor, Boolean> parameters = new LinkedHashMap<>();
  private final Map<String, Tensor> outputs = new LinkedHashMap<>();
  private int counter;

  // ---------------------------------------------------------------- sources and structure

  /** Declares a graph input fed at every run. */
  public Tensor input(String name, DType dtype, Shape shape) {
    Tensor t = newTensor(name, dtype, shape);
    inputs.add(t);
    return t;
  }

  /**
   * Declares a named weight. Trainable parameters become step inputs (and, in a training step,
   * updated outputs); frozen ones become external-data initializers supplied by the runtime.
   */
  public Tensor parameter(String name, DType dtype, Shape shape, boolean trainable) {
    if (!shape.isFixed()) {
      throw new IllegalArgumentException(
          "Parameter \"" + name + "\" needs a fixed shape, got " + shape);
    }
    Tensor t = newTensor(name, dtype, shape);
    parameters.put(t, trainable);
    return t;
  }

  /** Marks a parameter trainable or frozen. */
  public void setTrainable(Tensor parameter, boolean trainable) {
    if (!parameters.containsKey(parameter)) {
      throw new IllegalArgumentException(parameter.name() + " is not a parameter of this graph");
    }
    parameters.put(parameter, trainable);
  }

  /** Whether {@code t} is a trainable parameter. */
  public boolean isTrainable(Tensor t) {
    return Boolean.TRUE.equals(parameters.get(t));
  }

  /** A constant with inline data (keep these small; large weights are parameters). */
  public Tensor constant(NdArray value) {
    return op("Constant", Map.of("value", value), value.dtype(), Shape.of(value.shape()));
  }

  /** A scalar constant. */
  public Tensor scalar(double value, DType dtype) {
    return constant(NdArray.scalar(dtype, value));
  }

  /** Names {@code tensor} as a graph output. */
  public void output(String name, Tensor tensor) {
    own(tensor);
    if (outputs.containsKey(name)) {
      throw new IllegalArgumentException("Output \"" + name + "\" is already declared");
    }
    outputs.put(name, tensor);
  }

  /**
   * Takes {@code name} out of the outputs (its value stays in the graph for whatever uses it): an
   * output nobody fetches still costs the runtime a buffer and a write on every run.
   *
   * @throws IllegalArgumentException when there is no such output
   */
  public void removeOutput(String name) {
    if (outputs.remove(name) == null) {
      throw new IllegalArgumentException(
          "No output \"" + name + "\"; outputs: " + outputs.keySet() + ".");
    }
  }

  /** All nodes in topological (creation) order. */
  public List<Node> nodes() {
    return Collections.unmodifiableList(nodes);
  }

  /** Graph inputs in declaration order. */
  public List<Tensor> inputs() {
    return Collections.unmodifiableList(inputs);
  }

  /** All parameters in declaration order. */
  public List<Tensor> parameters() {
    return List.copyOf(parameters.keySet());
  }

  /** The trainable parameters in declaration order. */
  public List<Tensor> trainables() {
    return parameters.keySet().stream().filter(this::isTrainable).toList();
  }

  /** Outputs by name, in declaration order. */
  public Map<String, Tensor> outputs() {
    return Collections.unmodifiableMap(outputs);
  }

  /** The node that computes {@code t}, or {@code null} for inputs and parameters. */
  public Node producer(Tensor t) {
    return producers.get(own(t));
  }

  /** The tensor with this name; throws if there is none. */
  public Tensor tensor(String name) {
    Tensor t = byName.get(name);
    if (t == null) {
      throw new IllegalArgumentException("No tensor named \"" + name + "\" in this graph");
    }
    return t;
  }

  /**
   * Rewires every use of {@code old} (node inputs and graph outputs) to {@code replacement}, except
   * uses inside the computation of {@code replacement} itself. This is how a method swaps a frozen
   * weight for a dequantised one ({@code W -> nf4Dequantize(...)}) or wraps an op's result ({@code
   * y -> y + lora(x)}, which reads y). Nodes are then re-sorted into a topological order.
   */
  public void replaceUses(Tensor old, Tensor replacement) {
    own(old);
    own(replacement);
    if (old.dtype() != replacement.dtype() || !old.shape().equals(replacement.shape())) {
      throw new IllegalArgumentException(
          "Cannot replace " + old + " by " + replacement + ": dtype and shape must match");
    }
    Set<Node> ancestors = Collections.newSetFromMap(new IdentityHashMap<>());
    List<Tensor> stack = new ArrayList<>(List.of(replacement));
    while (!stack.isEmpty()) {
      Node n = producers.get(stack.remove(stack.size() - 1));
      if (n != null && ancestors.add(n)) {
        stack.addAll(n.inputs());
      }
    }
    for (int i = 0; i < nodes.size(); i++) {
      Node n = nodes.get(i);
      if (!ancestors.contains(n) && n.inputs().contains(old)) {
        List<Tensor> in = n.inputs().stream().map(t -> t == old ? replacement : t).toList();
        Node rewired = new Node(n.op(), in, n.outputs(), n.attributes());
        nodes.set(i, rewired);
        producers.put(rewired.output(), rewired);
      }
    }
    outputs.replaceAll((name, t) -> t == old ? replacement : t);
    sortNodes();
    if (!producers.containsKey(old) && nodes.stream().noneMatch(n -> n.inputs().contains(old))) {
      // A parameter or input nothing reads any more leaves the graph (the runtime need not supply
      // it).
      parameters.remove(old);
      inputs.remove(old);
      byName.remove(old.name());
    }
  }

  /** Stable topological sort (Kahn, earliest-created first). */
  private void sortNodes() {
    Map<Node, Integer> pending = new IdentityHashMap<>();
    Map<Tensor, List<Node>> consumers = new IdentityHashMap<>();
    for (Node n : nodes) {
      int count = 0;
      for (Tensor t : n.inputs()) {
        if (producers.containsKey(t)) {
          consumers.computeIfAbsent(t, k -> new ArrayList<>()).add(n);
          count++;
        }
      }
      pending.put(n, count);
    }
    Map<Node, Integer> order = new IdentityHashMap<>();
    for (int i = 0; i < nodes.size(); i++) {
      order.put(nodes.get(i), i);
    }
    PriorityQueue<Node> ready = new PriorityQueue<>(Comparator.comparing(order::get));
    nodes.stream().filter(n -> pending.get(n) == 0).forEach(ready::add);
    List<Node> sorted = new ArrayList<>();
    while (!ready.isEmpty()) {
      Node n = ready.poll();
      sorted.add(n);
      for (Node c : consumers.getOrDefault(n.output(), List.of())) {
        if (pending.merge(c, -1, Integer::sum) == 0) {
          ready.add(c);
        }
      }
    }
    if (sorted.size() != nodes.size()) {
      throw new IllegalStateException("The graph has a cycle after rewiring");
    }
    nodes.clear();
    nodes.addAll(sorted);
  }

  /**
   * Reverse-mode gradients of a one-element {@code loss} with respect to every trainable parameter
   * it depends on. The backward ops are appended to this graph; only nodes that lie between a
   * trainable and the loss are differentiated, and frozen weights get no gradient.
   */
  public Map<Tensor, Tensor> gradients(Tensor loss) {
    return Autodiff.gradients(this, own(loss), trainables());
  }

  /**
   * This graph as ONNX {@code ModelProto} bytes (IR version 8, opset 17). Inputs and trainable
   * parameters become graph inputs, frozen parameters external-data initializers, constants inline
   * initializers, symbolic dimensions {@code dim_param}.
   */
  public byte[] toOnnx() {
    return toOnnx(Map.of());
  }

  /**
   * As {@link #toOnnx()}, with the frozen parameters named in {@code files} declared where their
   * bytes lie, so that the runtime reads them from those files (relative to the folder the backend
   * is given) instead of taking them from the caller.
   *
   * @throws IllegalArgumentException when a key is not a frozen parameter, or its length does not
   *     match the parameter's bytes
   */
  public byte[] toOnnx(Map<String, ExternalData> files) {
    return OnnxLowering.lower(this, files);
  }

  // ---------------------------------------------------------------- elementwise

  /** {@code -x}. */
  public Tensor neg(Tensor x) {
    return unaryFloat("Neg", x);
  }

  /** {@code sqrt(x)}. */
  public Tensor sqrt(Tensor x) {
    return unaryFloat("Sqrt", x);
  }

  /** {@code 1 / sqrt(x)}. */
  public Tensor rsqrt(Tensor x) {
    return reciprocal(sqrt(x));
  }

  /** {@code 1 / x}. */
  public Tensor reciprocal(Tensor x) {
    return unaryFloat("Reciprocal", x);
  }

  /** {@code e^x}. */
  public Tensor exp(Tensor x) {
    return unaryFloat("Exp", x);
  }

  /** Natural logarithm. */
  public Tensor log(Tensor x) {
    return unaryFloat("Log", x);
  }

  /** Hyperbolic tangent. */
  public Tensor tanh(Tensor x) {
    return unaryFloat("Tanh", x);
  }

  /** {@code 1 / (1 + e^-x)}. */
  public Tensor sigmoid(Tensor x) {
    return unaryFloat("Sigmoid", x);
  }

  /** The Gauss error function (ORT 1.23 CPU has no float64 kernel for it; float32 works). */
  public Tensor erf(Tensor x) {
    return unaryFloat("Erf", x);
  }

  /** {@code |x|}. */
  public Tensor abs(Tensor x) {
    return op("Abs", Map.of(), x.dtype(), x.shape(), x);
  }

  /** The sign, -1, 0 or 1 (no gradient). */
  public Tensor sign(Tensor x) {
    return op("Sign", Map.of(), x.dtype(), x.shape(), x);
  }

  /** Logical not of a BOOL tensor. */
  public Tensor not(Tensor x) {
    requireDType("Not", x, DType.BOOL);
    return op("Not", Map.of(), DType.BOOL, x.shape(), x);
  }

  /** {@code a + b} with broadcasting. */
  public Tensor add(Tensor a, Tensor b) {
    return binary("Add", a, b);
  }

  /** {@code x + c} for a scalar of the same dtype. */
  public Tensor add(Tensor x, double c) {
    return add(x, scalar(c, x.dtype()));
  }

  /** {@code a - b} with broadcasting. */
  public Tensor sub(Tensor a, Tensor b) {
    return binary("Sub", a, b);
  }

  /** {@code a * b} with broadcasting. */
  public Tensor mul(Tensor a, Tensor b) {
    return binary("Mul", a, b);
  }

  /** {@code x * c} for a scalar of the same dtype. */
  public Tensor mul(Tensor x, double c) {
    return mul(x, scalar(c, x.dtype()));
  }

  /** {@code a / b} with broadcasting (integer division truncates, as in ONNX). */
  public Tensor div(Tensor a, Tensor b) {
    return binary("Div", a, b);
  }

  /** {@code a ^ b} with broadcasting. */
  public Tensor pow(Tensor a, Tensor b) {
    requireFloat("Pow", a);
    return binary("Pow", a, b);
  }

  /** {@code x ^ p} for a scalar exponent. */
  public Tensor pow(Tensor x, double p) {
    return pow(x, scalar(p, x.dtype()));
  }

  /** Elementwise maximum with broadcasting. */
  public Tensor max(Tensor a, Tensor b) {
    return binary("Max", a, b);
  }

  /** Elementwise minimum with broadcasting. */
  public Tensor min(Tensor a, Tensor b) {
    return binary("Min", a, b);
  }

  /** Integer modulus with the sign of the divisor (ONNX {@code Mod}, fmod=0). */
  public Tensor mod(Tensor a, Tensor b) {
    if (a.dtype().isFloating()) {
      throw new IllegalArgumentException("Mod: needs an integer dtype, got " + a.dtype());
    }
    return binary("Mod", a, b);
  }

  /** {@code a == b} as BOOL. */
  public Tensor equal(Tensor a, Tensor b) {
    return compare("Equal", a, b);
  }

  /** {@code a < b} as BOOL. */
  public Tensor less(Tensor a, Tensor b) {
    return compare("Less", a, b);
  }

  /** {@code a > b} as BOOL. */
  public Tensor greater(Tensor a, Tensor b) {
    return compare("Greater", a, b);
  }

  /** Logical and of two BOOL tensors. */
  public Tensor and(Tensor a, Tensor b) {
    requireDType("And", a, DType.BOOL);
    return binary("And", a, b);
  }

  /** {@code cond ? a : b} with broadcasting of all three. */
  public Tensor where(Tensor cond, Tensor a, Tensor b) {
    requireDType("Where", cond, DType.BOOL);
    sameDType("Where", a, b);
    Shape ab = broadcastOrThrow("Where", a.shape(), b.shape());
    Shape out = broadcastOrThrow("Where", cond.shape(), ab);
    return op("Where", Map.of(), a.dtype(), out, cond, a, b);
  }

  /** Clamps {@code x} into {@code [lo, hi]}. */
  public Tensor clip(Tensor x, double lo, double hi) {
    requireFloat("Clip", x);
    if (lo > hi) {
      throw new IllegalArgumentException("Clip: min " + lo + " is greater than max " + hi);
    }
    return op("Clip", Map.of("min", lo, "max", hi), x.dtype(), x.shape(), x);
  }

  /**
   * Converts to another dtype. Float to integer truncates toward zero; a value outside an integer
   * type's range wraps modulo 2^bits as in C (INT32 300 cast to UINT8 is 44, to INT8 it is 44, and
   * 200 cast to INT8 is -56); anything non-zero cast to BOOL is true. The gradient is cast back.
   */
  public Tensor cast(Tensor x, DType to) {
    return op("Cast", Map.of("to", to), to, x.shape(), x);
  }

  /**
   * {@code x} in the forward pass and a constant to differentiation: no gradient flows back through
   * it (torch's {@code detach()}). For a term that must be computed but not trained through, such
   * as DoRA's weight norm or Delta-LoRA's update of the frozen weight: the gradient of {@code x *
   * stopGradient(x)} is {@code stopGradient(x)}, not {@code 2x}. It lowers to an ONNX Identity.
   */
  public Tensor stopGradient(Tensor x) {
    return op("StopGradient", Map.of(), x.dtype(), x.shape(), x);
  }

  // ---------------------------------------------------------------- reductions and normalisers

  /** Sum over {@code axes}. */
  public Tensor reduceSum(Tensor x, boolean keepDims, int... axes) {
    return reduce("ReduceSum", x, keepDims, axes);
  }

  /** Maximum over {@code axes}. */
  public Tensor reduceMax(Tensor x, boolean keepDims, int... axes) {
    return reduce("ReduceMax", x, keepDims, axes);
  }

  /** Mean over {@code axes}: the sum divided by the (possibly symbolic) element count. */
  public Tensor reduceMean(Tensor x, boolean keepDims, int... axes) {
    Dim count = Dim.of(1);
    for (long a : normaliseAxes("ReduceMean", x.shape(), axes)) {
      count = count.times(x.shape().dim((int) a));
    }
    return div(reduceSum(x, keepDims, axes), size(count, x.dtype()));
  }

  /** Softmax along {@code axis}. */
  public Tensor softmax(Tensor x, int axis) {
    requireFloat("Softmax", x);
    return op(
        "Softmax", Map.of("axis", (long) x.shape().axis("Softmax", axis)), x.dtype(), x.shape(), x);
  }

  /** Log-softmax along {@code axis}. */
  public Tensor logSoftmax(Tensor x, int axis) {
    requireFloat("LogSoftmax", x);
    return op(
        "LogSoftmax",
        Map.of("axis", (long) x.shape().axis("LogSoftmax", axis)),
        x.dtype(),
        x.shape(),
        x);
  }

  /**
   * Layer normalisation over the last axis, one {@code LayerNormalization} op: {@code (x - mean) /
   * sqrt(var + eps) * gamma + beta}, with the biased variance (as torch.nn.LayerNorm). {@code
   * gamma} and {@code beta} have the shape of x's last axis, which must be fixed; {@code beta} may
   * be null.
   *
   * <p>Float32 lowers to ONNX's {@code LayerNormalization} (opset 17), one kernel (ONNX Runtime's
   * CPU kernel computes the variance as {@code mean(x^2) - mean^2}, which loses precision where a
   * row's mean is large against its spread); other dtypes get standard ops (ONNX's epsilon
   * attribute is a float32, which would move float64 results by 1e-14). The backward reads only
   * {@code x} and {@code gamma}, nothing of the forward's results: it recomputes the mean and
   * {@code 1/sqrt(var + eps)} from x, so the forward keeps no intermediate alive for it.
   */
  public Tensor layerNorm(Tensor x, Tensor gamma, Tensor beta, double eps) {
    String op = "LayerNormalization";
    requireNormWeight(op, x, gamma, "gamma", eps);
    if (beta == null) {
      return op(op, Map.of("epsilon", eps), x.dtype(), x.shape(), x, gamma);
    }
    requireNormWeight(op, x, beta, "beta", eps);
    return op(op, Map.of("epsilon", eps), x.dtype(), x.shape(), x, gamma, beta);
  }

  /**
   * RMS normalisation over the last axis (Llama, Mistral, Qwen2), one {@code RMSNormalization} op
   * (ONNX's name from opset 23): {@code x / sqrt(mean(x^2) + eps) * gamma}. {@code gamma} has the
   * shape of x's last axis, which must be fixed.
   *
   * <p>Float32 lowers to standard opset-17 ops in the form that ONNX Runtime's
   * SimplifiedLayerNormFusion turns into one {@code SimplifiedLayerNormalization} kernel; other
   * dtypes get standard ops that it leaves alone (the fused op would take its epsilon as a float32,
   * or as 1e-5 for a float64 constant). The backward reads only {@code x} and {@code gamma}, so the
   * forward keeps no intermediate alive for it.
   */
  public Tensor rmsNorm(Tensor x, Tensor gamma, double eps) {
    requireNormWeight("RMSNormalization", x, gamma, "gamma", eps);
    return op("RMSNormalization", Map.of("epsilon", eps), x.dtype(), x.shape(), x, gamma);
  }

  // ---------------------------------------------------------------- activations

  /**
   * GELU, one {@code Gelu} op. With {@code tanhApproximation} (GPT-2's {@code gelu_new}, torch's
   * {@code approximate="tanh"}): {@code 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))}; otherwise
   * exact: {@code 0.5 x (1 + erf(x / sqrt 2))}. Its attribute {@code approximate} is {@code "tanh"}
   * or {@code "none"}, as in ONNX opset 20.
   *
   * <p>The lowering emits standard opset-17 ops in the forms that ONNX Runtime fuses into one
   * kernel on float32 ({@code FastGelu}, {@code Gelu}); float64 gets {@code x sigmoid(x (2k + 2kc
   * x^2))} for the tanh form ({@code k = sqrt(2/pi)}, {@code c = 0.044715}; {@code 0.5 (1 + tanh z)
   * = sigmoid(2z)}). The backward reads only {@code x} and recomputes what it needs from it, so the
   * forward keeps no intermediate alive for it.
   */
  public Tensor gelu(Tensor x, boolean tanhApproximation) {
    requireFloat("Gelu", x);
    return op(
        "Gelu",
        Map.of("approximate", tanhApproximation ? "tanh" : "none"),
        x.dtype(),
        x.shape(),
        x);
  }

  /**
   * SiLU / swish, one {@code Silu} op: {@code x * sigmoid(x)}. It lowers to Sigmoid and Mul (which
   * ONNX Runtime fuses on float32); the backward reads only {@code x}, so the forward keeps no
   * sigmoid alive for it.
   */
  public Tensor silu(Tensor x) {
    return unaryFloat("Silu", x);
  }

  // ---------------------------------------------------------------- linear algebra

  /**
   * Matrix product of the last two axes with numpy broadcasting of the leading (batch) axes. Both
   * operands need rank at least 2.
   */
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

  /**
   * ONNX Gemm on 2-D operands: {@code op(a) op(b) + c}, where {@code op} transposes when asked and
   * {@code c} (nullable) broadcasts to the result.
   */
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

  /**
   * A linear layer {@code x W^T + b} with {@code W} in torch's (out, in) layout and {@code b} (out)
   * or null. Leading axes of {@code x} are flattened into one so that the product is one Gemm with
   * {@code transB=1}: forward and backward then both read W as stored (no transposed copy).
   */
  public Tensor linear(Tensor x, Tensor w, Tensor b) {
    if (w.rank() != 2) {
      throw new IllegalArgumentException("Linear: weight must be (out, in), got " + w.shape());
    }
    return flatGemm(x, w, b, true);
  }

  /**
   * GPT-2's Conv1D: {@code x W + b} with {@code W} stored (in, out) and {@code b} (out) or null, as
   * one Gemm with {@code transB=0} on {@code x} flattened to 2-D, so that the backward's {@code dy
   * W^T} reads W as stored too (a MatMul would leave ONNX Runtime a folded Wᵀ copy to keep).
   */
  public Tensor conv1d(Tensor x, Tensor w, Tensor b) {
    if (w.rank() != 2) {
      throw new IllegalArgumentException("Conv1D: weight must be (in, out), got " + w.shape());
    }
    return flatGemm(x, w, b, false);
  }

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

  // ---------------------------------------------------------------- indexing

  /**
   * ONNX Gather: picks slices of {@code data} along {@code axis} (an embedding lookup at axis 0).
   */
  public Tensor gather(Tensor data, Tensor indices, int axis) {
    requireIndex("Gather", indices);
    int ax = data.shape().axis("Gather", axis);
    List<Dim> out = new ArrayList<>(data.shape().dims().subList(0, ax));
    out.addAll(indices.shape().dims());
    out.addAll(data.shape().dims().subList(ax + 1, data.rank()));
    return op("Gather", Map.of("axis", (long) ax), data.dtype(), Shape.of(out), data, indices);
  }

  /** ONNX GatherElements: {@code out[i][j] = data[indices[i][j]][j]} for axis 0 (and likewise). */
  public Tensor gatherElements(Tensor data, Tensor indices, int axis) {
    requireIndex("GatherElements", indices);
    int ax = data.shape().axis("GatherElements", axis);
    if (indices.rank() != data.rank()) {
      throw new IllegalArgumentException(
          "GatherElements: indices "
              + indices.shape()
              + " and data "
              + data.shape()
              + " need the same rank");
    }
    return op(
        "GatherElements", Map.of("axis", (long) ax), data.dtype(), indices.shape(), data, indices);
  }

  /**
   * ONNX ScatterND with {@code reduction="add"}: adds each update slice into {@code data} at its
   * index tuple; repeated indices accumulate. {@code indices} has shape (..., k), {@code updates}
   * (..., data[k:]). The gradient of an embedding {@link #gather}.
   */
  public Tensor scatterNdAdd(Tensor data, Tensor indices, Tensor updates) {
    requireIndex("ScatterND", indices);
    sameDType("ScatterND", data, updates);
    Dim kd = indices.shape().dim(-1);
    if (!kd.isFixed() || kd.size() > data.rank()) {
      throw new IllegalArgumentException(
          "ScatterND: last axis of indices "
              + indices.shape()
              + " must be fixed and at most the rank of data "
              + data.shape());
    }
    List<Dim> want = new ArrayList<>(indices.shape().dims().subList(0, indices.rank() - 1));
    want.addAll(data.shape().dims().subList((int) kd.size(), data.rank()));
    if (!Shape.of(want).equals(updates.shape())) {
      throw new IllegalArgumentException(
          "ScatterND: updates "
              + updates.shape()
              + " must have shape "
              + Shape.of(want)
              + " for data "
              + data.shape()
              + " and indices "
              + indices.shape());
    }
    return op("ScatterND", Map.of(), data.dtype(), data.shape(), data, indices, updates);
  }

  /**
   * ONNX ScatterElements with {@code reduction="add"}: the adjoint of {@link #gatherElements};
   * {@code indices} and {@code updates} share a shape.
   */
  public Tensor scatterElementsAdd(Tensor data, Tensor indices, Tensor updates, int axis) {
    requireIndex("ScatterElements", indices);
    sameDType("ScatterElements", data, updates);
    int ax = data.shape().axis("ScatterElements", axis);
    if (!indices.shape().equals(updates.shape()) || indices.rank() != data.rank()) {
      throw new IllegalArgumentException(
          "ScatterElements: indices "
              + indices.shape()
              + " and updates "
              + updates.shape()
              + " need equal shapes of the rank of data "
              + data.shape());
    }
    return op(
        "ScatterElements",
        Map.of("axis", (long) ax),
        data.dtype(),
        data.shape(),
        data,
        indices,
        updates);
  }

  // ---------------------------------------------------------------- shape ops

  /**
   * Reshape to {@code dims} (each a {@link Dim}, a symbol name or a size; at most one {@code -1},
   * which is inferred). The element counts must agree, symbolically where dims are symbolic.
   */
  public Tensor reshape(Tensor x, Object... dims) {
    List<Dim> out = new ArrayList<>();
    int infer = -1;
    Dim known = Dim.of(1);
    for (Object d : dims) {
      if (d instanceof Number n && n.longValue() == -1) {
        if (infer >= 0) {
          throw new IllegalArgumentException(
              "Reshape: more than one -1 in " + Arrays.toString(dims));
        }
        infer = out.size();
        out.add(null);
      } else {
        Dim dim = Shape.with(d).dim(0);
        known = known.times(dim);
        out.add(dim);
      }
    }
    Dim total = x.shape().numel();
    if (infer >= 0) {
      Dim rest = total.dividedBy(known);
      if (rest == null) {
        throw new IllegalArgumentException(
            "Reshape: cannot reshape " + x.shape() + " to " + Arrays.toString(dims));
      }
      out.set(infer, rest);
    } else if (!known.equals(total)) {
      throw new IllegalArgumentException(
          "Reshape: cannot reshape "
              + x.shape()
              + " ("
              + total
              + " elements) to "
              + Shape.of(out)
              + " ("
              + known
              + " elements)");
    }
    Shape shape = Shape.of(out);
    return op("Reshape", Map.of("shape", shape), x.dtype(), shape, x);
  }

  /** Permutes axes: output axis {@code i} is input axis {@code perm[i]}. */
  public Tensor transpose(Tensor x, int... perm) {
    if (perm.length != x.rank()
        || Arrays.stream(perm).sorted().distinct().count() != x.rank()
        || Arrays.stream(perm).anyMatch(p -> p < 0 || p >= x.rank())) {
      throw new IllegalArgumentException(
          "Transpose: "
              + Arrays.toString(perm)
              + " is not a permutation of the axes of "
              + x.shape());
    }
    List<Dim> out = new ArrayList<>();
    for (int p : perm) {
      out.add(x.shape().dim(p));
    }
    return op(
        "Transpose",
        Map.of("perm", Arrays.stream(perm).asLongStream().toArray()),
        x.dtype(),
        Shape.of(out),
        x);
  }

  /** Swaps the last two axes. */
  public Tensor transposeLast2(Tensor x) {
    int[] perm = new int[x.rank()];
    for (int i = 0; i < perm.length; i++) {
      perm[i] = i;
    }
    perm[perm.length - 1] = perm.length - 2;
    perm[perm.length - 2] = perm.length - 1;
    return transpose(x, perm);
  }

  /** Elements {@code [start, end)} along {@code axis}, which must have a fixed size. */
  public Tensor slice(Tensor x, int axis, long start, long end) {
    int ax = x.shape().axis("Slice", axis);
    Dim d = x.shape().dim(ax);
    if (!d.isFixed() || start < 0 || end > d.size() || start >= end) {
      throw new IllegalArgumentException(
          "Slice: range ["
              + start
              + ", "
              + end
              + ") on axis "
              + axis
              + " is not inside "
              + x.shape()
              + " (slices need a fixed axis size)");
    }
    List<Dim> out = new ArrayList<>(x.shape().dims());
    out.set(ax, Dim.of(end - start));
    return op(
        "Slice",
        Map.of("axis", (long) ax, "start", start, "end", end),
        x.dtype(),
        Shape.of(out),
        x);
  }

  /** Zero padding: {@code before} zeros ahead of and {@code after} zeros behind {@code axis}. */
  public Tensor pad(Tensor x, int axis, long before, long after) {
    int ax = x.shape().axis("Pad", axis);
    if (before < 0 || after < 0) {
      throw new IllegalArgumentException(
          "Pad: amounts must be >= 0, got " + before + " and " + after);
    }
    List<Dim> out = new ArrayList<>(x.shape().dims());
    Dim d = out.get(ax);
    if (!d.isFixed() && before + after > 0) {
      throw new IllegalArgumentException(
          "Pad: axis " + axis + " of " + x.shape() + " must have a fixed size");
    }
    out.set(ax, d.isFixed() ? Dim.of(d.size() + before + after) : d);
    return op(
        "Pad",
        Map.of("axis", (long) ax, "before", before, "after", after),
        x.dtype(),
        Shape.of(out),
        x);
  }

  /** Concatenation along {@code axis}; other axes must agree. */
  public Tensor concat(int axis, Tensor... xs) {
    if (xs.length == 0) {
      throw new IllegalArgumentException("Concat: needs at least one tensor");
    }
    Shape first = xs[0].shape();
    int ax = first.axis("Concat", axis);
    long total = 0;
    boolean fixed = true;
    for (Tensor x : xs) {
      sameDType("Concat", xs[0], x);
      boolean ok = x.rank() == first.rank();
      for (int i = 0; ok && i < first.rank(); i++) {
        ok = i == ax || x.shape().dim(i).equals(first.dim(i));
      }
      if (!ok) {
        throw new IllegalArgumentException(
            "Concat: cannot concatenate " + first + " and " + x.shape() + " on axis " + axis);
      }
      fixed &= x.shape().dim(ax).isFixed();
      total += fixed ? x.shape().dim(ax).size() : 0;
    }
    List<Dim> out = new ArrayList<>(first.dims());
    // A concatenation of symbolic sizes gets a fresh symbol, bound when the graph runs.
    out.set(ax, fixed ? Dim.of(total) : Dim.of("concat" + counter));
    return op("Concat", Map.of("axis", (long) ax), xs[0].dtype(), Shape.of(out), xs);
  }

  /** Broadcasts {@code x} to {@code shape}. */
  public Tensor expand(Tensor x, Shape shape) {
    if (!shape.equals(Shape.broadcast(x.shape(), shape))) {
      throw new IllegalArgumentException("Expand: cannot expand " + x.shape() + " to " + shape);
    }
    return op("Expand", Map.of("shape", shape), x.dtype(), shape, x);
  }

  /** Removes the given axes, each of size 1. */
  public Tensor squeeze(Tensor x, int... axes) {
    long[] ax = normaliseAxes("Squeeze", x.shape(), axes);
    List<Dim> out = new ArrayList<>();
    for (int i = 0; i < x.rank(); i++) {
      final int axis = i;
      if (Arrays.stream(ax).anyMatch(a -> a == axis)) {
        if (!x.shape().dim(i).equals(Dim.of(1))) {
          throw new IllegalArgumentException(
              "Squeeze: axis " + i + " of " + x.shape() + " is not 1");
        }
      } else {
        out.add(x.shape().dim(i));
      }
    }
    return op("Squeeze", Map.of("axes", ax), x.dtype(), Shape.of(out), x);
  }

  /** Inserts axes of size 1 at the given positions of the output. */
  public Tensor unsqueeze(Tensor x, int... axes) {
    int rank = x.rank() + axes.length;
    long[] ax = normaliseAxes("Unsqueeze", Shape.of(new long[rank]), axes);
    if (ax.length != axes.length) {
      throw new IllegalArgumentException("Unsqueeze: repeated axes " + Arrays.toString(axes));
    }
    List<Dim> out = new ArrayList<>();
    int j = 0;
    for (int i = 0; i < rank; i++) {
      final int axis = i;
      out.add(Arrays.stream(ax).anyMatch(a -> a == axis) ? Dim.of(1) : x.shape().dim(j++));
    }
    return op("Unsqueeze", Map.of("axes", ax), x.dtype(), Shape.of(out), x);
  }

  /** The INT64 vector {@code [0, 1, ..., n-1]}. */
  public Tensor range(Dim n) {
    return op("Range", Map.of("n", n), DType.INT64, Shape.with(n));
  }

  /** A tensor of {@code shape} filled with {@code value} (ONNX ConstantOfShape). */
  public Tensor fill(Shape shape, DType dtype, double value) {
    return op("ConstantOfShape", Map.of("shape", shape, "value", value), dtype, shape);
  }

  /** A scalar holding the run-time size of a (possibly symbolic) dimension. */
  public Tensor size(Dim d, DType dtype) {
    if (d.isFixed()) {
      return scalar(d.size(), dtype);
    }
    return op("DimSize", Map.of("dim", d), dtype, Shape.scalar());
  }

  // ---------------------------------------------------------------- transformer pieces

  /**
   * Rotary position embedding in the rotate-half form (Llama, GPT-NeoX): {@code x cos + rot(x) sin}
   * with {@code rot([x1, x2]) = [-x2, x1]} over the last axis. {@code x} is (..., T, hs); {@code
   * cos} and {@code sin} broadcast to it, typically (T, hs) tables precomputed in Java. The
   * backward is the same rotation with {@code -sin}; autodiff derives it from these primitives.
   */
  public Tensor rope(Tensor x, Tensor cos, Tensor sin) {
    long hs = x.shape().dim(-1).size();
    if (hs % 2 != 0) {
      throw new IllegalArgumentException("RoPE: head size must be even, got " + x.shape());
    }
    Tensor x1 = slice(x, -1, 0, hs / 2); // (..., T, hs/2)
    Tensor x2 = slice(x, -1, hs / 2, hs); // (..., T, hs/2)
    Tensor rotated = concat(-1, neg(x2), x1); // (..., T, hs)
    return add(mul(x, cos), mul(rotated, sin));
  }

  /** A BOOL (T, T) mask, true where key position {@code j <= } query position {@code i}. */
  public Tensor causalMask(Dim t) {
    Tensor r = range(t); // (T)
    Tensor rows = unsqueeze(r, 1); // (T, 1)
    Tensor cols = unsqueeze(r, 0); // (1, T)
    return not(greater(cols, rows)); // (T, T)
  }

  /** From an attention mask (B, T) of 1 (keep) and 0 (pad), a BOOL (B, 1, 1, T) key mask. */
  public Tensor paddingMask(Tensor attentionMask) {
    Tensor keep = not(equal(attentionMask, scalar(0, attentionMask.dtype()))); // (B, T)
    return unsqueeze(keep, 1, 2); // (B, 1, 1, T)
  }

  /** {@code keep ? x : value}; use a large negative value (not -inf) before a softmax. */
  public Tensor maskedFill(Tensor x, Tensor keep, double value) {
    return where(keep, x, scalar(value, x.dtype()));
  }

  /**
   * Inverted dropout with a mask derived from an INT64 scalar {@code seed} by an integer hash of
   * (element index, seed). The same seed gives the same mask on every run and every backend, and
   * the backward reuses the forward mask tensor. Each round keeps values below 2^53 so that float64
   * reference arithmetic is exact: {@code h = (i*A + seed*B + C) mod P}, then twice {@code h = (h*h
   * + D) mod P}, {@code keep = h/P >= p}. (RandomUniformLike would differ between runs.)
   */
  public Tensor dropout(Tensor x, double p, Tensor seed) {
    requireDType("Dropout", seed, DType.INT64);
    if (p < 0 || p >= 1) {
      throw new IllegalArgumentException("Dropout: probability must be in [0, 1), got " + p);
    }
    long prime = 67_108_859L; // 2^26 - 5, so h*h < 2^52
    Tensor bigP = scalar(prime, DType.INT64);
    Tensor i = mod(range(x.shape().numel()), bigP); // (numel)
    Tensor s = mod(seed, bigP);
    Tensor h =
        mod(
            add(
                add(mul(i, scalar(40_503, DType.INT64)), mul(s, scalar(19_349_663, DType.INT64))),
                scalar(12_345, DType.INT64)),
            bigP);
    h = mod(add(mul(h, h), scalar(1_013_904_223, DType.INT64)), bigP);
    h = mod(add(mul(h, h), scalar(22_695_477, DType.INT64)), bigP);
    Tensor u = div(cast(h, x.dtype()), scalar(prime, x.dtype())); // uniform in [0, 1)
    Tensor keep = cast(not(less(u, scalar(p, x.dtype()))), x.dtype());
    Tensor mask = reshape(mul(keep, 1 / (1 - p)), x.shape().dims().toArray()); // x.shape
    return mul(x, mask);
  }

  /**
   * Mean cross-entropy of {@code logits} (N, V) against INT64 {@code targets} (N), skipping targets
   * equal to {@code ignoreIndex} (the mean is over the kept ones; 0 if none are kept). Emitted as
   * LogSoftmax + GatherElements + masked ReduceSum rather than SoftmaxCrossEntropyLoss, which
   * inference builds of ONNX Runtime cannot differentiate.
   */
  public Tensor crossEntropy(Tensor logits, Tensor targets, long ignoreIndex) {
    requireDType("CrossEntropy", targets, DType.INT64);
    if (logits.rank() != 2
        || targets.rank() != 1
        || !logits.shape().dim(0).equals(targets.shape().dim(0))) {
      throw new IllegalArgumentException(
          "CrossEntropy: needs logits (N, V) and targets (N), got "
              + logits.shape()
              + " and "
              + targets.shape());
    }
    Tensor logp = logSoftmax(logits, 1); // (N, V)
    Tensor valid = not(equal(targets, scalar(ignoreIndex, DType.INT64))); // (N)
    Tensor safe = where(valid, targets, scalar(0, DType.INT64)); // (N)
    Tensor picked = squeeze(gatherElements(logp, unsqueeze(safe, 1), 1), 1); // (N)
    Tensor weight = cast(valid, logits.dtype()); // (N)
    Tensor total = neg(reduceSum(mul(picked, weight), false, 0));
    Tensor count = max(reduceSum(weight, false, 0), scalar(1, logits.dtype()));
    return div(total, count);
  }

  /** Mean squared error over all elements. */
  public Tensor mseLoss(Tensor prediction, Tensor target) {
    Tensor d = sub(prediction, target);
    int[] all = new int[d.rank()];
    Arrays.setAll(all, i -> i);
    return reduceMean(mul(d, d), false, all);
  }

  /**
   * One LSTM step (PyTorch gate order i, f, g, o): {@code gates = x W_ih^T + h W_hh^T + b} (B, 4H),
   * {@code c' = sigmoid(f) c + sigmoid(i) tanh(g)}, {@code h' = sigmoid(o) tanh(c')}. Returns {h',
   * c'}.
   */
  public Tensor[] lstmCell(Tensor x, Tensor h, Tensor c, Tensor wIh, Tensor wHh, Tensor bias) {
    Tensor gates = add(linear(x, wIh, bias), linear(h, wHh, null)); // (B, 4H)
    long hidden = h.shape().dim(-1).size();
    Tensor i = sigmoid(slice(gates, -1, 0, hidden));
    Tensor f = sigmoid(slice(gates, -1, hidden, 2 * hidden));
    Tensor g = tanh(slice(gates, -1, 2 * hidden, 3 * hidden));
    Tensor o = sigmoid(slice(gates, -1, 3 * hidden, 4 * hidden));
    Tensor cNext = add(mul(f, c), mul(i, g));
    return new Tensor[] {mul(o, tanh(cNext)), cNext};
  }

  /** The 16 NF4 code values (bitsandbytes {@code get_4bit_type("nf4")}), index = 4-bit code. */
  public static final double[] NF4_CODE = {
    -1.0,
    -0.6961928009986877,
    -0.5250730514526367,
    -0.39491748809814453,
    -0.28444138169288635,
    -0.18477343022823334,
    -0.09105003625154495,
    0.0,
    0.07958029955625534,
    0.16093020141124725,
    0.24611230194568634,
    0.33791524171829224,
    0.44070982933044434,
    0.5626170039176941,
    0.7229568362236023,
    1.0
  };

  /** NF4 block size (bitsandbytes default). */
  public static final int NF4_BLOCK = 64;

  /** Blocks per double-quantisation group of absmax values. */
  public static final int NF4_NESTED_BLOCK = 256;

  /**
   * Dequantises a bitsandbytes NF4 weight with double-quantised scales into a tensor of {@code
   * shape} and the dtype of {@code nestedAbsmax}:
   *
   * <pre>
   * code[k]   = packed byte k/2, high nibble first
   * absmax[b] = nestedCode[absmaxCodes[b]] * nestedAbsmax[b / 256] + offset
   * w[k]      = NF4_CODE[code[k]] * absmax[k / 64]
   * </pre>
   *
   * Only standard ops: {@link #unpackNibbles}, then Gather on the codebooks.
   *
   * @param packed UINT8 (n/2), two codes per byte
   * @param absmaxCodes UINT8 (n/64), 8-bit codes of {@code absmax - offset}
   * @param nestedCode float (256), the signed dynamic 8-bit code map
   * @param nestedAbsmax float (ceil(n/64/256)), scale per group of 256 blocks
   * @param offset float scalar, the mean absmax subtracted before quantising
   */
  public Tensor nf4Dequantize(
      Tensor packed,
      Tensor absmaxCodes,
      Tensor nestedCode,
      Tensor nestedAbsmax,
      Tensor offset,
      Shape shape) {
    long n = shape.numel().size();
    if (n % NF4_BLOCK != 0) {
      throw new IllegalArgumentException(
          "NF4: weight " + shape + " has " + n + " elements, not a multiple of " + NF4_BLOCK);
    }
    long blocks = n / NF4_BLOCK;
    requireDType("NF4", packed, DType.UINT8);
    requireDType("NF4", absmaxCodes, DType.UINT8);
    if (!packed.shape().equals(Shape.of(new long[] {n / 2}))
        || !absmaxCodes.shape().equals(Shape.of(new long[] {blocks}))) {
      throw new IllegalArgumentException(
          "NF4: weight "
              + shape
              + " needs packed ["
              + n / 2
              + "] and absmax codes ["
              + blocks
              + "], got "
              + packed.shape()
              + " and "
              + absmaxCodes.shape());
    }
    DType f = nestedAbsmax.dtype();
    Tensor codes = unpackNibbles(packed); // (n), INT32
    NdArray book = NdArray.of(f, new long[] {16}, NF4_CODE);
    Tensor values = gather(constant(book), codes, 0); // (n)
    Tensor scaleCodes = gather(nestedCode, cast(absmaxCodes, DType.INT64), 0); // (blocks)
    Tensor group = div(range(Dim.of(blocks)), scalar(NF4_NESTED_BLOCK, DType.INT64)); // (blocks)
    Tensor absmax = add(mul(scaleCodes, gather(nestedAbsmax, group, 0)), offset); // (blocks)
    Tensor w = mul(reshape(values, blocks, NF4_BLOCK), unsqueeze(absmax, 1)); // (blocks, 64)
    return reshape(w, shape.dims().toArray()); // shape
  }

  /**
   * The 4-bit codes packed two to a byte, high nibble first (bitsandbytes' layout): UINT8 (..., k)
   * to INT32 (..., 2k), each in [0, 16), ready to index a codebook with {@link #gather}. Standard
   * opset-17 ops only: Cast to INT32, then {@code hi = b / 16} and {@code lo = b - 16 hi} (BitShift
   * has no CUDA kernel, and ONNX Runtime's CPU Div has no uint8 kernel).
   */
  public Tensor unpackNibbles(Tensor packed) {
    requireDType("UnpackNibbles", packed, DType.UINT8);
    if (packed.rank() == 0) {
      throw new IllegalArgumentException(
          "UnpackNibbles: needs at least one axis of packed bytes, got a scalar " + packed);
    }
    Tensor bytes = cast(packed, DType.INT32); // (..., k)
    Tensor sixteen = scalar(16, DType.INT32);
    Tensor hi = div(bytes, sixteen); // (..., k)
    Tensor lo = sub(bytes, mul(hi, sixteen)); // (..., k)
    Tensor pairs = concat(-1, unsqueeze(hi, -1), unsqueeze(lo, -1)); // (..., k, 2)
    List<Dim> dims = new ArrayList<>(packed.shape().dims());
    dims.set(dims.size() - 1, dims.get(dims.size() - 1).times(Dim.of(2)));
    return reshape(pairs, dims.toArray()); // (..., 2k)
  }

  // ---------------------------------------------------------------- internals

  private Tensor newTensor(String name, DType dtype, Shape shape) {
    if (byName.containsKey(name)) {
      throw new IllegalArgumentException(
          "A tensor named \"" + name + "\" already exists in this graph");
    }
    Tensor t = new Tensor(this, name, dtype, shape);
    byName.put(name, t);
    return t;
  }

  private Tensor op(String op, Map<String, Object> attrs, DType dtype, Shape shape, Tensor... in) {
    for (Tensor t : in) {
      own(t);
    }
    String name;
    do {
      name = op + "_" + counter++;
    } while (byName.containsKey(name));
    Tensor out = newTensor(name, dtype, shape);
    Node node = new Node(op, List.of(in), List.of(out), attrs);
    nodes.add(node);
    producers.put(out, node);
    return out;
  }

  private Tensor own(Tensor t) {
    if (t == null || t.graph() != this) {
      throw new IllegalArgumentException("Tensor " + t + " does not belong to this graph");
    }
    return t;
  }

  private Tensor unaryFloat(String op, Tensor x) {
    requireFloat(op, x);
    return op(op, Map.of(), x.dtype(), x.shape(), x);
  }

  private Tensor binary(String op, Tensor a, Tensor b) {
    sameDType(op, a, b);
    return op(op, Map.of(), a.dtype(), broadcastOrThrow(op, a.shape(), b.shape()), a, b);
  }

  private Tensor compare(String op, Tensor a, Tensor b) {
    sameDType(op, a, b);
    return op(op, Map.of(), DType.BOOL, broadcastOrThrow(op, a.shape(), b.shape()), a, b);
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

  private static long[] normaliseAxes(String op, Shape shape, int... axes) {
    TreeSet<Long> set = new TreeSet<>();
    for (int a : axes) {
      set.add((long) shape.axis(op, a));
    }
    return set.stream().mapToLong(Long::longValue).toArray();
  }

  private static Shape broadcastOrThrow(String op, Shape a, Shape b) {
    Shape s = Shape.broadcast(a, b);
    if (s == null) {
      throw new IllegalArgumentException(op + ": cannot broadcast " + a + " with " + b);
    }
    return s;
  }

  private static void sameDType(String op, Tensor a, Tensor b) {
    if (a.dtype() != b.dtype()) {
      throw new IllegalArgumentException(
          op + ": dtypes differ: " + a + " and " + b + " (insert a cast)");
    }
  }

  private static void requireFloat(String op, Tensor x) {
    if (!x.dtype().isFloating()) {
      throw new IllegalArgumentException(op + ": needs a floating-point tensor, got " + x);
    }
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

  private static void requireDType(String op, Tensor x, DType dtype) {
    if (x.dtype() != dtype) {
      throw new IllegalArgumentException(op + ": needs " + dtype + ", got " + x);
    }
  }

  private static void requireIndex(String op, Tensor indices) {
    if (indices.dtype() != DType.INT64 && indices.dtype() != DType.INT32) {
      throw new IllegalArgumentException(op + ": indices must be INT64 or INT32, got " + indices);
    }
  }
}
