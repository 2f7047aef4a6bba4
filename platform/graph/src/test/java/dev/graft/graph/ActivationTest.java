package dev.graft.graph;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.BiFunction;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * GELU (tanh and exact) and SiLU, each one IR op: values and gradients against closed forms out to
 * the tails, and what the forward and backward cost in a GPT-2-like MLP.
 */
class ActivationTest {
  private static final DType F = DType.FLOAT64;
  private static final double K = Math.sqrt(2 / Math.PI);
  private static final double C = 0.044715;

  /** The activations under test, each with its op, its backward's full-size passes and lowering. */
  enum Act {
    GELU_TANH((g, x) -> g.gelu(x, true), 13, 9, 6),
    GELU_EXACT((g, x) -> g.gelu(x, false), 10, 5, 5),
    SILU(Graph::silu, 7, 2, 2);

    final BiFunction<Graph, Tensor, Tensor> op;
    final int backwardPasses;
    final int float32Nodes;
    final int float64Nodes;

    Act(BiFunction<Graph, Tensor, Tensor> op, int backwardPasses, int f32, int f64) {
      this.op = op;
      this.backwardPasses = backwardPasses;
      this.float32Nodes = f32;
      this.float64Nodes = f64;
    }
  }

  private static double[] grid() {
    List<Double> xs = new ArrayList<>(List.of(-1e3, -40.0, -20.0, -10.0, 10.0, 20.0, 40.0, 1e3));
    for (double x = -8; x <= 8; x += 0.125) {
      xs.add(x);
    }
    return xs.stream().mapToDouble(Double::doubleValue).toArray();
  }

  /** The activation and its gradient (of sum(f(x))) on the interpreter. */
  private static double[][] valueAndGradient(Act act, double[] xs) {
    Graph g = new Graph();
    Tensor x = g.parameter("x", F, Shape.of(xs.length), true);
    Tensor y = act.op.apply(g, x);
    Tensor dx = g.gradients(g.reduceSum(y, false, 0)).get(x);
    Map<Tensor, NdArray> out =
        Interpreter.evaluate(
            g, Map.of("x", NdArray.of(F, new long[] {xs.length}, xs)), List.of(y, dx));
    return new double[][] {out.get(y).data(), out.get(dx).data()};
  }

  /** 0.5 x (1 + erf(x / sqrt 2)) and its derivative built from primitives, as a reference. */
  private static double[][] exactGeluFromPrimitives(double[] xs) {
    Graph g = new Graph();
    Tensor x = g.input("x", F, Shape.of(xs.length));
    Tensor cdf = g.mul(g.add(g.erf(g.mul(x, 1 / Math.sqrt(2))), 1.0), 0.5);
    Tensor density = g.mul(g.exp(g.mul(g.mul(x, x), -0.5)), 1 / Math.sqrt(2 * Math.PI));
    Tensor y = g.mul(x, cdf);
    Tensor dy = g.add(cdf, g.mul(x, density));
    Map<Tensor, NdArray> out =
        Interpreter.evaluate(
            g, Map.of("x", NdArray.of(F, new long[] {xs.length}, xs)), List.of(y, dy));
    return new double[][] {out.get(y).data(), out.get(dy).data()};
  }

  @ParameterizedTest
  @EnumSource(Act.class)
  void valuesAndGradientsMatchClosedFormsIntoTheTails(Act act) {
    double[] xs = grid();
    double[][] got = valueAndGradient(act, xs);
    double[][] want =
        act == Act.GELU_EXACT ? exactGeluFromPrimitives(xs) : new double[2][xs.length];
    for (int i = 0; i < xs.length && act != Act.GELU_EXACT; i++) {
      double x = xs[i];
      if (act == Act.GELU_TANH) {
        double th = Math.tanh(K * (x + C * x * x * x));
        want[0][i] = 0.5 * x * (1 + th);
        want[1][i] = 0.5 * (1 + th) + 0.5 * x * (1 - th * th) * K * (1 + 3 * C * x * x);
      } else {
        double s = 1 / (1 + Math.exp(-x));
        want[0][i] = x * s;
        want[1][i] = s + x * s * (1 - s);
      }
    }
    for (int i = 0; i < xs.length; i++) {
      for (int j = 0; j < 2; j++) {
        double tolerance = 1e-13 * (1 + Math.abs(xs[i]));
        assertTrue(
            Math.abs(got[j][i] - want[j][i]) <= tolerance,
            act
                + (j == 0 ? " value" : " gradient")
                + " at "
                + xs[i]
                + ": "
                + got[j][i]
                + " vs "
                + want[j][i]);
      }
    }
  }

