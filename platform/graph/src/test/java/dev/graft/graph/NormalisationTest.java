package dev.graft.graph;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Layer normalisation and RMS normalisation, each one IR op: values and gradients against the
 * composites of primitives they replaced, what the forward and backward cost, and the lowering.
 */
class NormalisationTest {
  private static final DType F = DType.FLOAT64;
  private static final int D = 8;

  /** The normalisations under test: LayerNorm with and without beta, RMSNorm. */
  enum Norm {
    LAYER_NORM(true, true, 8, 9, "LayerNormalization"),
    LAYER_NORM_WITHOUT_BETA(true, false, 8, 8, "LayerNormalization"),
    RMS_NORM(false, false, 6, 6, "Pow ReduceMean Add Sqrt Div Mul");

    final boolean centre;
    final boolean beta;
    final int backwardPasses;
    final int float64Nodes;
    final String float32Ops;

    Norm(boolean centre, boolean beta, int backwardPasses, int float64Nodes, String float32Ops) {
      this.centre = centre;
      this.beta = beta;
      this.backwardPasses = backwardPasses;
      this.float64Nodes = float64Nodes;
      this.float32Ops = float32Ops;
    }

    Tensor apply(Graph g, Tensor x, Tensor gamma, Tensor beta) {
      return centre ? g.layerNorm(x, gamma, beta, 1e-5) : g.rmsNorm(x, gamma, 1e-6);
    }

    /** The composite of primitives that the op replaced, as a reference. */
    Tensor composite(Graph g, Tensor x, Tensor gamma, Tensor beta) {
      Tensor xc = centre ? g.sub(x, g.reduceMean(x, true, -1)) : x;
      Tensor meanSquare = g.reduceMean(g.mul(xc, xc), true, -1);
      Tensor y = g.mul(g.mul(xc, g.rsqrt(g.add(meanSquare, centre ? 1e-5 : 1e-6))), gamma);
      return beta == null ? y : g.add(y, beta);
    }
  }

  private static NdArray random(Random rnd, double offset, double scale, long... shape) {
    int n = 1;
    for (long s : shape) {
      n *= (int) s;
    }
    double[] v = new double[n];
    for (int i = 0; i < n; i++) {
      v[i] = offset + scale * (2 * rnd.nextDouble() - 1);
    }
    return NdArray.of(F, shape, v);
  }

  /**
   * y and the gradients of sum(y w) for x, gamma and beta, from the op and from the composite, on
   * inputs with a large mean and a small spread (where centring matters) and on ordinary ones.
   */
  @ParameterizedTest
  @CsvSource({
    "LAYER_NORM, 0, 1",
    "LAYER_NORM, 100, 0.01",
    "LAYER_NORM_WITHOUT_BETA, 0, 3",
    "RMS_NORM, 0, 1",
    "RMS_NORM, 5, 0.1",
    "RMS_NORM, 0, 1e-4"
  })
  void valuesAndGradientsMatchTheCompositeOfPrimitives(Norm norm, double offset, double scale) {
    Random rnd = new Random(norm.ordinal() * 31 + (long) offset);
    Map<String, NdArray> feeds = new LinkedHashMap<>();
    feeds.put("x", random(rnd, offset, scale, 2, 3, D));
    feeds.put("gamma", random(rnd, 1, 0.5, D));
    feeds.put("beta", random(rnd, 0, 1, D));
    NdArray w = random(rnd, 0, 1, 2, 3, D);
    List<double[]> got = valueAndGradients(norm, false, feeds, w);
    List<double[]> want = valueAndGradients(norm, true, feeds, w);
    for (int i = 0; i < got.size(); i++) {
      double scaleOf = 0;
      for (double v : want.get(i)) {
        scaleOf = Math.max(scaleOf, Math.abs(v));
      }
      for (int k = 0; k < got.get(i).length; k++) {
        double error = Math.abs(got.get(i)[k] - want.get(i)[k]);
        assertTrue(
            error <= 1e-12 * scaleOf,
            norm + " output " + i + "[" + k + "]: " + got.get(i)[k] + " vs " + want.get(i)[k]);
      }
    }
  }

