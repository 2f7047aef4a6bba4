package dev.graft.graph;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class TrainingStepTest {
  private static final DType F = DType.FLOAT64;

  private static NdArray vec(long[] shape, double... v) {
    return NdArray.of(F, shape, v);
  }

  private static double[] randn(Random rnd, int n) {
    double[] v = new double[n];
    for (int i = 0; i < n; i++) {
      v[i] = rnd.nextGaussian() * 0.5;
    }
    return v;
  }

  // ---------------------------------------------------------------- a 2-layer MLP step

  @Test
  void mlpLossGradientsAndAdamWUpdateMatchPlainJava() {
    Random rnd = new Random(1);
    double[] x = randn(rnd, Reference.N * Reference.IN);
    double[] y = randn(rnd, Reference.N * Reference.OUT);
    double[] w1 = randn(rnd, Reference.HID * Reference.IN);
    double[] b1 = randn(rnd, Reference.HID);
    double[] w2 = randn(rnd, Reference.OUT * Reference.HID);
    double[] b2 = randn(rnd, Reference.OUT);

    Reference.Mlp java = Reference.mlp(x, y, w1, b1, w2, b2);
    double loss = java.loss();
    double[] gw1 = java.gw1();
    double[] gb1 = java.gb1();
    double[] gw2 = java.gw2();
    double[] gb2 = java.gb2();
    Map<String, NdArray> feeds = new HashMap<>();
    feeds.put("x", vec(new long[] {Reference.N, Reference.IN}, x));
    feeds.put("y", vec(new long[] {Reference.N, Reference.OUT}, y));
    feeds.put("w1", vec(new long[] {Reference.HID, Reference.IN}, w1));
    feeds.put("b1", vec(new long[] {Reference.HID}, b1));
    feeds.put("w2", vec(new long[] {Reference.OUT, Reference.HID}, w2));
    feeds.put("b2", vec(new long[] {Reference.OUT}, b2));

    // Loss and gradients from the graph.
    Reference.MlpGraph m = Reference.mlpGraph(F);
    Map<Tensor, Tensor> grads = m.g().gradients(m.loss());
    m.g().output("loss", m.loss());
    m.g().output("gw1", grads.get(m.w1()));
    m.g().output("gb1", grads.get(m.b1()));
    m.g().output("gw2", grads.get(m.w2()));
    m.g().output("gb2", grads.get(m.b2()));
    Map<String, NdArray> r = Interpreter.run(m.g(), feeds);
    assertEquals(loss, r.get("loss").item(), 1e-14);
    assertArrayEquals(gw1, r.get("gw1").data(), 1e-14);
    assertArrayEquals(gb1, r.get("gb1").data(), 1e-14);
    assertArrayEquals(gw2, r.get("gw2").data(), 1e-14);
    assertArrayEquals(gb2, r.get("gb2").data(), 1e-14);

    // One AdamW step from zero moments at t = 1.
    Reference.MlpGraph s = Reference.mlpGraph(F);
    TrainingStep step = TrainingStep.builder(s.g(), s.loss()).weightDecay(0.1).build();
    feeds.put("step", NdArray.scalar(F, 1));
    feeds.put("lr.default", NdArray.scalar(F, 0.01));
    for (Tensor p : s.g().trainables()) {
      feeds.put("m." + p.name(), NdArray.zeros(F, p.shape().sizes()));
      feeds.put("v." + p.name(), NdArray.zeros(F, p.shape().sizes()));
    }
    Map<String, NdArray> next = Interpreter.run(step.graph(), feeds);
    assertEquals(loss, next.get("loss").item(), 1e-14);
    Map<String, double[][]> expected =
        Map.of(
            "w1",
            new double[][] {w1, gw1},
            "b1",
            new double[][] {b1, gb1},
            "w2",
            new double[][] {w2, gw2},
            "b2",
            new double[][] {b2, gb2});
    expected.forEach(
        (name, pg) -> {
          double[] p = pg[0];
          double[] grad = pg[1];
          double[] got = next.get("next." + name).data();
          double[] gotM = next.get("next.m." + name).data();
          for (int i = 0; i < p.length; i++) {
            double[] ref = Reference.adamw(p[i], grad[i], 0, 0, 1, 0.01, 0.1);
            assertEquals(ref[0], got[i], 1e-14, name + "[" + i + "]");
            assertEquals(ref[1], gotM[i], 1e-14, "m." + name + "[" + i + "]");
          }
        });
    assertEquals("w1", step.carry().get("next.w1"));
    assertEquals("v.b2", step.carry().get("next.v.b2"));
  }

  // ---------------------------------------------------------------- AdamW, groups, clipping,
  // accumulation

  /** loss = sum((a - c)^2) + sum(b^3) / 3, so dL/da = 2 (a - c) and dL/db = b^2. */
  private static Graph quadratic(Tensor[] ab) {
    Graph g = new Graph();
    Tensor a = g.parameter("a", F, Shape.of(3), true);
    Tensor b = g.parameter("b", F, Shape.of(2), true);
    Tensor c = g.input("c", F, Shape.of(3));
    Tensor d = g.sub(a, c);
    Tensor loss =
        g.add(
            g.reduceSum(g.mul(d, d), false, 0),
            g.mul(g.reduceSum(g.pow(b, 3.0), false, 0), 1.0 / 3));
    g.output("raw", loss);
    ab[0] = a;
    ab[1] = b;
    return g;
  }

  private static Map<String, NdArray> initialFeeds(
      TrainingStep step, double[] a, double[] b, double[] c) {
    Map<String, NdArray> feeds = new HashMap<>();
    feeds.put("a", vec(new long[] {3}, a));
    feeds.put("b", vec(new long[] {2}, b));
    feeds.put("c", vec(new long[] {3}, c));
    for (String in : step.carry().values()) {
      if (in.startsWith("m.") || in.startsWith("v.") || in.startsWith("acc.")) {
        feeds.put(in, NdArray.zeros(F, in.endsWith(".a") ? 3 : 2));
      }
    }
    return feeds;
  }

  private static void feedBack(
      TrainingStep step, Map<String, NdArray> out, Map<String, NdArray> feeds) {
    step.carry().forEach((o, i) -> feeds.put(i, out.get(o)));
  }

  @Test
  void adamWMatchesScalarReferenceOverStepsWithTwoGroups() {
    Tensor[] ab = new Tensor[2];
    Graph g = quadratic(ab);
    TrainingStep step =
        TrainingStep.builder(g, g.outputs().get("raw"))
            .group("fast", 0.1, ab[0])
            .group("slow", 0.0, ab[1])
            .build();
    double[] a = {0.5, -1.0, 2.0};
    double[] b = {0.7, -0.3};
    double[] c = {0.1, 0.2, 0.3};
    double[][] ma = new double[2][3];
    double[][] mb = new double[2][2];
    Map<String, NdArray> feeds = initialFeeds(step, a, b, c);
    for (int t = 1; t <= 5; t++) {
      double lrFast = 0.1 / t; // a schedule fed from Java
      feeds.put("step", NdArray.scalar(F, t));
      feeds.put("lr.fast", NdArray.scalar(F, lrFast));
      feeds.put("lr.slow", NdArray.scalar(F, 0.01));
      Map<String, NdArray> out = Interpreter.run(step.graph(), feeds);
      for (int i = 0; i < 3; i++) {
        double[] r = Reference.adamw(a[i], 2 * (a[i] - c[i]), ma[0][i], ma[1][i], t, lrFast, 0.1);
        a[i] = r[0];
        ma[0][i] = r[1];
        ma[1][i] = r[2];
      }
      for (int i = 0; i < 2; i++) {
        double[] r = Reference.adamw(b[i], b[i] * b[i], mb[0][i], mb[1][i], t, 0.01, 0.0);
        b[i] = r[0];
        mb[0][i] = r[1];
        mb[1][i] = r[2];
      }
      assertArrayEquals(a, out.get("next.a").data(), 1e-15, "a after step " + t);
      assertArrayEquals(b, out.get("next.b").data(), 1e-15, "b after step " + t);
      assertArrayEquals(ma[1], out.get("next.v.a").data(), 1e-15, "v.a after step " + t);
      feedBack(step, out, feeds);
    }
  }

  @Test
  void clippingScalesGradientsByGlobalNorm() {
    Tensor[] ab = new Tensor[2];
    Graph g = quadratic(ab);
    TrainingStep step =
        TrainingStep.builder(g, g.outputs().get("raw")).weightDecay(0).maxGradNorm(0.5).build();
    double[] a = {0.5, -1.0, 2.0};
    double[] b = {0.7, -0.3};
    double[] c = {0.1, 0.2, 0.3};
    Map<String, NdArray> feeds = initialFeeds(step, a, b, c);
    feeds.put("step", NdArray.scalar(F, 1));
    feeds.put("lr.default", NdArray.scalar(F, 0.1));
    Map<String, NdArray> out = Interpreter.run(step.graph(), feeds);
    double[] grad = {
      2 * (a[0] - c[0]), 2 * (a[1] - c[1]), 2 * (a[2] - c[2]), b[0] * b[0], b[1] * b[1]
    };
    double norm = Math.sqrt(java.util.Arrays.stream(grad).map(x -> x * x).sum());
    assertEquals(norm, out.get("grad_norm").item(), 1e-14);
    double scale = Math.min(1, 0.5 / (norm + 1e-6));
    double[] m = out.get("next.m.a").data();
    for (int i = 0; i < 3; i++) {
      assertEquals(0.1 * grad[i] * scale, m[i], 1e-15, "m is built from the clipped gradient");
    }
    assertEquals(0.1 * grad[3] * scale, out.get("next.m.b").get(0), 1e-15);
  }

  /** The gradient of {@link #quadratic} in Java: {a, b}. */
  private static double[][] quadraticGradient(double[] a, double[] b, double[] c) {
    double[] ga = new double[3];
    for (int i = 0; i < 3; i++) {
      ga[i] = 2 * (a[i] - c[i]);
    }
    return new double[][] {ga, {b[0] * b[0], b[1] * b[1]}};
  }

  private static double norm(double[]... gs) {
    double sumSq = 0;
    for (double[] g : gs) {
      for (double x : g) {
        sumSq += x * x;
      }
    }
    return Math.sqrt(sumSq);
  }

  @Test
  void clippedAdamWWithAndWithoutDecayMatchesScalarReferenceOverSteps() {
    Tensor[] ab = new Tensor[2];
    Graph g = quadratic(ab);
    TrainingStep step =
        TrainingStep.builder(g, g.outputs().get("raw"))
            .group("decayed", 0.1, ab[0])
            .group("plain", 0.0, ab[1])
            .maxGradNorm(0.5)
            .build();
    double[] a = {0.5, -1.0, 2.0};
    double[] b = {0.7, -0.3};
    double[] c = {0.1, 0.2, 0.3};
    double[][] ma = new double[2][3];
    double[][] mb = new double[2][2];
    Map<String, NdArray> feeds = initialFeeds(step, a, b, c);
    for (int t = 1; t <= 5; t++) {
      double[][] grad = quadraticGradient(a, b, c);
      double norm = norm(grad);
      double scale = Math.min(1, 0.5 / (norm + 1e-6));
      assertTrue(scale < 1, "the gradient is clipped at step " + t);
      feeds.put("step", NdArray.scalar(F, t));
      feeds.put("lr.decayed", NdArray.scalar(F, 0.1 / t));
      feeds.put("lr.plain", NdArray.scalar(F, 0.05));
      Map<String, NdArray> out = Interpreter.run(step.graph(), feeds);
      for (int i = 0; i < 3; i++) {
        double[] r = Reference.adamw(a[i], grad[0][i] * scale, ma[0][i], ma[1][i], t, 0.1 / t, 0.1);
        a[i] = r[0];
        ma[0][i] = r[1];
        ma[1][i] = r[2];
      }
      for (int i = 0; i < 2; i++) {
        double[] r = Reference.adamw(b[i], grad[1][i] * scale, mb[0][i], mb[1][i], t, 0.05, 0.0);
        b[i] = r[0];
        mb[0][i] = r[1];
        mb[1][i] = r[2];
      }
      String after = " after step " + t;
      assertEquals(norm, out.get("grad_norm").item(), 1e-14, "grad_norm" + after);
      assertArrayEquals(a, out.get("next.a").data(), 1e-15, "a" + after);
      assertArrayEquals(ma[0], out.get("next.m.a").data(), 1e-15, "m.a" + after);
      assertArrayEquals(ma[1], out.get("next.v.a").data(), 1e-15, "v.a" + after);
      assertArrayEquals(b, out.get("next.b").data(), 1e-15, "b" + after);
      assertArrayEquals(mb[0], out.get("next.m.b").data(), 1e-15, "m.b" + after);
      assertArrayEquals(mb[1], out.get("next.v.b").data(), 1e-15, "v.b" + after);
      feedBack(step, out, feeds);
    }
  }

  @Test
  void adamWPassesOverEachParameterOnlyForTheUpdateItself() {
    Tensor[] ab = new Tensor[2];
    Graph backward = quadratic(ab);
    backward.gradients(backward.outputs().get("raw"));
    Graph g = quadratic(ab);
    TrainingStep.builder(g, g.outputs().get("raw"))
        .group("decayed", 0.1, ab[0])
        .group("plain", 0.0, ab[1])
        .maxGradNorm(1)
        .build();
    // g², which the norm sums too; m: 2 Mul, Add; v: 2 Mul, Add; sqrt(v) + eps'; the step: Div,
    // Mul, Sub; and p (1 - lr wd) where wd > 0. Clipping and bias corrections are scalar.
    for (Shape s : List.of(Shape.of(3), Shape.of(2))) {
      long update = passesOver(g, s) - passesOver(backward, s);
      assertEquals(s.equals(Shape.of(3)) ? 13 : 12, update, "passes over " + s);
    }
  }

  private static long passesOver(Graph g, Shape s) {
    return g.nodes().stream().filter(n -> n.output().shape().equals(s)).count();
  }

  @Test
  void accumulationAppliesTheWeightedSumOfGradientsEveryNthMicroStep() {
    Tensor[] ab = new Tensor[2];
    Graph g = quadratic(ab);
    TrainingStep step =
        TrainingStep.builder(g, g.outputs().get("raw")).accumulationSteps(3).build();
    double[] a = {0.5, -1.0, 2.0};
    double[] b = {0.7, -0.3};
    double[][] cs = {{0.1, 0.2, 0.3}, {1.0, -1.0, 0.0}, {-0.5, 0.5, 2.5}};
    double[] w = {0.2, 0.3, 0.5}; // the micro-steps' shares, e.g. of the learned tokens
    Map<String, NdArray> feeds = initialFeeds(step, a, b, cs[0]);
    feeds.put("step", NdArray.scalar(F, 1));
    feeds.put("lr.default", NdArray.scalar(F, 0.1));
    Map<String, NdArray> out = null;
    for (int micro = 0; micro < 3; micro++) {
      feeds.put("c", vec(new long[] {3}, cs[micro]));
      feeds.put("micro_weight", NdArray.scalar(F, w[micro]));
      feeds.put("apply", NdArray.scalar(DType.BOOL, micro == 2 ? 1 : 0));
      out = Interpreter.run(step.graph(), feeds);
      if (micro < 2) {
        assertArrayEquals(a, out.get("next.a").data(), 0, "no update before the 3rd micro-step");
        assertTrue(out.get("next.acc.a").get(0) != 0, "gradients accumulate");
      }
      feedBack(step, out, feeds);
    }
    assertArrayEquals(
        new double[3], out.get("next.acc.a").data(), 0, "accumulators reset after an update");
    for (int i = 0; i < 3; i++) {
      double weighted = 0;
      for (int micro = 0; micro < 3; micro++) {
        weighted += w[micro] * 2 * (a[i] - cs[micro][i]);
      }
      assertEquals(
          Reference.adamw(a[i], weighted, 0, 0, 1, 0.1, 0.01)[0], out.get("next.a").get(i), 1e-15);
    }
    assertEquals(
        Reference.adamw(b[1], b[1] * b[1], 0, 0, 1, 0.1, 0.01)[0], out.get("next.b").get(1), 1e-15);
  }

  @Test
  void accumulatedGradientsAreClippedByTheNormOfTheirMean() {
    Tensor[] ab = new Tensor[2];
    Graph g = quadratic(ab);
    TrainingStep step =
        TrainingStep.builder(g, g.outputs().get("raw"))
            .accumulationSteps(2)
            .maxGradNorm(0.5)
            .build();
    double[] a = {0.5, -1.0, 2.0};
    double[] b = {0.7, -0.3};
    double[][] cs = {{0.1, 0.2, 0.3}, {1.0, -1.0, 0.0}};
    Map<String, NdArray> feeds = initialFeeds(step, a, b, cs[0]);
    feeds.put("step", NdArray.scalar(F, 1));
    feeds.put("lr.default", NdArray.scalar(F, 0.1));
    double[][] mean = new double[2][];
    Map<String, NdArray> out = null;
    for (int micro = 0; micro < 2; micro++) {
      double[][] grad = quadraticGradient(a, b, cs[micro]);
      for (int k = 0; k < 2; k++) {
        mean[k] = mean[k] == null ? new double[grad[k].length] : mean[k];
        for (int i = 0; i < grad[k].length; i++) {
          mean[k][i] += grad[k][i] / 2;
        }
      }
      feeds.put("c", vec(new long[] {3}, cs[micro]));
      feeds.put("micro_weight", NdArray.scalar(F, 0.5));
      feeds.put("apply", NdArray.scalar(DType.BOOL, micro == 1 ? 1 : 0));
      out = Interpreter.run(step.graph(), feeds);
      feedBack(step, out, feeds);
    }
    double norm = norm(mean);
    double scale = Math.min(1, 0.5 / (norm + 1e-6));
    assertTrue(scale < 1, "the mean gradient is clipped");
    assertEquals(norm, out.get("grad_norm").item(), 1e-14);
    for (int i = 0; i < 3; i++) {
      double[] r = Reference.adamw(a[i], mean[0][i] * scale, 0, 0, 1, 0.1, 0.01);
      assertEquals(r[0], out.get("next.a").get(i), 1e-15, "a[" + i + "]");
      assertEquals(r[2], out.get("next.v.a").get(i), 1e-15, "v.a[" + i + "]");
    }
    double[] r = Reference.adamw(b[0], mean[1][0] * scale, 0, 0, 1, 0.1, 0.01);
    assertEquals(r[0], out.get("next.b").get(0), 1e-15);
    assertEquals(r[1], out.get("next.m.b").get(0), 1e-15);
  }

  @Test
  void trainablesTheLossIgnoresPassThroughUnchanged() {
    Graph g = new Graph();
    Tensor a = g.parameter("a", F, Shape.of(2), true);
    g.parameter("unused", F, Shape.of(2), true);
    TrainingStep step = TrainingStep.builder(g, g.reduceSum(g.mul(a, a), false, 0)).build();
    Map<String, NdArray> feeds = new HashMap<>();
    for (String n : new String[] {"a", "unused", "m.a", "v.a", "m.unused", "v.unused"}) {
      feeds.put(n, vec(new long[] {2}, 1, 2));
    }
    feeds.put("step", NdArray.scalar(F, 1));
    feeds.put("lr.default", NdArray.scalar(F, 0.1));
    Map<String, NdArray> out = Interpreter.run(step.graph(), feeds);
    assertArrayEquals(new double[] {1, 2}, out.get("next.unused").data(), 0);
    assertTrue(out.get("next.a").get(0) < 1);
  }

  @Test
  void groupsMustHoldTrainables() {
    Tensor[] ab = new Tensor[2];
    Graph g = quadratic(ab);
    g.setTrainable(ab[1], false);
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> TrainingStep.builder(g, g.outputs().get("raw")).group("bias", 0, ab[1]));
    assertTrue(e.getMessage().contains("not a trainable"), e.getMessage());
  }

  // ---------------------------------------------------------------- non-finite steps

  private static Map<String, NdArray> stepOnce(TrainingStep step, double[] c) {
    Map<String, NdArray> feeds =
        initialFeeds(step, new double[] {0.5, -1, 2}, new double[] {0.7, -0.3}, c);
    feeds.put("step", NdArray.scalar(F, 1));
    feeds.put("lr.default", NdArray.scalar(F, 0.1));
    return Interpreter.run(step.graph(), feeds);
  }

  private static TrainingStep skipping(int accumulation) {
    Tensor[] ab = new Tensor[2];
    Graph g = quadratic(ab);
    return TrainingStep.builder(g, g.outputs().get("raw"))
        .accumulationSteps(accumulation)
        .skipNonFinite()
        .build();
  }

  @Test
  void aNanLossLeavesParametersAndMomentsUnchangedWhenSkipping() {
    Map<String, NdArray> out = stepOnce(skipping(1), new double[] {0.1, Double.NaN, 0.3});
    assertEquals(0, out.get("finite").item());
    assertArrayEquals(new double[] {0.5, -1, 2}, out.get("next.a").data());
    assertArrayEquals(new double[] {0.7, -0.3}, out.get("next.b").data());
    assertArrayEquals(new double[3], out.get("next.m.a").data());
    assertArrayEquals(new double[3], out.get("next.v.a").data());
  }

  @Test
  void anInfiniteGradientIsSkippedAsWell() {
    Map<String, NdArray> out =
        stepOnce(skipping(1), new double[] {0.1, Double.POSITIVE_INFINITY, 0.3});
    assertEquals(0, out.get("finite").item());
    assertArrayEquals(new double[] {0.5, -1, 2}, out.get("next.a").data());
  }

  @Test
  void aFiniteStepIsAppliedAsWithoutTheCheck() {
    Tensor[] ab = new Tensor[2];
    Graph g = quadratic(ab);
    TrainingStep plain = TrainingStep.builder(g, g.outputs().get("raw")).build();
    double[] c = {0.1, 0.2, 0.3};
    Map<String, NdArray> out = stepOnce(skipping(1), c);
    assertEquals(1, out.get("finite").item());
    assertArrayEquals(stepOnce(plain, c).get("next.a").data(), out.get("next.a").data(), 0);
  }

  @Test
  void theDefaultStepHasNoFinitenessCheck() {
    Tensor[] ab = new Tensor[2];
    Graph g = quadratic(ab);
    TrainingStep plain = TrainingStep.builder(g, g.outputs().get("raw")).build();
    assertTrue(!plain.graph().outputs().containsKey("finite"));
    assertTrue(plain.graph().nodes().stream().noneMatch(n -> n.op().equals("Equal")));
  }

  @Test
  void aNonFiniteMicroStepSkipsTheWholeAccumulatedUpdateAndClearsTheAccumulators() {
    TrainingStep step = skipping(2);
    Map<String, NdArray> feeds =
        initialFeeds(
            step,
            new double[] {0.5, -1, 2},
            new double[] {0.7, -0.3},
            new double[] {0.1, Double.NaN, 0.3});
    feeds.put("step", NdArray.scalar(F, 1));
    feeds.put("lr.default", NdArray.scalar(F, 0.1));
    feeds.put("apply", NdArray.scalar(DType.BOOL, 0));
    feeds.put("micro_weight", NdArray.scalar(F, 0.5));
    Map<String, NdArray> out = Interpreter.run(step.graph(), feeds);
    feedBack(step, out, feeds);
    feeds.put("c", vec(new long[] {3}, 0.1, 0.2, 0.3));
    feeds.put("apply", NdArray.scalar(DType.BOOL, 1));
    out = Interpreter.run(step.graph(), feeds);
    assertEquals(0, out.get("finite").item());
    assertArrayEquals(new double[] {0.5, -1, 2}, out.get("next.a").data());
    assertArrayEquals(new double[3], out.get("next.acc.a").data());
  }
}
