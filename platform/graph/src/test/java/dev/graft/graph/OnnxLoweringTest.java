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
  private static final long V = 11;
  private static final long C = 8;
  private static final long NH = 2;
  private static final long HS = C / NH;

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

  /**
   * A one-block GPT-style causal LM with symbolic (batch, seq): frozen embeddings and projections,
   * a LoRA adapter on the query projection, a trainable LayerNorm, RoPE, dropout and cross-entropy.
   */
  static Graph tinyTransformer(DType f) {
    Graph g = new Graph();
    Tensor ids = g.input("input_ids", DType.INT64, Shape.with("batch", "seq"));
    Tensor labels = g.input("labels", DType.INT64, Shape.with("batch", "seq"));
    Tensor mask = g.input("attention_mask", DType.INT64, Shape.with("batch", "seq"));
    Tensor cos = g.input("rope_cos", f, Shape.with("seq", HS));
    Tensor sin = g.input("rope_sin", f, Shape.with("seq", HS));
    Tensor seed = g.input("dropout_seed", DType.INT64, Shape.scalar());
    Tensor wte = g.parameter("wte", f, Shape.of(V, C), false);
    Tensor wq = g.parameter("wq", f, Shape.of(C, C), false);
    Tensor wk = g.parameter("wk", f, Shape.of(C, C), false);
    Tensor wv = g.parameter("wv", f, Shape.of(C, C), false);
    Tensor loraA = g.parameter("lora_A", f, Shape.of(2, C), true);
    Tensor loraB = g.parameter("lora_B", f, Shape.of(C, 2), true);
    Tensor ln = g.parameter("ln.weight", f, Shape.of(C), true);
    Tensor lnBias = g.parameter("ln.bias", f, Shape.of(C), true);

    Tensor x = g.gather(wte, ids, 0); // (B, T, C)
    Tensor h = g.layerNorm(x, ln, lnBias, 1e-5);
    Tensor q =
        g.add(g.linear(h, wq, null), g.mul(g.linear(g.linear(h, loraA, null), loraB, null), 2.0));
    Tensor k = g.linear(h, wk, null);
    Tensor v = g.linear(h, wv, null);
    Tensor[] heads = new Tensor[3];
    Tensor[] in = {q, k, v};
    for (int i = 0; i < 3; i++) {
      Tensor r = g.reshape(in[i], "batch", "seq", NH, HS); // (B, T, nh, hs)
      heads[i] = g.transpose(r, 0, 2, 1, 3); // (B, nh, T, hs)
    }
    Tensor qr = g.rope(heads[0], cos, sin);
    Tensor kr = g.rope(heads[1], cos, sin);
    Tensor att = g.mul(g.matmul(qr, g.transposeLast2(kr)), 1 / Math.sqrt(HS)); // (B, nh, T, T)
    Tensor keep = g.and(g.causalMask(Dim.of("seq")), g.paddingMask(mask)); // (B, 1, T, T)
    att = g.softmax(g.maskedFill(att, keep, -1e9), -1);
    att = g.dropout(att, 0.1, seed);
    Tensor y = g.matmul(att, heads[2]); // (B, nh, T, hs)
    y = g.reshape(g.transpose(y, 0, 2, 1, 3), "batch", "seq", C); // (B, T, C)
    Tensor logits = g.matmul(g.gelu(g.add(x, y), true), g.transpose(wte, 1, 0)); // (B, T, V)
    Tensor flat = g.reshape(logits, -1, V); // (B*T, V)
    Tensor loss = g.crossEntropy(flat, g.reshape(labels, -1), -100);
    g.output("logits", logits);
    TrainingStep.builder(g, loss).maxGradNorm(1.0).accumulationSteps(2).build();
    return g;
  }

  @Test
  void trainingStepLowersToATopologicallyValidStandardOnnxModel() {
    Graph g = tinyTransformer(F);
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
    OnnxReader r = new OnnxReader(tinyTransformer(F).toOnnx());
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
    assertEquals(
        List.of("Add", "Identity"), r.nodes.stream().map(OnnxReader.NodeInfo::op).toList());
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
  void outputNamesMayNotShadowOtherValues() {
    Graph g = new Graph();
    Tensor x = g.input("x", F, Shape.of(1));
    g.input("taken", F, Shape.of(1));
    g.output("taken", g.neg(x));
    assertThrows(IllegalArgumentException.class, g::toOnnx);
  }

  @Test
  void theSameSymbolicGraphRunsForDifferentBatchAndSequenceSizes() {
    Graph g = tinyTransformer(DType.FLOAT64);
    Random rnd = new Random(3);
    for (long[] bt : new long[][] {{2, 3}, {1, 5}}) {
      Map<String, NdArray> feeds = new HashMap<>();
      long n = bt[0] * bt[1];
      double[] ids = new double[(int) n];
      double[] labels = new double[(int) n];
      double[] mask = new double[(int) n];
      for (int i = 0; i < n; i++) {
        ids[i] = rnd.nextInt((int) V);
        labels[i] = i % 3 == 0 ? -100 : rnd.nextInt((int) V);
        mask[i] = i == n - 1 ? 0 : 1;
      }
      feeds.put("input_ids", NdArray.of(DType.INT64, bt, ids));
      feeds.put("labels", NdArray.of(DType.INT64, bt, labels));
      feeds.put("attention_mask", NdArray.of(DType.INT64, bt, mask));
      feeds.put("dropout_seed", NdArray.scalar(DType.INT64, 5));
      feeds.put("step", NdArray.scalar(DType.FLOAT64, 1));
      feeds.put("lr.default", NdArray.scalar(DType.FLOAT64, 1e-3));
      feeds.put("apply", NdArray.scalar(DType.BOOL, 1));
      for (String name : List.of("rope_cos", "rope_sin")) {
        feeds.put(name, GradCheck.random(rnd, GradCheck.any(bt[1], HS)));
      }
      for (Tensor p : g.parameters()) {
        feeds.put(p.name(), GradCheck.random(rnd, GradCheck.any(p.shape().sizes())));
        for (String prefix : List.of("m.", "v.", "acc.")) {
          if (g.isTrainable(p)) {
            feeds.put(prefix + p.name(), NdArray.zeros(DType.FLOAT64, p.shape().sizes()));
          }
        }
      }
      Map<String, NdArray> out = Interpreter.run(g, feeds);
      assertArrayEquals(new long[] {bt[0], bt[1], V}, out.get("logits").shape());
      assertTrue(Double.isFinite(out.get("loss").item()) && out.get("loss").item() > 0);
      assertTrue(out.get("grad_norm").item() > 0);
    }
  }
}
