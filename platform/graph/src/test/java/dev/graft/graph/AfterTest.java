package dev.graft.graph;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@link GraphOps#after}: the value, ordered after a dependency that gets no gradient, and the
 * backward of a product that computes a frozen operand made through it again ({@link
 * Graph#recompute}).
 */
class AfterTest {
  private static final DType F = DType.FLOAT32;

  /** y = x·Wᵀ with W = 2·after(c, x): x trains, c is frozen. */
  private static Graph product(Graph g) {
    Tensor x = g.parameter("x", F, Shape.of(2, 3), true);
    Tensor c = g.parameter("c", F, Shape.of(4, 3), false);
    Tensor w = g.mul(g.after(c, x), 2.0); // (4, 3)
    g.output("y", g.linear(x, w, null)); // (2, 4)
    return g;
  }

  private static final Map<String, NdArray> FEEDS =
      Map.of(
          "x", NdArray.of(F, new long[] {2, 3}, 1, 2, 3, 4, 5, 6),
          "c", NdArray.of(F, new long[] {4, 3}, 1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1));

  @Test
  void afterIsItsValue() {
    Graph g = product(new Graph());
    double[] y = Interpreter.run(g, FEEDS).get("y").data();
    assertArrayEquals(new double[] {2, 4, 6, 12, 8, 10, 12, 30}, y, 0);
  }

  @Test
  void theDependencyGetsNoGradientThroughAfter() {
    Graph g = new Graph();
    Tensor x = g.parameter("x", F, Shape.of(3), true);
    Tensor v = g.parameter("v", F, Shape.of(3), true);
    Tensor loss = g.reduceSum(g.mul(g.after(v, x), 3.0), false, 0);
    Map<Tensor, Tensor> grads = g.gradients(loss);
    assertEquals(List.of(v), List.copyOf(grads.keySet()));
  }

  @Test
  void theBackwardComputesTheFrozenOperandAgainAfterTheIncomingGradient() {
    Graph g = product(new Graph());
    Tensor x = g.tensor("x");
    Tensor loss = g.reduceSum(g.reshape(g.outputs().get("y"), 8), false, 0);
    Tensor dx = g.gradients(loss).get(x);
    List<Node> afters = g.nodes().stream().filter(n -> n.op().equals("After")).toList();
    assertEquals(2, afters.size(), "one after() in the forward, its copy in the backward");
    assertSame(x, afters.get(0).input(1));
    assertNotSame(x, afters.get(1).input(1));
    // dL/dx = 1·W: each row is the column sums of W = 2c, (2, 2, 2) + (2, 2, 2)
    double[] got = Interpreter.evaluate(g, FEEDS, List.of(dx)).get(dx).data();
    assertArrayEquals(new double[] {4, 4, 4, 4, 4, 4}, got, 0);
  }

  @Test
  void aFrozenWeightWithoutAfterIsReadAsItIs() {
    Graph g = new Graph();
    Tensor x = g.parameter("x", F, Shape.of(2, 3), true);
    Tensor w = g.parameter("w", F, Shape.of(4, 3), false);
    assertSame(w, g.recompute(w, x));
    Tensor doubled = g.mul(w, 2.0);
    assertSame(doubled, g.recompute(doubled, x));
  }

  @Test
  void anIntegerDependencyIsRefused() {
    Graph g = new Graph();
    Tensor v = g.parameter("v", F, Shape.of(3), false);
    Tensor i = g.input("i", DType.INT64, Shape.of(3));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> g.after(v, i));
    assertEquals("After: needs a floating-point tensor, got " + i, e.getMessage());
  }
}
