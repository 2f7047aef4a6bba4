package dev.graft.graph.impl;

import dev.graft.graph.DType;
import dev.graft.graph.Dim;
import dev.graft.graph.Graph;
import dev.graft.graph.NdArray;
import dev.graft.graph.Node;
import dev.graft.graph.Shape;
import dev.graft.graph.Tensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Lowers a {@link Graph} to ONNX {@code ModelProto} bytes: IR version 8, default-domain opset 17.
 * Most IR ops map to the ONNX op of the same name; attributes that ONNX takes as inputs (axes,
 * shapes, pads, clip bounds) become int64 or typed constant initializers. Symbolic dimensions
 * become {@code dim_param}; where a run-time shape is needed, each symbol is read with {@code
 * Shape(t, start, end)} from the first graph input (or earlier value) that has it as a whole
 * dimension.
 */
public final class OnnxLowering {
  /** ONNX IR version written into the model. */
  public static final int IR_VERSION = 8;

  /** Default-domain opset written into the model. */
  public static final int OPSET = 17;

  private final Graph graph;
  private final List<Proto> nodes = new ArrayList<>();
  private final List<Proto> initializers = new ArrayList<>();
  private final Map<Dim, String> dimTensors = new HashMap<>();
  private int counter;

  private OnnxLowering(Graph graph) {
    this.graph = graph;
  }

  /** The ModelProto bytes of {@code graph}. */
  public static byte[] lower(Graph graph) {
    return new OnnxLowering(graph).model();
  }

  private byte[] model() {
    for (Node n : graph.nodes()) {
      lower(n);
    }
    Proto g = new Proto().string(2, "graft");
    List<Proto> inputs = new ArrayList<>();
    for (Tensor t : graph.inputs()) {
      inputs.add(valueInfo(t.name(), t));
    }
    for (Tensor p : graph.parameters()) {
      if (graph.isTrainable(p)) {
        inputs.add(valueInfo(p.name(), p));
      } else {
        initializers.add(externalTensor(p));
      }
    }
    List<Proto> outputs = new ArrayList<>();
    for (Map.Entry<String, Tensor> e : graph.outputs().entrySet()) {
      Tensor t = e.getValue();
      if (!e.getKey().equals(t.name())) {
        if (graph.nodes().stream().anyMatch(n -> n.output().name().equals(e.getKey()))
            || graph.inputs().stream().anyMatch(i -> i.name().equals(e.getKey()))
            || graph.parameters().stream().anyMatch(i -> i.name().equals(e.getKey()))) {
          throw new IllegalArgumentException(
              "Output name \"" + e.getKey() + "\" is already the name of another value");
        }
        node("Identity", List.of(t.name()), e.getKey(), new Proto[0]);
      }
      outputs.add(valueInfo(e.getKey(), t));
    }
    nodes.forEach(n -> g.message(1, n));
    initializers.forEach(i -> g.message(5, i));
    inputs.forEach(i -> g.message(11, i));
    outputs.forEach(o -> g.message(12, o));
    return new Proto()
        .varint(1, IR_VERSION)
        .string(2, "graft")
        .message(7, g)
        .message(8, new Proto().string(1, "").varint(2, OPSET))
        .toByteArray();
  }

  // ---------------------------------------------------------------- nodes

  private void lower(Node n) {
    String y = n.output().name();
    List<String> in = new ArrayList<>(n.inputs().stream().map(Tensor::name).toList());
    Tensor x = n.inputs().isEmpty() ? null : n.input(0);
    switch (n.op()) {
      case "Constant" -> initializers.add(inlineTensor(y, (NdArray) n.attr("value")));
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
    return "graft/" + hint + "_" + counter++;
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
        node("Shape", List.of(t.name()), out, intAttr("start", axis), intAttr("end", axis + 1));
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
  private static Proto externalTensor(Tensor p) {
    Proto t = new Proto();
    for (long d : p.shape().sizes()) {
      t.varint(1, d);
    }
    return t.varint(2, p.dtype().onnxCode())
        .string(8, p.name())
        .message(13, new Proto().string(1, "location").string(2, p.name()))
        .varint(14, 1);
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
        case UINT8, BOOL -> buf.put((byte) (long) x);
      }
    }
    return buf.array();
  }

  private static Proto valueInfo(String name, Tensor t) {
    Proto shape = new Proto();
    for (Dim d : t.shape().dims()) {
      shape.message(
          1, d.isFixed() ? new Proto().varint(1, d.size()) : new Proto().string(2, d.toString()));
    }
    Proto tensorType = new Proto().varint(1, t.dtype().onnxCode()).message(2, shape);
    return new Proto().string(1, name).message(2, new Proto().message(1, tensorType));
  }

  // ---------------------------------------------------------------- attributes (AttributeProto)

  private static Proto intAttr(String name, long v) {
    return new Proto().string(1, name).varint(3, v).varint(20, 2);
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
}
