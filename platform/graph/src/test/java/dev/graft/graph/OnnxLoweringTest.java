package dev.graft.graph;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

class OnnxLoweringTest {
  private static final DType F = DType.FLOAT32;
  private static final long V = TestModels.VOCAB;
  private static final long C = TestModels.WIDTH;

  /** ONNX default-domain ops this lowering may emit, all with CPU kernels in ORT. */
  private static final Set<String> STANDARD =
      Set.of(
          "Neg",
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
          "MatMul",
          "Gemm",
          "Clip",
          "Cast",
          "ReduceSum",
          "ReduceMax",
          "ReduceMean",
          "ReduceSumSquare",
          "LayerNormalization",
          "Softmax",
          "LogSoftmax",
          "Gather",
          "GatherElements",
          "ScatterND",
          "ScatterElements",
          "Reshape",
          "Expand",
          "Transpose",
          "Squeeze",
          "Unsqueeze",
          "Slice",
          "Pad",
          "Concat",
          "Range",
          "ConstantOfShape",
          "Shape",
          "Identity");

  @Test
  void trainingStepLowersToATopologicallyValidStandardOnnxModel() {
    Graph g = TestModels.tinyTransformer(F).graph();
    OnnxReader r = new OnnxReader(g.toOnnx());
    assertEquals(8, r.irVersion);
    assertEquals(17, r.opset);
    assertEquals(List.of(), r.problems());
    for (OnnxReader.NodeInfo n : r.nodes) {
      assertTrue(STANDARD.contains(n.op()), "non-standard op " + n.op());
    }
    assertFalse(
        r.nodes.stream().anyMatch(n -> n.op().equals("ScatterND")),
        "the frozen embedding gets no gradient");
    assertTrue(
        r.nodes.stream().anyMatch(n -> n.op().equals("ScatterElements")), "cross-entropy backward");
    assertTrue(
        r.nodes.stream().anyMatch(n -> n.op().equals("Shape")),
        "symbolic reshapes read run-time dims");
  }

  @Test
  void frozenWeightsAreExternalInitializersAndTrainablesAreInputs() {
    OnnxReader r = new OnnxReader(TestModels.tinyTransformer(F).graph().toOnnx());
    for (String w : List.of("wte", "wq", "wk", "wv")) {
      OnnxReader.TensorInfo t = r.initializer(w);
      assertTrue(t.external(), w + " is declared with data_location=EXTERNAL");
      assertEquals(w, t.externalData().get("location"));
      assertEquals(null, t.raw(), "no inline data for " + w);
      assertEquals(DType.FLOAT32.onnxCode(), t.dataType());
    }
    assertArrayEquals(new long[] {V, C}, r.initializer("wte").dims());
    Map<String, OnnxReader.ValueInfo> inputs = new HashMap<>();
    r.inputs.forEach(v -> inputs.put(v.name(), v));
    assertEquals(List.of(2L, C), inputs.get("lora_A").dims());
    assertEquals(
        List.of("batch", "seq"), inputs.get("input_ids").dims(), "symbolic dims become dim_param");
    assertEquals(DType.INT64.onnxCode(), inputs.get("input_ids").elemType());
    for (String in :
        List.of("m.lora_A", "v.ln.bias", "acc.lora_B", "step", "lr.default", "apply")) {
      assertNotNull(inputs.get(in), in);
    }
    assertEquals(List.of(), inputs.get("step").dims(), "scalars have rank 0");
    List<String> outputs = r.outputs.stream().map(OnnxReader.ValueInfo::name).toList();
    assertTrue(
        outputs.containsAll(
            List.of("loss", "grad_norm", "next.lora_A", "next.m.lora_B", "next.acc.ln.weight")));
    assertFalse(outputs.contains("next.wte"), "frozen weights are not updated");
  }