  @Test
  void geluTanhIsFiniteAndExactlyZeroOrXFarOut() {
    double[][] got = valueAndGradient(Act.GELU_TANH, new double[] {-1e3, 1e3});
    assertEquals(0.0, got[0][0], 0.0);
    assertEquals(1e3, got[0][1], 0.0);
    assertEquals(0.0, got[1][0], 0.0);
    assertEquals(1.0, got[1][1], 0.0);
  }

  /**
   * A GPT-2-like MLP with a trainable input, as under LoRA, in forward and backward: the activation
   * is one forward node, its backward reads of everything the forward computed only the
   * activation's input x, and spends its budget of full-size passes.
   */
  @ParameterizedTest
  @EnumSource(Act.class)
  void theBackwardReadsOnlyXOfTheForwardAndKeepsToItsPasses(Act act) {
    Graph g = new Graph();
    Tensor x = g.parameter("x", F, Shape.of(2, 3, 8), true);
    Tensor h = g.linear(x, g.parameter("w_fc", F, Shape.of(32, 8), false), null); // (2, 3, 32)
    int before = g.nodes().size();
    Tensor a = act.op.apply(g, h);
    assertEquals(1, g.nodes().size() - before, "the activation is one node");
    Tensor y = g.linear(a, g.parameter("w_proj", F, Shape.of(8, 32), false), null);
    Tensor loss = g.reduceSum(y, false, 0, 1, 2);
    int forward = g.nodes().size();
    g.gradients(loss);
    List<Node> backward = g.nodes().subList(forward, g.nodes().size());

    Set<Tensor> computed = Collections.newSetFromMap(new IdentityHashMap<>());
    g.nodes().subList(0, forward).forEach(n -> computed.add(n.output()));
    Set<Tensor> read = Collections.newSetFromMap(new IdentityHashMap<>());
    backward.forEach(n -> n.inputs().stream().filter(computed::contains).forEach(read::add));
    List<Tensor> activationSized =
        read.stream()
            .filter(t -> t.shape().equals(h.shape()) && !t.dtype().equals(DType.BOOL))
            .toList();
    assertEquals(List.of(h), activationSized, "the backward reads " + read);

    Map<String, Long> passes =
        backward.stream()
            .filter(n -> n.output().shape().equals(h.shape()) && !n.op().equals("Reshape"))
            .collect(Collectors.groupingBy(Node::op, TreeMap::new, Collectors.counting()));
    assertEquals(
        act.backwardPasses,
        passes.values().stream().mapToLong(Long::longValue).sum(),
        act + " backward: " + passes);
  }

  /** The lowering: ONNX nodes per activation, float32 (ORT-fusable forms) and float64. */
  @ParameterizedTest
  @EnumSource(Act.class)
  void lowersToAFewStandardNodes(Act act) {
    for (DType f : List.of(DType.FLOAT32, DType.FLOAT64)) {
      Graph g = new Graph();
      g.output("y", act.op.apply(g, g.input("x", f, Shape.with("batch", 4))));
      OnnxReader r = new OnnxReader(g.toOnnx());
      assertEquals(List.of(), r.problems());
      assertEquals(
          f == DType.FLOAT32 ? act.float32Nodes : act.float64Nodes,
          r.nodes.size(),
          act + " in " + f + ": " + r.nodes.stream().map(OnnxReader.NodeInfo::op).toList());
    }
  }
}
