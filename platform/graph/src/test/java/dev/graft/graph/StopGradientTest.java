package dev.graft.graph;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** {@link Graph#stopGradient}: the value passes, the gradient does not. */
class StopGradientTest {
  private static final DType F = DType.FLOAT64;

  @Test
  void theValuePassesUnchanged() {
    Graph g = new Graph();
    Tensor x = g.input("x", F, Shape.of(2, 3));
    g.output("y", g.stopGradient(x));
    NdArray in = NdArray.of(F, new long[] {2, 3}, 1.5, -2, 0, 3.25, 7, -0.5);
    assertArrayEquals(in.data(), Interpreter.run(g, Map.of("x", in)).get("y").data(), 0);
  }

  @Test
  void itLowersToAnOnnxIdentity() {
    Graph g = new Graph();
    Tensor x = g.input("x", F, Shape.of(3));
    g.output("y", g.mul(x, g.stopGradient(x)));
    OnnxReader r = new OnnxReader(g.toOnnx());
    assertEquals(
        List.of("Identity", "Mul"), r.nodes.stream().map(OnnxReader.NodeInfo::op).toList());
    assertEquals(List.of(), r.problems());
  }

  /**
   * The gradient of {@code sum(w · x · stopGradient(x))} is {@code w · x}, the gradient of {@code
   * sum(w · x · c)} for a constant c equal to x, which central finite differences confirm; without
   * the stop it would be {@code 2 w x}.
   */
  @Test
  void theGradientOfXTimesStopGradientOfXIsStopGradientOfX() {
    Random rnd = new Random(3);
    NdArray x0 = GradCheck.random(rnd, GradCases.any(2, 4), F);
    NdArray w = GradCheck.random(rnd, GradCases.any(2, 4), F);
    Graph g = new Graph();
    Tensor x = g.parameter("x", F, Shape.of(2, 4), true);
    Tensor loss =
        g.reduceSum(g.mul(g.mul(x, g.stopGradient(x)), g.constant(w)), false, 0, 1); // scalar
    Tensor grad = g.gradients(loss).get(x);
    double[] analytic = Interpreter.evaluate(g, Map.of("x", x0), List.of(grad)).get(grad).data();

    Graph frozen = new Graph();
    Tensor y = frozen.parameter("x", F, Shape.of(2, 4), true);
    Tensor frozenLoss =
        frozen.reduceSum(
            frozen.mul(frozen.mul(y, frozen.constant(x0)), frozen.constant(w)), false, 0, 1);
    GradCheck.Worst worst = new GradCheck.Worst();
    for (int k = 0; k < x0.size(); k++) {
      double numeric =
          (lossAt(frozen, frozenLoss, x0, k, GradCheck.H)
                  - lossAt(frozen, frozenLoss, x0, k, -GradCheck.H))
              / (2 * GradCheck.H);
      worst.add(analytic[k], numeric, "x[" + k + "]");
      assertEquals(w.get(k) * x0.get(k), analytic[k], 1e-15, "x[" + k + "]");
    }
    assertTrue(worst.error() < GradCheck.TOLERANCE, worst.toString());
  }

  @Test
  void aLossReachedOnlyThroughAStopGradientHasNoGradient() {
    Graph g = new Graph();
    Tensor x = g.parameter("x", F, Shape.of(3), true);
    Tensor loss = g.reduceSum(g.exp(g.stopGradient(g.mul(x, 2.0))), false, 0);
    int before = g.nodes().size();
    assertEquals(Map.of(), g.gradients(loss));
    assertEquals(before, g.nodes().size(), "no backward node is created");
  }

  @Test
  void aStoppedBranchAddsNothingToTheGradientOfTheOtherBranch() {
    Graph g = new Graph();
    Tensor x = g.parameter("x", F, Shape.of(3), true);
    Tensor loss = g.reduceSum(g.add(g.mul(x, 3.0), g.exp(g.stopGradient(x))), false, 0);
    Tensor grad = g.gradients(loss).get(x);
    NdArray x0 = NdArray.of(F, new long[] {3}, 0.5, -1, 2);
    double[] got = Interpreter.evaluate(g, Map.of("x", x0), List.of(grad)).get(grad).data();
    assertArrayEquals(new double[] {3, 3, 3}, got, 0);
  }

  private static double lossAt(Graph g, Tensor loss, NdArray value, int k, double h) {
    double[] d = value.data();
    d[k] += h;
    Map<String, NdArray> feeds = Map.of("x", NdArray.of(value.dtype(), value.shape(), d));
    return Interpreter.evaluate(g, feeds, List.of(loss)).get(loss).item();
  }
}
