package dev.graft.graph.impl;

import dev.graft.graph.DType;
import dev.graft.graph.Dim;
import dev.graft.graph.ExternalData;
import dev.graft.graph.Graph;
import dev.graft.graph.NdArray;
import dev.graft.graph.Node;
import dev.graft.graph.Shape;
import dev.graft.graph.Tensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Lowers a {@link Graph} to ONNX {@code ModelProto} bytes: IR version 8, default-domain opset 17.
 * Most IR ops map to the ONNX op of the same name; attributes that ONNX takes as inputs (axes,
 * shapes, pads, clip bounds) become int64 or typed constant initializers. Symbolic dimensions
 * become {@code dim_param}; where a run-time shape is needed, each symbol is read with {@code
 * Shape(t, start, end)} from the first graph input (or earlier value) that has it as a whole
 * dimension.
 *
 * <p>{@link #lowerLoop} wraps the same graph in an ONNX {@code Loop} so that one run performs
 * several training steps: the body is the lowered graph with every value renamed under {@code
 * step/} (ONNX forbids a subgraph to shadow outer names), and frozen weights stay outer-scope
 * external initializers that the body reads.
 */
public final class OnnxLowering {
  /** ONNX IR version written into the model. */
  public static final int IR_VERSION = 8;

  /** Default-domain opset written into the model. */
  public static final int OPSET = 17;

  /** The {@code dim_param} of the leading axis that stacks per-step inputs and outputs. */
  private static final String STEPS = "steps";

  /** Prefix of every value name inside the loop body. */
  private static final String BODY = "step/";

  private final Graph graph;
  private final String prefix;
  private final Set<Tensor> frozen = Collections.newSetFromMap(new IdentityHashMap<>());
  private final List<Proto> nodes = new ArrayList<>();
  private final List<Proto> initializers = new ArrayList<>();
  private final Map<Dim, String> dimTensors = new HashMap<>();

  /** Node results named after the graph output they are. */
  private final Map<Tensor, String> outputNames = new IdentityHashMap<>();

  private int counter;

  private OnnxLowering(Graph graph, String prefix) {
    this.graph = graph;
    this.prefix = prefix;
    graph.parameters().stream().filter(p -> !graph.isTrainable(p)).forEach(frozen::add);
  }

  /** The ModelProto bytes of {@code graph}. */
  public static byte[] lower(Graph graph) {
    return lower(graph, Map.of());
  }

  /**
   * The ModelProto bytes of {@code graph}, with the frozen parameters named in {@code files} read
   * by the runtime from those files.
   */
  public static byte[] lower(Graph graph, Map<String, ExternalData> files) {
    return lower(graph, files, Set.of());
  }

  /**
   * The ModelProto bytes of {@link #lower(Graph, Map)}, with the frozen parameters named in {@code
   * overridable} also declared as graph inputs: their initializers are defaults that a run may
   * replace by feeding them (ONNX Runtime's LoRA adapters do).
   *
   * @throws IllegalArgumentException when a name in {@code overridable} is not a frozen parameter
   */
  public static byte[] lower(
      Graph graph, Map<String, ExternalData> files, Set<String> overridable) {
    OnnxLowering l = new OnnxLowering(graph, "");
    List<Proto> inputs = new ArrayList<>();
    for (Tensor t : runtimeInputs(graph)) {
      inputs.add(valueInfo(t.name(), t.dtype(), t.shape().dims(), false));
    }
    Set<String> declared = new LinkedHashSet<>();
    for (Tensor p : l.frozen) {
      if (overridable.contains(p.name())) {
        inputs.add(valueInfo(p.name(), p.dtype(), p.shape().dims(), false));
        declared.add(p.name());
      }
    }
    if (declared.size() != overridable.size()) {
      Set<String> unknown = new LinkedHashSet<>(overridable);
      unknown.removeAll(declared);
      throw new IllegalArgumentException(
          "Overridable " + unknown + " are not frozen parameters of the graph.");
    }
    l.frozenWeights(files);
    List<Proto> outputs = l.lowerNodesAndOutputs(graph.outputs().keySet());
    return model(l.graphProto(inputs, outputs));
  }

  /**
   * The ModelProto bytes of {@code graph} repeated by an ONNX {@code Loop}: one run performs as
   * many steps as the per-step inputs have rows.
   *
   * <p>Inputs named as values of {@code carry} are loop-carried: fed once, passed from step to
   * step, and the matching outputs return their final values. Every other input (and trainable that
   * is not carried) is a per-step input, fed with a new leading axis {@value #STEPS}; step i reads
   * row i. Every output that is not carried returns its value of each step, stacked along the same
   * leading axis.
   *
   * @param carry output name → input name it feeds at the next step
   * @throws IllegalArgumentException if the graph has no per-step input (it fixes the step count),
   *     already uses the symbol {@value #STEPS}, or {@code carry} names unknown values
   */
  public static byte[] lowerLoop(Graph graph, Map<String, String> carry) {
    List<Tensor> carried = new ArrayList<>();
    List<Tensor> perStep = new ArrayList<>();
    for (Tensor t : runtimeInputs(graph)) {
      (carry.containsValue(t.name()) ? carried : perStep).add(t);
      if (t.shape().dims().stream().anyMatch(d -> d.symbols().contains(STEPS))) {
        throw new IllegalArgumentException(
            "Input " + t + " uses the symbol \"" + STEPS + "\", which a looped step reserves.");
      }
    }
    if (carried.size() != carry.size() || !graph.outputs().keySet().containsAll(carry.keySet())) {
      throw new IllegalArgumentException(
          "The carry map " + carry + " must pair outputs with distinct inputs of the graph.");
    }
    if (perStep.isEmpty()) {
      throw new IllegalArgumentException(
          "A looped step needs a per-step input to count its steps; every input is carried.");
    }
    // Carried values in the order of the carry map: Loop pairs them by position.
    List<String> carriedNames = List.copyOf(carry.values());
    carried.sort(Comparator.comparingInt(t -> carriedNames.indexOf(t.name())));
    List<String> scanned = new ArrayList<>(graph.outputs().keySet());
    scanned.removeAll(carry.keySet());

    // Body inputs: (iteration, condition, carried...); step i gathers row i of each per-step input.
    OnnxLowering body = new OnnxLowering(graph, BODY);
    String iteration = BODY + "iteration";
    String condition = BODY + "condition";
    List<Proto> bodyInputs = new ArrayList<>();
    bodyInputs.add(valueInfo(iteration, DType.INT64, List.of(), false));
    bodyInputs.add(valueInfo(condition, DType.BOOL, List.of(), false));
    for (Tensor t : carried) {
      bodyInputs.add(valueInfo(body.name(t), t.dtype(), t.shape().dims(), false));
    }
    for (Tensor t : perStep) {
      body.node("Gather", List.of(t.name(), iteration), body.name(t), intAttr("axis", 0));
    }
    List<String> bodyOutputNames = new ArrayList<>(carry.keySet());
    bodyOutputNames.addAll(scanned);
    List<Proto> bodyOutputs = new ArrayList<>();
    String conditionOut = BODY + "condition_out";
    body.node("Identity", List.of(condition), conditionOut);
    bodyOutputs.add(valueInfo(conditionOut, DType.BOOL, List.of(), false));
    bodyOutputs.addAll(body.lowerNodesAndOutputs(bodyOutputNames));

    // Outer graph: trip count = rows of the first per-step input; the condition stays true.
    OnnxLowering outer = new OnnxLowering(graph, "");
    outer.frozenWeights(Map.of());
    List<Proto> inputs = new ArrayList<>();
    for (Tensor t : runtimeInputs(graph)) {
      inputs.add(valueInfo(t.name(), t.dtype(), t.shape().dims(), perStep.contains(t)));
    }
    String rows = outer.fresh("steps");
    outer.node(
        "Shape", List.of(perStep.get(0).name()), rows, intAttr("start", 0), intAttr("end", 1));
    String tripCount = outer.fresh("trip_count");
    outer.node("Squeeze", List.of(rows, outer.ints(0)), tripCount);
    List<String> loopInputs =
        new ArrayList<>(List.of(tripCount, outer.constant(NdArray.scalar(DType.BOOL, 1))));
    carried.forEach(t -> loopInputs.add(t.name()));
    Proto loop = new Proto();
    loopInputs.forEach(i -> loop.string(1, i));
    bodyOutputNames.forEach(o -> loop.string(2, o));
    loop.string(3, "loop").string(4, "Loop");
    loop.message(5, graphAttr("body", body.graphProto(bodyInputs, bodyOutputs)));
    outer.nodes.add(loop);
    List<Proto> outputs = new ArrayList<>();
    for (String o : bodyOutputNames) {
      Tensor t = graph.outputs().get(o);
      outputs.add(valueInfo(o, t.dtype(), t.shape().dims(), scanned.contains(o)));
    }
    return model(outer.graphProto(inputs, outputs));
  }

  /** Graph inputs, then trainable parameters: the values a run feeds. */
  private static List<Tensor> runtimeInputs(Graph graph) {
    List<Tensor> in = new ArrayList<>(graph.inputs());
    graph.parameters().stream().filter(graph::isTrainable).forEach(in::add);
    return in;
  }

  /**
   * Declares every frozen parameter as an external-data initializer of this graph: at the place
   * {@code files} gives, or else under its own name (the backend then supplies the bytes).
   */
  private void frozenWeights(Map<String, ExternalData> files) {
    Map<String, Tensor> byName = new HashMap<>();
    frozen.forEach(p -> byName.put(p.name(), p));
    for (Map.Entry<String, ExternalData> f : files.entrySet()) {
      Tensor p = byName.get(f.getKey());
      if (p == null) {
        throw new IllegalArgumentException(
            "\"" + f.getKey() + "\" has external data but is not a frozen parameter of the graph.");
      }
      long bytes = p.shape().numel().size() * p.dtype().byteSize();
      if (f.getValue().length() != bytes) {
        throw new IllegalArgumentException(
            p
                + " takes "
                + bytes
                + " bytes, but its external data has "
                + f.getValue().length()
                + ".");
      }
    }
    frozen.forEach(p -> initializers.add(externalTensor(p, files.get(p.name()))));
  }

  /**
   * Lowers every node, then declares the given outputs. A node's result takes the name of the
   * output it is, so that ONNX Runtime writes it in place; an {@code Identity} names only what no
   * node of this graph computes (an input passed through) and a value exposed under a second name.
   *
   * @return their value infos
   */
  private List<Proto> lowerNodesAndOutputs(Iterable<String> names) {
    Set<String> taken = new LinkedHashSet<>();
    graph.nodes().forEach(n -> taken.add(n.output().name()));
    graph.inputs().forEach(t -> taken.add(t.name()));
    graph.parameters().forEach(t -> taken.add(t.name()));
    Set<Tensor> underOwnName = Collections.newSetFromMap(new IdentityHashMap<>());
    graph
        .outputs()
        .forEach(
            (name, t) -> {
              if (name.equals(t.name())) {
                underOwnName.add(t);
              }
            });
    for (String name : names) {
      Tensor t = graph.outputs().get(name);
      if (name.equals(t.name())) {
        continue;
      }
      if (taken.contains(name)) {
        throw new IllegalArgumentException(
            "Output name \"" + name + "\" is already the name of another value");
      }
      Node producer = graph.producer(t);
      if (producer != null
          && !producer.op().equals("Constant")
          && !underOwnName.contains(t)
          && !outputNames.containsKey(t)) {
        outputNames.put(t, name);
      }
    }
    for (Node n : graph.nodes()) {
      lower(n);
    }
    List<Proto> outputs = new ArrayList<>();
    for (String name : names) {
      Tensor t = graph.outputs().get(name);
      if (!name.equals(t.name()) && !name.equals(outputNames.get(t))) {
        node("Identity", List.of(name(t)), prefix + name);
      }
      outputs.add(valueInfo(prefix + name, t.dtype(), t.shape().dims(), false));
    }
    return outputs;
  }

  private Proto graphProto(List<Proto> inputs, List<Proto> outputs) {
    Proto g = new Proto().string(2, prefix.isEmpty() ? "graft" : "graft_step");
    nodes.forEach(n -> g.message(1, n));
    initializers.forEach(i -> g.message(5, i));
    inputs.forEach(i -> g.message(11, i));
    outputs.forEach(o -> g.message(12, o));
    return g;
  }

  private static byte[] model(Proto graph) {
    return new Proto()
        .varint(1, IR_VERSION)
        .string(2, "graft")
        .message(7, graph)
        .message(8, new Proto().string(1, "").varint(2, OPSET))
        .toByteArray();
  }

  /**
   * The ONNX name of {@code t}: frozen weights keep theirs (outer scope); others get the prefix,
   * and a node result that is a graph output takes the output's name.
   */
  private String name(Tensor t) {
    if (frozen.contains(t)) {
      return t.name();
    }
    return prefix + outputNames.getOrDefault(t, t.name());
  }

  // ---------------------------------------------------------------- nodes

  private void lower(Node n) {
    String y = name(n.output());
    List<String> in = new ArrayList<>(n.inputs().stream().map(this::name).toList());
    Tensor x = n.inputs().isEmpty() ? null : n.input(0);
    switch (n.op()) {
      case "Constant" -> initializers.add(inlineTensor(y, (NdArray) n.attr("value")));
      // differentiation is done: what remains of a stop-gradient is the value
      case "StopGradient" -> node("Identity", in, y);
      // value, ordered after the dependency: Where(IsNaN(its first element), value, value)
      case "After" -> {
        String flat = apply("Reshape", in.get(1), ints(-1)); // (n)
        String first = fresh("first");
        node("Slice", List.of(flat, ints(0), ints(1), ints(0)), first); // (1)
        String scalar = apply("Reshape", first, ints()); // ()
        node("Where", List.of(apply("IsNaN", scalar), in.get(0), in.get(0)), y);
      }
      case "Neg",
          "Sqrt",
          "Reciprocal",
          "Exp",
          "Log",
          "Tanh",
          "Sigmoid",
          "Erf",
          "Abs",
          "Sign",
          "Not",
          "Add",
          "Sub",
          "Mul",
          "Div",
          "Pow",
          "Max",
          "Min",
          "Mod",
          "Equal",
          "Less",
          "Greater",
          "And",
          "Where",
          "MatMul" ->
          node(n.op(), in, y);
      case "Gelu" -> gelu(in.get(0), x.dtype(), y, n.attr("approximate").equals("tanh"));
      // x sigmoid(x): ONNX Runtime fuses it into com.microsoft.QuickGelu on float32
      case "Silu" -> node("Mul", List.of(in.get(0), apply("Sigmoid", in.get(0))), y);
      case "LayerNormalization" -> layerNorm(in, x, y, n.doubleAttr("epsilon"));
      case "RMSNormalization" -> rmsNorm(in, x, y, n.doubleAttr("epsilon"));
      case "Clip" -> {
        in.add(constant(NdArray.scalar(x.dtype(), n.doubleAttr("min"))));
        in.add(constant(NdArray.scalar(x.dtype(), n.doubleAttr("max"))));
        node("Clip", in, y);
      }
      case "Cast" -> node("Cast", in, y, intAttr("to", ((DType) n.attr("to")).onnxCode()));
      case "ReduceSum" -> {
        in.add(ints(n.longsAttr("axes")));
        node("ReduceSum", in, y, intAttr("keepdims", n.longAttr("keepdims")));
      }
      case "ReduceMax" ->
          node(
              "ReduceMax",
              in,
              y,
              intsAttr("axes", n.longsAttr("axes")),
              intAttr("keepdims", n.longAttr("keepdims")));
      case "Softmax", "LogSoftmax", "Gather", "GatherElements", "Concat" ->
          node(n.op(), in, y, intAttr("axis", n.longAttr("axis")));
      case "Gemm" ->
          node(
              "Gemm",
              in,
              y,
              intAttr("transA", n.longAttr("transA")),
              intAttr("transB", n.longAttr("transB")));
      case "ScatterND" -> node("ScatterND", in, y, stringAttr("reduction", "add"));
      case "ScatterElements" ->
          node(
              "ScatterElements",
              in,
              y,
              intAttr("axis", n.longAttr("axis")),
              stringAttr("reduction", "add"));
      case "Reshape" -> {
        in.add(reshapeTarget((Shape) n.attr("shape"), x.shape()));
        node("Reshape", in, y);
      }
      case "Expand" -> {
        in.add(expandTarget((Shape) n.attr("shape"), x.shape()));
        node("Expand", in, y);
      }
      case "Transpose" -> node("Transpose", in, y, intsAttr("perm", n.longsAttr("perm")));
      case "Squeeze", "Unsqueeze" -> {
        in.add(ints(n.longsAttr("axes")));
        node(n.op(), in, y);
      }
      case "Slice" -> {
        in.add(ints(n.longAttr("start")));
        in.add(ints(n.longAttr("end")));
        in.add(ints(n.longAttr("axis")));
        node("Slice", in, y);
      }
      case "Pad" -> {
        long[] pads = new long[2 * x.rank()];
        int axis = (int) n.longAttr("axis");
        pads[axis] = n.longAttr("before");
        pads[x.rank() + axis] = n.longAttr("after");
        in.add(ints(pads));
        node("Pad", in, y);
      }
      case "Range" ->
          node(
              "Range",
              List.of(
                  constant(NdArray.scalar(DType.INT64, 0)),
                  dimScalar((Dim) n.attr("n")),
                  constant(NdArray.scalar(DType.INT64, 1))),
              y);
      case "ConstantOfShape" -> {
        Shape s = (Shape) n.attr("shape");
        NdArray value = NdArray.of(n.output().dtype(), new long[] {1}, n.doubleAttr("value"));
        node(
            "ConstantOfShape",
            List.of(runtimeShape(s)),
            y,
            tensorAttr("value", inlineTensor("value", value)));
      }
      case "DimSize" ->
          node(
              "Cast",
              List.of(dimScalar((Dim) n.attr("dim"))),
              y,
              intAttr("to", n.output().dtype().onnxCode()));
      default -> throw new IllegalArgumentException("No ONNX lowering for op " + n.op());
    }
  }

  /**
   * GELU of {@code x} into {@code y}, in standard ops. Float32 gets the forms that ONNX Runtime's
   * FastGeluFusion and GeluFusion turn into one kernel (com.microsoft FastGelu, Gelu) on the CPU
   * and CUDA providers, when no other node reads their intermediates (the backward reads x only):
   *
   * <pre>
   * tanh:  (0.5 x) (1 + tanh((k x) (1 + (c x) x)))     k = sqrt(2/pi), c = 0.044715
   * exact: (0.5 x) (1 + erf(x / sqrt 2))
   * </pre>
   *
   * Other dtypes, which have no fused kernel, get the tanh form in fewer ops, {@code x sigmoid(x
   * (2k + 2kc x^2))}, since {@code 0.5 (1 + tanh z) = sigmoid(2z)}: 6 passes instead of 9.
   */
  private void gelu(String x, DType f, String y, boolean tanh) {
    double k = Math.sqrt(2 / Math.PI);
    double c = 0.044715;
    if (!tanh) {
      String inner = apply("Add", apply("Erf", apply("Div", x, scalar(Math.sqrt(2), f))), one(f));
      node("Mul", List.of(apply("Mul", x, scalar(0.5, f)), inner), y);
    } else if (f == DType.FLOAT32) {
      String poly = apply("Add", apply("Mul", apply("Mul", x, scalar(c, f)), x), one(f));
      String inner =
          apply("Add", apply("Tanh", apply("Mul", poly, apply("Mul", x, scalar(k, f)))), one(f));
      node("Mul", List.of(inner, apply("Mul", x, scalar(0.5, f))), y);
    } else {
      String r =
          apply("Add", apply("Mul", apply("Mul", x, x), scalar(2 * k * c, f)), scalar(2 * k, f));
      node("Mul", List.of(x, apply("Sigmoid", apply("Mul", x, r))), y);
    }
  }

  /**
   * Layer normalisation of {@code in = (x, gamma[, beta])} over the last axis into {@code y}.
   * Float32 gets ONNX's LayerNormalization (opset 17), one kernel. Other dtypes get standard ops,
   * since the op's epsilon is a float32 attribute (1e-5 as a float32 moves a float64 result by
   * about 1e-14): {@code (x - m) / sqrt(sum((x - m)^2) / d + eps) gamma [+ beta]} with {@code m =
   * ReduceMean(x)} and ReduceSumSquare, 4 passes over x's size (3 without beta), none of them the
   * Pow that ONNX Runtime's LayerNormFusion looks for.
   */
  private void layerNorm(List<String> in, Tensor x, String y, double eps) {
    DType f = x.dtype();
    if (f == DType.FLOAT32) {
      node("LayerNormalization", in, y, intAttr("axis", -1), floatAttr("epsilon", (float) eps));
      return;
    }
    String centred = apply("Sub", in.get(0), lastAxis("ReduceMean", in.get(0)));
    String scaled = apply("Div", centred, rms(lastAxis("ReduceSumSquare", centred), x, eps));
    if (in.size() == 2) {
      node("Mul", List.of(scaled, in.get(1)), y);
    } else {
      node("Add", List.of(apply("Mul", scaled, in.get(1)), in.get(2)), y);
    }
  }

  /**
   * RMS normalisation of {@code in = (x, gamma)} over the last axis into {@code y}. Float32 gets
   * the form that ONNX Runtime's SimplifiedLayerNormFusion turns into one
   * SimplifiedLayerNormalization kernel when no other node reads its intermediates (the backward
   * reads x and gamma only):
   *
   * <pre>
   * Mul(Div(x, Sqrt(Add(ReduceMean(Pow(x, 2), axes=[-1]), eps))), gamma)
   * </pre>
   *
   * Other dtypes get {@code x / sqrt(ReduceSumSquare(x) / d + eps) gamma}, which it leaves alone:
   * its fused op would take the epsilon as a float32 (or as 1e-5 for a float64 constant).
   */
  private void rmsNorm(List<String> in, Tensor x, String y, double eps) {
    DType f = x.dtype();
    String denominator;
    if (f == DType.FLOAT32) {
      String meanSquare = lastAxis("ReduceMean", apply("Pow", in.get(0), scalar(2, f)));
      denominator = apply("Sqrt", apply("Add", meanSquare, scalar(eps, f)));
    } else {
      denominator = rms(lastAxis("ReduceSumSquare", in.get(0)), x, eps);
    }
    node("Mul", List.of(apply("Div", in.get(0), denominator), in.get(1)), y);
  }

  /** {@code sqrt(sumOfSquares / d + eps)} for the (..., 1) sums of squares over x's last axis. */
  private String rms(String sumOfSquares, Tensor x, double eps) {
    DType f = x.dtype();
    String meanSquare = apply("Div", sumOfSquares, scalar(x.shape().dim(-1).size(), f));
    return apply("Sqrt", apply("Add", meanSquare, scalar(eps, f)));
  }

  /** A fresh value {@code op(x)} reduced over the last axis with kept dims (opset-13 form). */
  private String lastAxis(String op, String x) {
    String out = fresh(op.toLowerCase(java.util.Locale.ROOT));
    node(op, List.of(x), out, intsAttr("axes", new long[] {-1}), intAttr("keepdims", 1));
    return out;
  }

  /** A fresh value {@code op(inputs)}. */
  private String apply(String op, String... inputs) {
    String out = fresh(op.toLowerCase(java.util.Locale.ROOT));
    node(op, List.of(inputs), out);
    return out;
  }

  private String scalar(double v, DType f) {
    return constant(NdArray.scalar(f, v));
  }

  private String one(DType f) {
    return scalar(1, f);
  }

  private void node(String op, List<String> inputs, String output, Proto... attributes) {
    Proto p = new Proto();
    inputs.forEach(i -> p.string(1, i));
    p.string(2, output);
    p.string(3, output);
    p.string(4, op);
    for (Proto a : attributes) {
      p.message(5, a);
    }
    nodes.add(p);
  }

  private String fresh(String hint) {
    return prefix + "graft/" + hint + "_" + counter++;
  }

  // ---------------------------------------------------------------- shapes at run time

  /**
   * Reshape target: fixed sizes, 0 to copy an equal input dim, one -1, or a shape built at run
   * time.
   */
  private String reshapeTarget(Shape target, Shape input) {
    long[] v = new long[target.rank()];
    int unresolved = 0;
    for (int i = 0; i < v.length; i++) {
      Dim d = target.dim(i);
      if (d.isFixed()) {
        v[i] = d.size();
      } else if (i < input.rank() && input.dim(i).equals(d)) {
        v[i] = 0;
      } else {
        v[i] = -1;
        unresolved++;
      }
    }
    return unresolved <= 1 ? ints(v) : runtimeShape(target);
  }

  /**
   * Expand target: fixed sizes, 1 where the (right-aligned) input already has the dim, else run
   * time.
   */
  private String expandTarget(Shape target, Shape input) {
    long[] v = new long[target.rank()];
    int offset = target.rank() - input.rank();
    for (int i = 0; i < v.length; i++) {
      Dim d = target.dim(i);
      if (d.isFixed()) {
        v[i] = d.size();
      } else if (i >= offset && input.dim(i - offset).equals(d)) {
        v[i] = 1;
      } else {
        return runtimeShape(target);
      }
    }
    return ints(v);
  }

  /** An int64 [rank] tensor holding {@code s} at run time. */
  private String runtimeShape(Shape s) {
    if (s.isFixed()) {
      return ints(s.sizes());
    }
    List<String> parts = new ArrayList<>();
    for (Dim d : s.dims()) {
      parts.add(d.isFixed() ? ints(d.size()) : dimVector(d));
    }
    String out = fresh("shape");
    node("Concat", parts, out, intAttr("axis", 0));
    return out;
  }

  /** An int64 scalar holding {@code d} at run time. */
  private String dimScalar(Dim d) {
    if (d.isFixed()) {
      return constant(NdArray.scalar(DType.INT64, d.size()));
    }
    String out = fresh("dim");
    node("Squeeze", List.of(dimVector(d), ints(0)), out);
    return out;
  }

  /** An int64 [1] tensor holding {@code d} at run time: the product of its symbols and factor. */
  private String dimVector(Dim d) {
    String cached = dimTensors.get(d);
    if (cached != null) {
      return cached;
    }
    String acc = null;
    for (String symbol : d.symbols()) {
      String s = symbolVector(symbol);
      if (acc == null) {
        acc = s;
      } else {
        String m = fresh("dim");
        node("Mul", List.of(acc, s), m);
        acc = m;
      }
    }
    if (d.factor() != 1) {
      String m = fresh("dim");
      node("Mul", List.of(acc, ints(d.factor())), m);
      acc = m;
    }
    dimTensors.put(d, acc);
    return acc;
  }

  private String symbolVector(String symbol) {
    Dim d = Dim.of(symbol);
    String cached = dimTensors.get(d);
    if (cached != null) {
      return cached;
    }
    List<Tensor> candidates = new ArrayList<>(graph.inputs());
    graph.nodes().forEach(n -> candidates.add(n.output()));
    for (Tensor t : candidates) {
      int axis = t.shape().dims().indexOf(d);
      if (axis >= 0) {
        String out = fresh("dim_" + symbol);
        node("Shape", List.of(name(t)), out, intAttr("start", axis), intAttr("end", axis + 1));
        dimTensors.put(d, out);
        return out;
      }
    }
    throw new IllegalArgumentException(
        "Symbol \"" + symbol + "\" is not a whole dimension of any graph input");
  }

  // ---------------------------------------------------------------- constants and tensors

  private String ints(long... values) {
    return constant(
        NdArray.of(
            DType.INT64,
            new long[] {values.length},
            java.util.Arrays.stream(values).asDoubleStream().toArray()));
  }

  private String constant(NdArray value) {
    String name = fresh("const");
    initializers.add(inlineTensor(name, value));
    return name;
  }

  private static Proto inlineTensor(String name, NdArray value) {
    Proto t = new Proto();
    for (long d : value.shape()) {
      t.varint(1, d);
    }
    return t.varint(2, value.dtype().onnxCode()).string(8, name).bytes(9, rawData(value));
  }

  /**
   * A frozen weight: declared with external data so the runtime supplies it
   * (addExternalInitializers).
   */
  private static Proto externalTensor(Tensor p, ExternalData file) {
    Proto t = new Proto();
    for (long d : p.shape().sizes()) {
      t.varint(1, d);
    }
    t.varint(2, p.dtype().onnxCode()).string(8, p.name());
    if (file == null) {
      t.message(13, entry("location", p.name()));
    } else {
      t.message(13, entry("location", file.location()))
          .message(13, entry("offset", Long.toString(file.offset())))
          .message(13, entry("length", Long.toString(file.length())));
    }
    return t.varint(14, 1);
  }

  /** A StringStringEntryProto. */
  private static Proto entry(String key, String value) {
    return new Proto().string(1, key).string(2, value);
  }

  /** Little-endian element bytes as ONNX raw_data expects. */
  static byte[] rawData(NdArray v) {
    ByteBuffer buf =
        ByteBuffer.allocate(v.size() * v.dtype().byteSize()).order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < v.size(); i++) {
      double x = v.get(i);
      switch (v.dtype()) {
        case FLOAT32 -> buf.putFloat((float) x);
        case FLOAT64 -> buf.putDouble(x);
        case FLOAT16 -> buf.putShort(Half.toHalf((float) x));
        case BFLOAT16 -> buf.putShort(Half.toBfloat16((float) x));
        case INT64 -> buf.putLong((long) x);
        case INT32 -> buf.putInt((int) x);
        case UINT8, INT8, BOOL -> buf.put((byte) (long) x);
      }
    }
    return buf.array();
  }

  /**
   * A ValueInfoProto; {@code stacked} prepends the {@value #STEPS} axis of a looped step's per-step
   * values.
   */
  private static Proto valueInfo(String name, DType dtype, List<Dim> dims, boolean stacked) {
    Proto shape = new Proto();
    if (stacked) {
      shape.message(1, new Proto().string(2, STEPS));
    }
    for (Dim d : dims) {
      shape.message(
          1, d.isFixed() ? new Proto().varint(1, d.size()) : new Proto().string(2, d.toString()));
    }
    Proto tensorType = new Proto().varint(1, dtype.onnxCode()).message(2, shape);
    return new Proto().string(1, name).message(2, new Proto().message(1, tensorType));
  }

  // ---------------------------------------------------------------- attributes (AttributeProto)

  private static Proto intAttr(String name, long v) {
    return new Proto().string(1, name).varint(3, v).varint(20, 2);
  }

  private static Proto floatAttr(String name, float v) {
    return new Proto().string(1, name).float32(2, v).varint(20, 1);
  }

  private static Proto intsAttr(String name, long[] v) {
    Proto p = new Proto().string(1, name);
    for (long x : v) {
      p.varint(8, x);
    }
    return p.varint(20, 7);
  }

  private static Proto stringAttr(String name, String v) {
    return new Proto().string(1, name).string(4, v).varint(20, 3);
  }

  private static Proto tensorAttr(String name, Proto tensor) {
    return new Proto().string(1, name).message(5, tensor).varint(20, 4);
  }

  private static Proto graphAttr(String name, Proto graph) {
    return new Proto().string(1, name).message(6, graph).varint(20, 5);
  }
}