  @Test
  void aLoopedStepStacksPerStepValuesAndCarriesTheStateThroughTheLoop() {
    TrainingStep step = TestModels.tinyTransformer(F);
    OnnxReader r = new OnnxReader(step.toOnnxLoop());
    assertEquals(List.of(), r.problems());
    Map<String, List<Object>> in = new HashMap<>();
    r.inputs.forEach(v -> in.put(v.name(), v.dims()));
    Map<String, List<Object>> out = new HashMap<>();
    r.outputs.forEach(v -> out.put(v.name(), v.dims()));
    assertEquals(List.of("steps", "batch", "seq"), in.get("input_ids"));
    assertEquals(List.of("steps"), in.get("lr.default"), "one learning rate per step");
    assertEquals(List.of(2L, C), in.get("lora_A"), "carried state is fed once");
    assertEquals(List.of("steps"), out.get("loss"));
    assertEquals(List.of("steps", "batch", "seq", V), out.get("logits"));
    assertEquals(List.of(2L, C), out.get("next.m.lora_A"));
    assertTrue(r.initializer("wte").external(), "frozen weights stay outer external data");

    List<OnnxReader.NodeInfo> loops = r.nodes.stream().filter(n -> n.op().equals("Loop")).toList();
    assertEquals(1, loops.size());
    OnnxReader.NodeInfo loop = loops.get(0);
    int carried = step.carry().size();
    for (int i = 0; i < carried; i++) {
      assertEquals(
          step.carry().get(loop.outputs().get(i)),
          loop.inputs().get(2 + i),
          "Loop pairs carried inputs and outputs by position");
    }
    OnnxReader body = r.subgraph(loop, "body");
    Set<String> outer = new java.util.HashSet<>();
    r.inputs.forEach(v -> outer.add(v.name()));
    r.initializers.forEach(t -> outer.add(t.name()));
    assertEquals(List.of(), body.problems(outer), "the body reads outer names, shadows none");
    assertEquals(2 + carried, body.inputs.size());
    assertEquals(1 + loop.outputs().size(), body.outputs.size());
  }

  @Test
  void constantsAreInlineRawData() {
    Graph g = new Graph();
    Tensor x = g.input("x", F, Shape.of(3));
    g.output("y", g.add(x, g.constant(NdArray.of(F, new long[] {3}, 1.5, -2, 0.25))));
    OnnxReader r = new OnnxReader(g.toOnnx());
    OnnxReader.TensorInfo c = r.initializers.get(0);
    assertFalse(c.external());
    ByteBuffer b = ByteBuffer.wrap(c.raw()).order(ByteOrder.LITTLE_ENDIAN);
    assertEquals(1.5f, b.getFloat());
    assertEquals(-2f, b.getFloat());
    assertEquals(0.25f, b.getFloat());
    assertEquals(List.of("Add"), r.nodes.stream().map(OnnxReader.NodeInfo::op).toList());
  }

  /**
   * A node's result is written under its output's name (no Identity copy per run); only an input
   * passed through, and a second name for the same value, need an Identity.
   */
  @Test
  void outputsAreNamedAtTheirNodes() {
    Graph g = new Graph();
    Tensor x = g.input("x", F, Shape.of(3));
    Tensor y = g.add(x, x);
    g.output("y", y);
    g.output("y_again", y);
    g.output("x_out", x);
    g.output("z", g.mul(y, y));
    OnnxReader r = new OnnxReader(g.toOnnx());
    assertEquals(
        List.of("Add", "Mul", "Identity", "Identity"),
        r.nodes.stream().map(OnnxReader.NodeInfo::op).toList());
    assertEquals(List.of("y"), r.nodes.get(0).outputs());
    assertEquals(List.of("y", "y"), r.nodes.get(1).inputs());
    assertEquals(List.of("z"), r.nodes.get(1).outputs());
    assertEquals(List.of("y"), r.nodes.get(2).inputs());
    assertEquals(List.of("y_again"), r.nodes.get(2).outputs());
    assertEquals(List.of("x"), r.nodes.get(3).inputs());
    assertEquals(List.of("x_out"), r.nodes.get(3).outputs());
  }

  @Test
  void attributesAndInputConstantsFollowOpset17() {
    Graph g = new Graph();
    Tensor x = g.input("x", F, Shape.with("n", 4));
    g.output("s", g.reduceSum(x, false, 1));
    g.output("m", g.reduceMax(x, true, -1));
    g.output("t", g.transpose(x, 1, 0));
    OnnxReader r = new OnnxReader(g.toOnnx());
    OnnxReader.NodeInfo sum =
        r.nodes.stream().filter(n -> n.op().equals("ReduceSum")).findFirst().orElseThrow();
    assertEquals(2, sum.inputs().size(), "ReduceSum-13 takes axes as an input");
    byte[] axes = r.initializer(sum.inputs().get(1)).raw();
    assertEquals(1L, ByteBuffer.wrap(axes).order(ByteOrder.LITTLE_ENDIAN).getLong());
    OnnxReader.NodeInfo max =
        r.nodes.stream().filter(n -> n.op().equals("ReduceMax")).findFirst().orElseThrow();
    assertEquals(
        List.of(1L),
        max.attributes().get("axes").all(8),
        "ReduceMax-13 takes axes as an attribute");
    OnnxReader.NodeInfo t =
        r.nodes.stream().filter(n -> n.op().equals("Transpose")).findFirst().orElseThrow();
    assertEquals(List.of(1L, 0L), t.attributes().get("perm").all(8));
  }

