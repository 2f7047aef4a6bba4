package dev.graft.graph;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.BiFunction;

/**
 * Checks reverse-mode gradients against central finite differences in float64 with the reference
 * interpreter. The op under test maps trainable inputs to a tensor y; the loss is sum(y * w) for a
 * fixed random w, so every output element contributes with a different weight.
 */
final class GradCheck {
  /** A trainable input: its shape and the interval its random values are drawn from. */
  record Spec(long[] shape, double lo, double hi) {}

  static Spec any(long... shape) {
    return new Spec(shape, -2, 2);
  }

  static Spec positive(long... shape) {
    return new Spec(shape, 0.5, 2);
  }

  private static final double H = 1e-6;

  /**
   * Asserts that the max relative error between analytic and numeric gradients is below 1e-5
   * (denominator at least 1e-3).
   */
  static void check(String what, long seed, BiFunction<Graph, Tensor[], Tensor> op, Spec... specs) {
    Random rnd = new Random(seed);
    Graph g = new Graph();
    Tensor[] params = new Tensor[specs.length];
    Map<String, NdArray> feeds = new HashMap<>();
    for (int i = 0; i < specs.length; i++) {
      params[i] = g.parameter("p" + i, DType.FLOAT64, Shape.of(specs[i].shape()), true);
      feeds.put("p" + i, random(rnd, specs[i]));
    }
    Tensor y = op.apply(g, params);
    double[] w = new double[Math.toIntExact(y.shape().numel().size())];
    for (int i = 0; i < w.length; i++) {
      w[i] = rnd.nextGaussian();
    }
    Tensor weights = g.constant(NdArray.of(DType.FLOAT64, y.shape().sizes(), w));
    int[] all = new int[y.rank()];
    for (int i = 0; i < all.length; i++) {
      all[i] = i;
    }
    Tensor loss = g.reduceSum(g.mul(y, weights), false, all);
    Map<Tensor, Tensor> grads = g.gradients(loss);
    List<Tensor> targets = new ArrayList<>();
    for (Tensor p : params) {
      assertTrue(grads.containsKey(p), what + ": no gradient for " + p);
      targets.add(grads.get(p));
    }
    Map<Tensor, NdArray> analytic = Interpreter.evaluate(g, feeds, targets);
    double worst = 0;
    String where = "";
    for (Tensor p : params) {
      NdArray value = feeds.get(p.name());
      double[] a = analytic.get(grads.get(p)).data();
      for (int k = 0; k < value.size(); k++) {
        double plus = lossAt(g, loss, feeds, p, value, k, H);
        double minus = lossAt(g, loss, feeds, p, value, k, -H);
        double numeric = (plus - minus) / (2 * H);
        double err = Math.abs(a[k] - numeric) / Math.max(1e-3, Math.abs(a[k]) + Math.abs(numeric));
        if (err > worst) {
          worst = err;
          where = p.name() + "[" + k + "]: analytic " + a[k] + ", numeric " + numeric;
        }
      }
      feeds.put(p.name(), value);
    }
    assertTrue(worst < 1e-5, what + ": max relative error " + worst + " at " + where);
  }

  private static double lossAt(
      Graph g, Tensor loss, Map<String, NdArray> feeds, Tensor p, NdArray value, int k, double h) {
    double[] d = value.data();
    d[k] += h;
    feeds.put(p.name(), NdArray.of(value.dtype(), value.shape(), d));
    return Interpreter.evaluate(g, feeds, List.of(loss)).get(loss).item();
  }

  static NdArray random(Random rnd, Spec s) {
    long n = 1;
    for (long d : s.shape()) {
      n *= d;
    }
    double[] v = new double[(int) n];
    for (int i = 0; i < v.length; i++) {
      v[i] = s.lo() + (s.hi() - s.lo()) * rnd.nextDouble();
    }
    return NdArray.of(DType.FLOAT64, s.shape(), v);
  }

  private GradCheck() {}
}
