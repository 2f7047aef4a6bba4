package dev.graft.graph;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * Every differentiable op of {@link GradCases} against central finite differences (float64,
 * reference interpreter).
 */
class GradientTest {
  private static final DType F = DType.FLOAT64;

  private static Stream<DynamicTest> check(List<GradCases.Case> cases) {
    return cases.stream().map(c -> DynamicTest.dynamicTest(c.name(), () -> GradCheck.check(c)));
  }

  @TestFactory
  Stream<DynamicTest> elementwiseOpsMatchFiniteDifferences() {
    return check(GradCases.elementwise());
  }

  @TestFactory
  Stream<DynamicTest> reductionsAndNormalisersMatchFiniteDifferences() {
    return check(GradCases.reductionsAndNormalisers());
  }

  @TestFactory
  Stream<DynamicTest> linearAlgebraMatchesFiniteDifferences() {
    return check(GradCases.linearAlgebra());
  }

  @TestFactory
  Stream<DynamicTest> indexingAndShapeOpsMatchFiniteDifferences() {
    return check(GradCases.indexingAndShapes());
  }

  @TestFactory
  Stream<DynamicTest> lossesAndBlocksMatchFiniteDifferences() {
    return check(GradCases.lossesAndBlocks());
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
