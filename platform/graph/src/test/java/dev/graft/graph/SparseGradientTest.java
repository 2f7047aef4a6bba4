package dev.graft.graph;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/**
 * The gradients of GatherElements and Gather stay sparse (indices and updates) until a dense one is
 * needed: the cost of the cross-entropy backward over the (N, V) logits, and a backward that leaves
 * no node behind that no output needs (the ONNX lowering and ONNX Runtime would still run it).
 * {@link GradCases} checks the values against finite differences.
 */
class SparseGradientTest {
  private static final DType F = DType.FLOAT64;
  private static final long N = 5;
  private static final long V = 7;
  private static final double[] TARGETS = {3, -100, 0, 6, 3};

  private static Tensor targets(Graph g) {
    return g.constant(NdArray.of(DType.INT64, new long[] {N}, TARGETS));
  }

  /** Op counts of the nodes from index {@code from} on that read or write a tensor of shape s. */
  private static Map<String, Integer> opsOver(Graph g, int from, Shape s) {
    Map<String, Integer> ops = new TreeMap<>();
    for (Node n : g.nodes().subList(from, g.nodes().size())) {
      if (n.output().shape().equals(s) || n.inputs().stream().anyMatch(t -> t.shape().equals(s))) {
        ops.merge(n.op(), 1, Integer::sum);
      }
    }
    return ops;
  }

  /** Nodes whose result no graph output depends on. */
  private static List<Node> deadNodes(Graph g) {
    Set<Tensor> needed = Collections.newSetFromMap(new IdentityHashMap<>());
    List<Tensor> stack = new ArrayList<>(g.outputs().values());
    while (!stack.isEmpty()) {
      Tensor t = stack.remove(stack.size() - 1);
      Node n = g.producer(t);
      if (needed.add(t) && n != null) {
        stack.addAll(n.inputs());
      }
    }
    return g.nodes().stream().filter(n -> !needed.contains(n.output())).toList();
  }

  @Test
  void crossEntropyGradientIsSoftmaxMinusOneHotOverTheKeptTargets() {
    Graph g = new Graph();
    Tensor logits = g.parameter("logits", F, Shape.of(N, V), true);
    Tensor grad = g.gradients(g.crossEntropy(logits, targets(g), -100)).get(logits);
    NdArray x = GradCheck.random(new Random(5), GradCases.any(N, V), F);
    double[] got = Interpreter.evaluate(g, Map.of("logits", x), List.of(grad)).get(grad).data();
    double[] xs = x.data();
    double[] expected = new double[(int) (N * V)];
    long kept = Arrays.stream(TARGETS).filter(t -> t >= 0).count();
    for (int row = 0; row < N; row++) {
      if (TARGETS[row] < 0) {
        continue; // an ignored target contributes nothing
      }
      double sum = 0;
      for (int j = 0; j < V; j++) {
        sum += Math.exp(xs[row * (int) V + j]);
      }
      for (int j = 0; j < V; j++) {
        double oneHot = j == TARGETS[row] ? 1 : 0;
        expected[row * (int) V + j] = (Math.exp(xs[row * (int) V + j]) / sum - oneHot) / kept;
      }
    }
    assertArrayEquals(expected, got, 1e-15);
  }

  @Test
  void crossEntropyBackwardPassesOverTheLogitsThreeTimes() {
    Graph g = new Graph();
    Tensor logits = g.parameter("logits", F, Shape.of(N, V), true);
    Tensor loss = g.crossEntropy(logits, targets(g), -100);
    int forward = g.nodes().size();
    g.gradients(loss);
    // Dense, it was ConstantOfShape + ScatterElements (the gradient of the log-probabilities),
    // then ReduceSum, Exp, Mul and Sub (log-softmax): six passes over (N, V).
    assertEquals(
        Map.of("Exp", 1, "Mul", 1, "ScatterElements", 1), opsOver(g, forward, Shape.of(N, V)));
  }

  @Test
  void aSparseGradientIsScatteredIntoTheOtherGradientOfItsTensor() {
    for (boolean sparseFirst : new boolean[] {true, false}) {
      Graph g = new Graph();
      Tensor x = g.parameter("x", F, Shape.of(3, 4), true);
      Tensor idx = g.constant(NdArray.of(DType.INT64, new long[] {3, 1}, 2, 0, 3));
      // The consumer created last contributes its gradient first.
      Tensor picked;
      Tensor dense;
      if (sparseFirst) {
        dense = g.slice(g.tanh(x), 1, 0, 1);
        picked = g.gatherElements(x, idx, 1);
      } else {
        picked = g.gatherElements(x, idx, 1);
        dense = g.slice(g.tanh(x), 1, 0, 1);
      }
      Tensor loss = g.reduceSum(g.mul(picked, dense), false, 0, 1);
      int forward = g.nodes().size();
      g.gradients(loss);
      Map<String, Integer> ops = opsOver(g, forward, x.shape());
      assertEquals(1, ops.get("ScatterElements"), "sparse first: " + sparseFirst + ", " + ops);
      assertNull(ops.get("ConstantOfShape"), ops.toString());
      assertNull(ops.get("Add"), ops.toString());
    }
    // An embedding table that Gather reads twice and the output projection once (tied).
    Graph g = new Graph();
    Tensor table = g.parameter("table", F, Shape.of(5, 3), true);
    Tensor ids = g.input("ids", DType.INT64, Shape.of(4));
    Tensor h = g.add(g.gather(table, ids, 0), g.gather(table, g.scalar(1, DType.INT64), 0));
    Tensor loss = g.crossEntropy(g.linear(h, table, null), ids, -100);
    int forward = g.nodes().size();
    g.gradients(loss);
    // The projection's gradient comes first (and its input's gradient reads the table); both
    // gathers scatter into it.
    assertEquals(Map.of("Gemm", 2, "ScatterND", 2), opsOver(g, forward, table.shape()));
  }

  @Test
  void aGatherOverPartOfALogSoftmaxMatchesFiniteDifferences() {
    // The updates do not span the rows, so the log-softmax rule takes the gradient dense.
    GradCheck.check(
        new GradCases.Case(
            "log-softmax picked in two of its three rows",
            (g, p) ->
                g.gatherElements(
                    g.logSoftmax(p[0], 1),
                    g.constant(NdArray.of(DType.INT64, new long[] {2, 1}, 3, 1)),
                    1),
            GradCases.any(3, 4)));
  }

  @Test
  void trainingStepsLeaveNoNodeThatNoOutputNeeds() {
    assertEquals(List.of(), deadNodes(TestModels.tinyTransformer(F).graph()));
    // A frozen bias, a masked fill, a max, and a table that Gather reads twice and a product once.
    Graph g = new Graph();
    Tensor ids = g.input("ids", DType.INT64, Shape.of(3));
    Tensor table = g.parameter("table", F, Shape.of(3, 2), true);
    Tensor bias = g.parameter("bias", F, Shape.of(3), false);
    Tensor h = g.add(g.gather(table, ids, 0), g.gather(table, g.scalar(1, DType.INT64), 0));
    Tensor logits = g.linear(g.max(h, g.scalar(0, F)), table, bias); // (3, 3)
    logits = g.maskedFill(logits, g.causalMask(Dim.of(3)), -1e9);
    Tensor loss = g.crossEntropy(logits, g.range(Dim.of(3)), -100);
    TrainingStep.builder(g, loss).build();
    assertEquals(List.of(), deadNodes(g));
  }
}
