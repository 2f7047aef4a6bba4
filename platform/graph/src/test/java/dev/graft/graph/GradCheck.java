package dev.graft.graph;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Gradient checks against central finite differences. A {@link GradCases.Case} becomes a {@link
 * Problem}: its inputs are trainable parameters {@code p0, p1, ...} with fresh random values, and
 * the loss is sum(y * w) for a fixed random w, so every output element contributes with a different
 * weight. {@link #check} runs it on the reference interpreter in float64; backends run the same
 * problems on their runtime.
 */
public final class GradCheck {
  /** Central-difference step in float64. */
  public static final double H = 1e-6;

  /** Largest accepted {@linkplain #relativeError relative error} in float64. */
  public static final double TOLERANCE = 1e-5;

  /**
   * A case built into a graph.
   *
   * @param params the trainable inputs, named {@code p0, p1, ...}
   * @param feeds random values for them, drawn from their specs with a seed taken from the name
   * @param loss sum(y * w), a scalar
   * @param grads the gradient of the loss with respect to each of {@code params}, in order
   */
  public record Problem(
      Graph graph,
      List<Tensor> params,
      Map<String, NdArray> feeds,
      Tensor loss,
      List<Tensor> grads) {}

  /** Builds {@code c} with inputs of {@code dtype}. */
  public static Problem problem(GradCases.Case c, DType dtype) {
    Random rnd = new Random(c.name().hashCode());
    Graph g = new Graph();
    List<Tensor> params = new ArrayList<>();
    Map<String, NdArray> feeds = new HashMap<>();
    for (int i = 0; i < c.specs().length; i++) {
      GradCases.Spec spec = c.specs()[i];
      params.add(g.parameter("p" + i, dtype, Shape.of(spec.shape()), true));
      feeds.put("p" + i, random(rnd, spec, dtype));
    }
    Tensor y = c.op().apply(g, params.toArray(new Tensor[0]));
    GradCases.Spec weightSpec = new GradCases.Spec(y.shape().sizes(), -1, 1);
    Tensor weights = g.constant(random(rnd, weightSpec, dtype));
    int[] all = new int[y.rank()];
    for (int i = 0; i < all.length; i++) {
      all[i] = i;
    }
    Tensor loss = g.reduceSum(g.mul(y, weights), false, all);
    Map<Tensor, Tensor> byParam = g.gradients(loss);
    List<Tensor> grads = new ArrayList<>();
    for (Tensor p : params) {
      assertTrue(byParam.containsKey(p), c.name() + ": no gradient for " + p);
      grads.add(byParam.get(p));
    }
    return new Problem(g, params, feeds, loss, grads);
  }

  /**
   * {@code |analytic - numeric| / max(1e-3, |analytic| + |numeric|)}: relative, with a floor so
   * that gradients near zero are compared absolutely.
   */
  public static double relativeError(double analytic, double numeric) {
    return Math.abs(analytic - numeric) / Math.max(1e-3, Math.abs(analytic) + Math.abs(numeric));
  }

  /** The largest relative error seen so far, and where. */
  public static final class Worst {
    private double error;
    private String where = "nowhere";

    /** Records one comparison. */
    public void add(double analytic, double numeric, String where) {
      double e = relativeError(analytic, numeric);
      if (e > error || Double.isNaN(e)) {
        error = Double.isNaN(e) ? Double.POSITIVE_INFINITY : e;
        this.where = where + ": analytic " + analytic + ", numeric " + numeric;
      }
    }

    public double error() {
      return error;
    }

    /** {@code max relative error 3.1e-9 at p0[2]: analytic ..., numeric ...}. */
    @Override
    public String toString() {
      return "max relative error " + error + " at " + where;
    }
  }

  /** Checks {@code c} on the reference interpreter in float64. */
  static void check(GradCases.Case c) {
    Problem pr = problem(c, DType.FLOAT64);
    Graph g = pr.graph();
    Map<String, NdArray> feeds = pr.feeds();
    Map<Tensor, NdArray> analytic = Interpreter.evaluate(g, feeds, pr.grads());
    Worst worst = new Worst();
    for (int i = 0; i < pr.params().size(); i++) {
      Tensor p = pr.params().get(i);
      NdArray value = feeds.get(p.name());
      double[] a = analytic.get(pr.grads().get(i)).data();
      for (int k = 0; k < value.size(); k++) {
        double plus = lossAt(pr, value, p, k, H);
        double minus = lossAt(pr, value, p, k, -H);
        worst.add(a[k], (plus - minus) / (2 * H), p.name() + "[" + k + "]");
      }
      feeds.put(p.name(), value);
    }
    assertTrue(worst.error() < TOLERANCE, c.name() + ": " + worst);
  }

  private static double lossAt(Problem pr, NdArray value, Tensor p, int k, double h) {
    double[] d = value.data();
    d[k] += h;
    pr.feeds().put(p.name(), NdArray.of(value.dtype(), value.shape(), d));
    return Interpreter.evaluate(pr.graph(), pr.feeds(), List.of(pr.loss())).get(pr.loss()).item();
  }

  /**
   * Uniform values from the spec's interval; for FLOAT32, rounded to float so that every runtime
   * sees the same numbers.
   */
  public static NdArray random(Random rnd, GradCases.Spec s, DType dtype) {
    long n = 1;
    for (long d : s.shape()) {
      n *= d;
    }
    double[] v = new double[(int) n];
    for (int i = 0; i < v.length; i++) {
      v[i] = s.lo() + (s.hi() - s.lo()) * rnd.nextDouble();
      v[i] = dtype == DType.FLOAT32 ? (float) v[i] : v[i];
    }
    return NdArray.of(dtype, s.shape(), v);
  }

  private GradCheck() {}
}