  private static List<double[]> valueAndGradients(
      Norm norm, boolean composite, Map<String, NdArray> feeds, NdArray w) {
    Graph g = new Graph();
    Tensor x = g.parameter("x", F, Shape.of(2, 3, D), true);
    Tensor gamma = g.parameter("gamma", F, Shape.of(D), true);
    Tensor beta = norm.beta ? g.parameter("beta", F, Shape.of(D), true) : null;
    Tensor y = composite ? norm.composite(g, x, gamma, beta) : norm.apply(g, x, gamma, beta);
    Map<Tensor, Tensor> grads = g.gradients(g.reduceSum(g.mul(y, g.constant(w)), false, 0, 1, 2));
    List<Tensor> targets = new ArrayList<>(List.of(y, grads.get(x), grads.get(gamma)));
    if (beta != null) {
      targets.add(grads.get(beta));
    }
    Map<Tensor, NdArray> out = Interpreter.evaluate(g, feeds, targets);
    return targets.stream().map(t -> out.get(t).data()).toList();
  }

  /** A transformer-like block around the norm: its input h comes from a trainable linear layer. */
  private record Block(Graph g, Tensor h, Tensor gamma, Tensor beta, int forward) {}

  private static Block block(Norm norm, DType f, boolean trainableWeights) {
    Graph g = new Graph();
    Tensor x = g.input("x", f, Shape.with("batch", "seq", D));
    Tensor h = g.linear(x, g.parameter("w_in", f, Shape.of(D, D), true), null); // (B, T, d)
    Tensor gamma = g.parameter("gamma", f, Shape.of(D), trainableWeights);
    Tensor beta = norm.beta ? g.parameter("beta", f, Shape.of(D), trainableWeights) : null;
    int before = g.nodes().size();
    Tensor y = norm.apply(g, h, gamma, beta);
    assertEquals(1, g.nodes().size() - before, "the normalisation is one node");
    Tensor out = g.linear(y, g.parameter("w_out", f, Shape.of(4, D), false), null);
    Tensor loss = g.reduceSum(g.mul(out, out), false, 0, 1, 2);
    int forward = g.nodes().size();
    Map<Tensor, Tensor> grads = g.gradients(loss);
    g.output("loss", loss);
    grads.forEach((p, grad) -> g.output("grad." + p.name(), grad));
    return new Block(g, h, gamma, beta, forward);
  }

  /**
   * In a block whose norm input depends on a trainable, as under LoRA, and the norm's weights
   * frozen or trainable: the backward reads of everything the forward computed only the norm's
   * input h (of h's size), spends its budget of passes over h's size, and emits nothing for frozen
   * weights.
   */
  @ParameterizedTest
  @CsvSource({
    "LAYER_NORM, false",
    "LAYER_NORM, true",
    "LAYER_NORM_WITHOUT_BETA, false",
    "LAYER_NORM_WITHOUT_BETA, true",
    "RMS_NORM, false",
    "RMS_NORM, true"
  })
  void theBackwardReadsOnlyXGammaAndBetaAndKeepsToItsPasses(Norm norm, boolean trainable) {
    Block b = block(norm, F, trainable);
    Graph g = b.g();
    List<Node> backward = g.nodes().subList(b.forward(), g.nodes().size());
    Set<Tensor> computed = Collections.newSetFromMap(new IdentityHashMap<>());
    g.nodes().subList(0, b.forward()).forEach(n -> computed.add(n.output()));
    Set<Tensor> read = Collections.newSetFromMap(new IdentityHashMap<>());
    backward.forEach(n -> n.inputs().stream().filter(computed::contains).forEach(read::add));
    List<Tensor> large = read.stream().filter(t -> t.shape().equals(b.h().shape())).toList();
    assertEquals(List.of(b.h()), large, "the backward reads " + read);

    Map<String, Long> passes =
        backward.stream()
            .filter(n -> n.output().shape().equals(b.h().shape()) && !n.op().equals("Reshape"))
            .collect(Collectors.groupingBy(Node::op, TreeMap::new, Collectors.counting()));
    // The Gemm backward of the linear layer after the norm is a Reshape; the norm's rule is all.
    assertEquals(
        norm.backwardPasses,
        passes.values().stream().mapToLong(Long::longValue).sum(),
        norm + " backward: " + passes);

    Set<String> weights = new java.util.HashSet<>(List.of("grad.gamma", "grad.beta"));
    weights.retainAll(g.outputs().keySet());
    assertEquals(trainable ? (norm.beta ? 2 : 1) : 0, weights.size(), "gradients: " + weights);
    boolean weightSized =
        backward.stream()
            .anyMatch(
                n ->
                    n.output().shape().equals(Shape.of(D))
                        || n.output().shape().equals(Shape.of(1, D)));
    assertEquals(trainable, weightSized, "nodes for the weights' gradients");
  }

