package dev.graft.graph;

import static dev.graft.graph.GradCheck.any;
import static dev.graft.graph.GradCheck.positive;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.function.BiFunction;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/** Every differentiable op against central finite differences (float64, reference interpreter). */
class GradientTest {
  private static final DType F = DType.FLOAT64;

  private static DynamicTest grad(
      String name, BiFunction<Graph, Tensor[], Tensor> op, GradCheck.Spec... specs) {
    return DynamicTest.dynamicTest(name, () -> GradCheck.check(name, name.hashCode(), op, specs));
  }

  private static Tensor ids(Graph g, long[] shape, double... values) {
    return g.constant(NdArray.of(DType.INT64, shape, values));
  }

  @TestFactory
  Stream<DynamicTest> elementwiseOpsMatchFiniteDifferences() {
    return Stream.of(
        grad("add with broadcasting", (g, p) -> g.add(p[0], p[1]), any(2, 3), any(3)),
        grad("sub with broadcasting", (g, p) -> g.sub(p[0], p[1]), any(2, 1, 3), any(4, 3)),
        grad("mul with broadcasting", (g, p) -> g.mul(p[0], p[1]), any(2, 3), any(2, 1)),
        grad("div with broadcasting", (g, p) -> g.div(p[0], p[1]), any(2, 3), positive(3)),
        grad("pow of two tensors", (g, p) -> g.pow(p[0], p[1]), positive(2, 3), any(2, 3)),
        grad("pow by a scalar", (g, p) -> g.pow(p[0], 3.0), any(4)),
        grad("neg", (g, p) -> g.neg(p[0]), any(5)),
        grad("sqrt", (g, p) -> g.sqrt(p[0]), positive(5)),
        grad("rsqrt", (g, p) -> g.rsqrt(p[0]), positive(5)),
        grad("reciprocal", (g, p) -> g.reciprocal(p[0]), positive(5)),
        grad("exp", (g, p) -> g.exp(p[0]), any(5)),
        grad("log", (g, p) -> g.log(p[0]), positive(5)),
        grad("tanh", (g, p) -> g.tanh(p[0]), any(5)),
        grad("sigmoid", (g, p) -> g.sigmoid(p[0]), any(5)),
        grad("erf", (g, p) -> g.erf(p[0]), any(7)),
        grad("abs", (g, p) -> g.abs(p[0]), any(6)),
        grad("sign times x", (g, p) -> g.mul(g.sign(p[0]), p[0]), any(6)),
        grad("max", (g, p) -> g.max(p[0], p[1]), any(3, 4), any(4)),
        grad("min", (g, p) -> g.min(p[0], p[1]), any(3, 4), any(3, 1)),
        grad("clip", (g, p) -> g.clip(p[0], -1, 1), any(10)),
        grad(
            "cast to float32 and back",
            (g, p) -> g.cast(g.mul(g.cast(p[0], DType.FLOAT32), g.scalar(2, DType.FLOAT32)), F),
            any(4)),
        grad(
            "where",
            (g, p) -> g.where(g.greater(p[0], g.scalar(0, F)), p[0], g.mul(p[1], p[0])),
            any(3, 4),
            any(4)),
        grad(
            "masked fill after a comparison",
            (g, p) -> g.maskedFill(p[0], g.less(p[0], g.scalar(0.5, F)), -3),
            any(3, 4)));
  }

  @TestFactory
  Stream<DynamicTest> reductionsAndNormalisersMatchFiniteDifferences() {
    return Stream.of(
        grad("reduceSum keepdims", (g, p) -> g.reduceSum(p[0], true, 1), any(2, 3, 4)),
        grad("reduceSum over two axes", (g, p) -> g.reduceSum(p[0], false, 0, 2), any(2, 3, 4)),
        grad("reduceMean", (g, p) -> g.reduceMean(p[0], false, -1), any(2, 3, 4)),
        grad("reduceMax", (g, p) -> g.reduceMax(p[0], false, 1), any(3, 5)),
        grad("reduceMax keepdims", (g, p) -> g.reduceMax(p[0], true, 0), any(3, 5)),
        grad("softmax", (g, p) -> g.softmax(p[0], -1), any(2, 3, 5)),
        grad("softmax over axis 0", (g, p) -> g.softmax(p[0], 0), any(4, 3)),
        grad("logSoftmax", (g, p) -> g.logSoftmax(p[0], 1), any(3, 6)),
        grad(
            "layerNorm",
            (g, p) -> g.layerNorm(p[0], p[1], p[2], 1e-5),
            any(2, 3, 8),
            any(8),
            any(8)),
        grad("rmsNorm", (g, p) -> g.rmsNorm(p[0], p[1], 1e-6), any(2, 3, 8), any(8)),
        grad("gelu tanh", (g, p) -> g.gelu(p[0], true), any(9)),
        grad("gelu exact", (g, p) -> g.gelu(p[0], false), any(9)),
        grad("silu", (g, p) -> g.silu(p[0]), any(9)));
  }

