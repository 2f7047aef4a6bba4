package dev.graft.graph;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Rewiring a built graph, as fine-tuning methods do. */
class RewriteTest {
  private static final DType F = DType.FLOAT64;

  private static NdArray arr(long[] shape, double... v) {
    return NdArray.of(F, shape, v);
  }

  @Test
  void wrappingAnOpResultRewiresItsConsumersButNotTheWrapper() {
    Graph g = new Graph();
    Tensor x = g.input("x", F, Shape.of(1, 2));
    Tensor w = g.parameter("w", F, Shape.of(2, 2), false);
    Tensor y = g.linear(x, w, null);
    g.output("out", g.tanh(y));
    // LoRA: y' = y + B (A x), built after the consumer tanh(y)
    Tensor a = g.parameter("a", F, Shape.of(1, 2), true);
    Tensor b = g.parameter("b", F, Shape.of(2, 1), true);
    Tensor wrapped = g.add(y, g.linear(g.linear(x, a, null), b, null));
    g.replaceUses(y, wrapped);

    Map<String, NdArray> feeds =
        Map.of(
            "x",
            arr(new long[] {1, 2}, 1, 2),
            "w",
            arr(new long[] {2, 2}, 0.1, 0.2, 0.3, 0.4),
            "a",
            arr(new long[] {1, 2}, 0.5, -0.5),
            "b",
            arr(new long[] {2, 1}, 1, 2));
    // y = (0.5, 1.1); A x = -0.5; B A x = (-0.5, -1)
    assertArrayEquals(
        new double[] {Math.tanh(0.0), Math.tanh(0.1)},
        Interpreter.run(g, feeds).get("out").data(),
        1e-15);
    assertEquals(
        List.of(), new OnnxReader(g.toOnnx()).problems(), "nodes are re-sorted topologically");
    assertEquals(2, g.gradients(g.reduceSum(g.outputs().get("out"), false, 0, 1)).size());
  }

  @Test
  void swappingAFrozenWeightForADequantisedOneReachesEveryUse() {
    Graph g = new Graph();
    Tensor x = g.input("x", F, Shape.of(1, 64));
    Tensor w = g.parameter("w", F, Shape.of(1, 64), false);
    g.output("y", g.matmul(x, g.transposeLast2(w)));
    Tensor deq =
        g.nf4Dequantize(
            g.input("q", DType.UINT8, Shape.of(32)),
            g.input("qa", DType.UINT8, Shape.of(1)),
            g.input("code", F, Shape.of(256)),
            g.input("absmax2", F, Shape.of(1)),
            g.input("offset", F, Shape.scalar()),
            Shape.of(1, 64));
    g.replaceUses(w, deq);
    double[] ones = new double[64];
    java.util.Arrays.fill(ones, 1);
    double[] code = new double[256];
    code[3] = 0.5;
    double[] packed = new double[32];
    java.util.Arrays.fill(packed, 0xF0); // codes 15 (1.0) and 0 (-1.0) alternate
    packed[0] = 0xFF;
    NdArray y =
        Interpreter.run(
                g,
                Map.of(
                    "x",
                    arr(new long[] {1, 64}, ones),
                    "q",
                    NdArray.of(DType.UINT8, new long[] {32}, packed),
                    "qa",
                    NdArray.of(DType.UINT8, new long[] {1}, 3),
                    "code",
                    arr(new long[] {256}, code),
                    "absmax2",
                    arr(new long[] {1}, 2),
                    "offset",
                    NdArray.scalar(F, 0)))
            .get("y");
    // absmax = 0.5 * 2 = 1; the weights sum to 1 + 1 + 31 * (1 - 1) = 2
    assertEquals(2.0, y.item(), 1e-15);
    assertEquals(List.of(), g.parameters(), "the replaced weight has left the graph");
    OnnxReader onnx = new OnnxReader(g.toOnnx());
    assertEquals(List.of(), onnx.problems());
    assertTrue(onnx.initializers.stream().noneMatch(t -> t.name().equals("w")));
  }

  @Test
  void replacementsMustMatchDTypeAndShape() {
    Graph g = new Graph();
    Tensor x = g.input("x", F, Shape.of(2));
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class, () -> g.replaceUses(x, g.input("z", F, Shape.of(3))));
    assertTrue(e.getMessage().contains("[2]") && e.getMessage().contains("[3]"), e.getMessage());
  }
}