  /**
   * In the lowered training step, no two nodes that read h are the same op on the same values
   * (constants compared by value): ONNX Runtime's common-subexpression elimination would merge them
   * and keep the forward's intermediates alive for the backward, which also stops the fusion.
   */
  @ParameterizedTest
  @EnumSource(Norm.class)
  void noBackwardNodeOnXRepeatsAForwardNode(Norm norm) {
    for (DType f : List.of(DType.FLOAT32, DType.FLOAT64)) {
      for (boolean trainable : List.of(false, true)) {
        Block b = block(norm, f, trainable);
        OnnxReader r = new OnnxReader(b.g().toOnnx());
        assertEquals(List.of(), r.problems());
        Map<String, String> constants = new LinkedHashMap<>();
        r.initializers.stream()
            .filter(t -> t.raw() != null)
            .forEach(
                t ->
                    constants.put(
                        t.name(),
                        t.dataType()
                            + java.util.Arrays.toString(t.dims())
                            + HexFormat.of().formatHex(t.raw())));
        String h = b.h().name();
        Map<String, Integer> seen = new LinkedHashMap<>();
        for (OnnxReader.NodeInfo n : r.nodes) {
          if (n.inputs().contains(h)) {
            String key =
                n.op()
                    + n.inputs().stream().map(i -> constants.getOrDefault(i, i)).toList()
                    + n.attributes().keySet();
            seen.merge(key, 1, Integer::sum);
          }
        }
        assertTrue(seen.size() > 2, norm + ": nodes reading h: " + seen);
        seen.forEach(
            (key, count) ->
                assertEquals(
                    1, count, norm + " in " + f + ", trainable " + trainable + ": " + key));
      }
    }
  }

  /** The forward's lowering: the ONNX nodes of one normalisation in float32 and float64. */
  @ParameterizedTest
  @EnumSource(Norm.class)
  void lowersToOneOpOrTheFusablePatternInFloat32(Norm norm) {
    for (DType f : List.of(DType.FLOAT32, DType.FLOAT64)) {
      Graph g = new Graph();
      Tensor x = g.input("x", f, Shape.with("batch", D));
      Tensor gamma = g.parameter("gamma", f, Shape.of(D), true);
      Tensor beta = norm.beta ? g.parameter("beta", f, Shape.of(D), false) : null;
      g.output("y", norm.apply(g, x, gamma, beta));
      OnnxReader r = new OnnxReader(g.toOnnx());
      assertEquals(List.of(), r.problems());
      List<String> ops = r.nodes.stream().map(OnnxReader.NodeInfo::op).toList();
      if (f == DType.FLOAT32) {
        assertEquals(List.of(norm.float32Ops.split(" ")), ops);
      } else {
        assertEquals(norm.float64Nodes, ops.size(), f + ": " + ops);
        assertFalse(ops.contains("Pow"), "ONNX Runtime's norm fusions start from Pow: " + ops);
      }
      if (f == DType.FLOAT32 && norm.centre) {
        OnnxReader.NodeInfo ln = r.nodes.get(0);
        assertEquals(norm.beta ? 3 : 2, ln.inputs().size());
        assertEquals(
            1e-5f, Float.intBitsToFloat((Integer) ln.attributes().get("epsilon").all(2).get(0)));
        assertEquals(-1L, ln.attributes().get("axis").all(3).get(0));
      }
    }
  }

  @Test
  void weightsMustMatchAFixedLastAxis() {
    Graph g = new Graph();
    Tensor x = g.input("x", F, Shape.of(2, D));
    Tensor free = g.input("free", F, Shape.with(2, "d"));
    Tensor gamma = g.parameter("gamma", F, Shape.of(D), true);
    Tensor wrong = g.parameter("wrong", F, Shape.of(D - 1), true);
    Tensor wide = g.parameter("wide", F, Shape.of(1, D), true);
    Tensor single = g.parameter("single", DType.FLOAT32, Shape.of(D), true);
    assertThrows(IllegalArgumentException.class, () -> g.layerNorm(x, wrong, null, 1e-5));
    assertThrows(IllegalArgumentException.class, () -> g.layerNorm(x, gamma, wide, 1e-5));
    assertThrows(IllegalArgumentException.class, () -> g.rmsNorm(x, single, 1e-6));
    assertThrows(IllegalArgumentException.class, () -> g.rmsNorm(free, gamma, 1e-6));
    assertThrows(IllegalArgumentException.class, () -> g.rmsNorm(x, gamma, -1));
    assertThrows(IllegalArgumentException.class, () -> g.rmsNorm(x, gamma, Double.NaN));
  }
}