  @TestFactory
  Stream<DynamicTest> linearAlgebraMatchesFiniteDifferences() {
    return Stream.of(
        grad("matmul 2-D", (g, p) -> g.matmul(p[0], p[1]), any(3, 4), any(4, 2)),
        grad(
            "matmul with broadcast batch on the right",
            (g, p) -> g.matmul(p[0], p[1]),
            any(2, 3, 4),
            any(4, 5)),
        grad(
            "matmul with broadcast batch on the left",
            (g, p) -> g.matmul(p[0], p[1]),
            any(3, 4),
            any(2, 4, 5)),
        grad(
            "matmul with size-1 batch axes",
            (g, p) -> g.matmul(p[0], p[1]),
            any(2, 1, 3, 4),
            any(1, 3, 4, 2)),
        grad(
            "gemm", (g, p) -> g.gemm(p[0], p[1], p[2], false, false), any(3, 4), any(4, 2), any(2)),
        grad("gemm transA", (g, p) -> g.gemm(p[0], p[1], null, true, false), any(4, 3), any(4, 2)),
        grad(
            "gemm transB",
            (g, p) -> g.gemm(p[0], p[1], p[2], false, true),
            any(3, 4),
            any(2, 4),
            any(3, 2)),
        grad(
            "gemm transA transB",
            (g, p) -> g.gemm(p[0], p[1], null, true, true),
            any(4, 3),
            any(2, 4)),
        grad(
            "linear on a 3-D input",
            (g, p) -> g.linear(p[0], p[1], p[2]),
            any(2, 3, 4),
            any(5, 4),
            any(5)),
        grad(
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

  @TestFactory
  Stream<DynamicTest> indexingAndShapeOpsMatchFiniteDifferences() {
    return Stream.of(
        grad(
            "gather rows with repeated indices",
            (g, p) -> g.gather(p[0], ids(g, new long[] {2, 3}, 1, 4, 1, 0, 4, 4), 0),
            any(5, 3)),
        grad(
            "gatherElements",
            (g, p) -> g.gatherElements(p[0], ids(g, new long[] {3, 2}, 0, 3, 2, 2, 1, 0), 1),
            any(3, 4)),
        grad("reshape", (g, p) -> g.mul(g.reshape(p[0], 3, -1), p[1]), any(2, 3, 2), any(3, 4)),
        grad(
            "transpose",
            (g, p) -> g.mul(g.transpose(p[0], 2, 0, 1), p[1]),
            any(2, 3, 4),
            any(4, 2, 3)),
        grad("slice", (g, p) -> g.slice(p[0], 1, 1, 3), any(2, 4, 3)),
        grad("pad", (g, p) -> g.mul(g.pad(p[0], 0, 1, 2), p[1]), any(2, 3), any(5, 3)),
        grad("concat", (g, p) -> g.concat(1, p[0], p[1], p[0]), any(2, 1, 3), any(2, 2, 3)),
        grad(
            "expand",
            (g, p) -> g.mul(g.expand(p[0], Shape.of(2, 3, 4)), p[1]),
            any(3, 1),
            any(2, 3, 4)),
        grad(
            "squeeze and unsqueeze", (g, p) -> g.unsqueeze(g.squeeze(p[0], 1), 0, 3), any(2, 1, 3)),
        grad(
            "rotary embedding",
            (g, p) -> g.rope(p[0], p[1], p[2]),
            any(2, 3, 4),
            any(3, 4),
            any(3, 4)),
        grad(
            "dropout with a fixed seed",
            (g, p) -> g.dropout(p[0], 0.3, g.scalar(7, DType.INT64)),
            any(4, 5)));
  }

  @TestFactory
  Stream<DynamicTest> lossesAndBlocksMatchFiniteDifferences() {
    return Stream.of(
        grad(
            "cross-entropy with an ignored target",
            (g, p) -> g.crossEntropy(p[0], ids(g, new long[] {4}, 2, -100, 0, 2), -100),
            any(4, 3)),
        grad("mse loss", (g, p) -> g.mseLoss(p[0], p[1]), any(3, 2), any(3, 2)),
        grad(
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

  @Test
  void frozenWeightsGetNoGradientAndUnrelatedNodesAreNotDifferentiated() {
    Graph g = new Graph();
    Tensor x = g.input("x", F, Shape.of(2, 3));
    Tensor frozen = g.parameter("w", F, Shape.of(3, 3), false);
    Tensor a = g.parameter("a", F, Shape.of(3, 3), true);
    Tensor unused = g.parameter("u", F, Shape.of(3), true);
    Tensor side = g.exp(x); // depends on no trainable
    Tensor loss = g.reduceSum(g.mul(g.matmul(g.matmul(x, frozen), a), g.tanh(side)), false, 0, 1);
    int before = g.nodes().size();
    Map<Tensor, Tensor> grads = g.gradients(loss);
    assertEquals(java.util.Set.of(a), grads.keySet());
    assertFalse(
        g.nodes().subList(before, g.nodes().size()).stream().anyMatch(n -> n.op().equals("Tanh")),
        "the backward must not differentiate through tanh(exp(x)), which no trainable feeds");
    assertFalse(
        g.nodes().subList(before, g.nodes().size()).stream()
            .anyMatch(n -> n.inputs().contains(unused)));
  }

  @Test
  void gatherAlongAnotherAxisIsRejectedWhenDifferentiated() {
    Graph g = new Graph();
    Tensor w = g.parameter("w", F, Shape.of(3, 4), true);
    Tensor loss =
        g.reduceSum(
            g.gather(w, g.constant(NdArray.of(DType.INT64, new long[] {1}, 2)), 1), false, 0, 1);
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> g.gradients(loss));
    assertTrue(e.getMessage().contains("axis 0"), e.getMessage());
  }
}