  @Test
  void nf4DequantisationUsesArithmeticAndGatherNotBitShift() {
    Graph g = new Graph();
    Tensor w =
        g.nf4Dequantize(
            g.input("q", DType.UINT8, Shape.of(64)),
            g.input("qa", DType.UINT8, Shape.of(2)),
            g.input("code", F, Shape.of(256)),
            g.input("absmax2", F, Shape.of(1)),
            g.input("offset", F, Shape.scalar()),
            Shape.of(8, 16));
    g.output("w", w);
    OnnxReader r = new OnnxReader(g.toOnnx());
    List<String> ops = r.nodes.stream().map(OnnxReader.NodeInfo::op).toList();
    assertFalse(ops.contains("BitShift") || ops.contains("BitwiseAnd"), ops.toString());
    assertTrue(ops.containsAll(List.of("Div", "Sub", "Cast", "Gather")), ops.toString());
    assertEquals(List.of(), r.problems());
  }

  @Test
  void uint8AndInt8ValuesLowerWithTheirOnnxElementTypes() {
    Graph g = new Graph();
    Tensor packed = g.parameter("packed", DType.UINT8, Shape.of(4), false);
    Tensor codes = g.input("codes", DType.INT8, Shape.of(4));
    Tensor offset = g.constant(NdArray.of(DType.INT8, new long[] {2}, -56, 127));
    Tensor sum = g.add(g.cast(packed, DType.INT32), g.cast(codes, DType.INT32)); // (4)
    g.output("y", g.add(g.cast(sum, F), g.reduceSum(g.cast(offset, F), false, 0)));
    OnnxReader r = new OnnxReader(g.toOnnx());
    assertEquals(List.of(), r.problems());
    OnnxReader.TensorInfo p = r.initializer("packed");
    assertTrue(p.external());
    assertEquals(2, p.dataType(), "UINT8 is ONNX elem type 2");
    assertEquals(3, r.inputs.get(0).elemType(), "INT8 is ONNX elem type 3");
    OnnxReader.TensorInfo c =
        r.initializers.stream().filter(t -> t.dataType() == 3).findFirst().orElseThrow();
    assertArrayEquals(new byte[] {-56, 127}, c.raw(), "one two's-complement byte per value");
  }

  @Test
  void overridableFrozenWeightsAreBothInitializersAndInputs() {
    Graph g = TestModels.tinyTransformer(F).graph();
    OnnxReader r = new OnnxReader(g.toOnnx(Map.of(), Set.of("wq")));
    assertTrue(r.initializer("wq").external(), "wq keeps its initializer as the default");
    List<String> inputs = r.inputs.stream().map(OnnxReader.ValueInfo::name).toList();
    assertTrue(inputs.contains("wq"), inputs.toString());
    assertFalse(inputs.contains("wk"), "only the named weights become inputs");
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> g.toOnnx(Map.of(), Set.of("lora_A")));
    assertTrue(e.getMessage().contains("[lora_A]"), "a trainable is no frozen parameter");
  }

  @Test
  void outputNamesMayNotShadowOtherValues() {
    Graph g = new Graph();
    Tensor x = g.input("x", F, Shape.of(1));
    g.input("taken", F, Shape.of(1));
    g.output("taken", g.neg(x));
    assertThrows(IllegalArgumentException.class, g::toOnnx);
  }

  @Test
  void theSameSymbolicGraphRunsForDifferentBatchAndSequenceSizes() {
    Graph g = TestModels.tinyTransformer(DType.FLOAT64).graph();
    Random rnd = new Random(3);
    for (long[] bt : new long[][] {{2, 3}, {1, 5}}) {
      Map<String, NdArray> feeds = TestModels.tinyTransformerFeeds(g, bt[0], bt[1], rnd);
      Map<String, NdArray> out = Interpreter.run(g, feeds);
      assertArrayEquals(new long[] {bt[0], bt[1], V}, out.get("logits").shape());
      assertTrue(Double.isFinite(out.get("loss").item()) && out.get("loss").item() > 0);
      assertTrue(out.get("grad_norm").item() > 0);
    }
  }
}
