package dev.graft.method.dpo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.graft.graph.DType;
import dev.graft.graph.Graph;
import dev.graft.graph.Interpreter;
import dev.graft.graph.NdArray;
import dev.graft.graph.Shape;
import dev.graft.graph.Tensor;
import dev.graft.train.data.Batches;
import dev.graft.train.run.Objectives;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The DPO loss on a tiny float64 model (embedding (V, D) then output projection (D, V)) over two
 * pairs, run on the reference interpreter: its value against the formulas computed here from the
 * logits, and its gradient against central finite differences.
 */
class DpoObjectiveTest {
  private static final int ROWS = 4;
  private static final int SEQ = 5;
  private static final int VOCAB = 7;
  private static final int DIM = 3;
  private static final double BETA = 0.5;

  /** Token ids, and labels: −100 marks the prompt positions, which are not learned. */
  private static final long[] IDS = {1, 2, 3, 4, 5, 1, 2, 6, 0, 3, 4, 4, 2, 1, 0, 4, 4, 5, 5, 6};

  private static final long[] LABELS = {
    -100, 3, 4, 5, 6, -100, 6, 0, 3, -100, -100, 2, 1, 0, 2, -100, 5, 5, 6, -100
  };

  /** The reference model's sums, fed as the reference pass would. */
  private static final double[] REFERENCE = {-7.5, -6.0, -8.25, -9.0};

  private record Model(Graph graph, Tensor loss, Map<String, Tensor> grads) {}

  private static Model model(DpoConfig config) {
    Graph g = new Graph();
    Tensor ids = g.input("input_ids", DType.INT64, Shape.with("batch", "seq"));
    Tensor embedding = g.parameter("embedding", DType.FLOAT64, Shape.of(VOCAB, DIM), true);
    Tensor out = g.parameter("out", DType.FLOAT64, Shape.of(DIM, VOCAB), true);
    Tensor logits = g.matmul(g.gather(embedding, ids, 0), out); // (B, T, V)
    Tensor loss = Objectives.build(g, logits, new DpoObjective(config)).loss();
    g.output("loss", loss);
    Map<String, Tensor> grads = new HashMap<>();
    g.gradients(loss).forEach((p, grad) -> grads.put(p.name(), grad));
    return new Model(g, loss, grads);
  }

  private static Map<String, NdArray> feeds(double[] embedding, double[] out) {
    Map<String, NdArray> feeds = new HashMap<>();
    feeds.put("input_ids", NdArray.of(DType.INT64, new long[] {ROWS, SEQ}, toDoubles(IDS)));
    feeds.put(Batches.LABELS, NdArray.of(DType.INT64, new long[] {ROWS, SEQ}, toDoubles(LABELS)));
    feeds.put(Objectives.REFERENCE, NdArray.of(DType.FLOAT64, new long[] {ROWS}, REFERENCE));
    feeds.put(Batches.CHOSEN_ROWS, NdArray.of(DType.INT64, new long[] {2}, 0, 2));
    feeds.put("embedding", NdArray.of(DType.FLOAT64, new long[] {VOCAB, DIM}, embedding));
    feeds.put("out", NdArray.of(DType.FLOAT64, new long[] {DIM, VOCAB}, out));
    return feeds;
  }

  private static double[] toDoubles(long[] values) {
    double[] d = new double[values.length];
    for (int i = 0; i < d.length; i++) {
      d[i] = values[i];
    }
    return d;
  }

  private static double[] random(Random rnd, int n) {
    double[] x = new double[n];
    for (int i = 0; i < n; i++) {
      x[i] = rnd.nextGaussian();
    }
    return x;
  }

  private static double run(Model m, double[] embedding, double[] out) {
    return Interpreter.run(m.graph(), feeds(embedding, out)).get("loss").item();
  }

  /** log σ(x), in plain Java. */
  private static double logSigmoid(double x) {
    return -Math.log1p(Math.exp(-x));
  }

  /** The loss as the formulas of methods.md §2.17 give it, from the logits computed in Java. */
  private static double expected(DpoConfig c, double[] embedding, double[] out) {
    double[] sums = new double[ROWS];
    double[] counts = new double[ROWS];
    for (int r = 0; r < ROWS; r++) {
      for (int t = 0; t < SEQ; t++) {
        int i = r * SEQ + t;
        if (LABELS[i] < 0) {
          continue;
        }
        double[] logits = new double[VOCAB];
        double max = Double.NEGATIVE_INFINITY;
        for (int v = 0; v < VOCAB; v++) {
          for (int d = 0; d < DIM; d++) {
            logits[v] += embedding[(int) IDS[i] * DIM + d] * out[d * VOCAB + v];
          }
          max = Math.max(max, logits[v]);
        }
        double z = 0;
        for (double l : logits) {
          z += Math.exp(l - max);
        }
        sums[r] += logits[(int) LABELS[i]] - max - Math.log(z);
        counts[r]++;
      }
    }
    double eps = c.labelSmoothing();
    double total = 0;
    for (int p = 0; p < ROWS / 2; p++) {
      int w = 2 * p;
      int l = 2 * p + 1;
      double h = (sums[w] - REFERENCE[w]) - (sums[l] - REFERENCE[l]);
      double bh = c.beta() * h;
      double loss =
          switch (c.lossType()) {
            case SIGMOID -> -(1 - eps) * logSigmoid(bh) - eps * logSigmoid(-bh);
            case ROBUST -> (-(1 - eps) * logSigmoid(bh) + eps * logSigmoid(-bh)) / (1 - 2 * eps);
            case HINGE -> Math.max(0, 1 - bh);
            case IPO -> {
              double avg =
                  (sums[w] - REFERENCE[w]) / counts[w] - (sums[l] - REFERENCE[l]) / counts[l];
              yield Math.pow(avg - 1 / (2 * c.beta()), 2);
            }
          };
      total += loss + c.sftWeight() * -sums[w] / counts[w];
    }
    return total / (ROWS / 2);
  }

  private static DpoConfig config(DpoConfig.LossType type) {
    double eps = type == DpoConfig.LossType.ROBUST || type == DpoConfig.LossType.SIGMOID ? 0.1 : 0;
    return new DpoConfig(BETA, type, eps, 0.3);
  }

  @ParameterizedTest
  @EnumSource(DpoConfig.LossType.class)
  void theLossIsTheFormulaOfItsTypeOverThePairs(DpoConfig.LossType type) {
    Random rnd = new Random(11);
    double[] embedding = random(rnd, VOCAB * DIM);
    double[] out = random(rnd, DIM * VOCAB);
    DpoConfig c = config(type);
    assertEquals(expected(c, embedding, out), run(model(c), embedding, out), 1e-12);
  }

  @ParameterizedTest
  @EnumSource(DpoConfig.LossType.class)
  void theGradientMatchesFiniteDifferences(DpoConfig.LossType type) {
    Random rnd = new Random(5);
    double[] embedding = random(rnd, VOCAB * DIM);
    double[] out = random(rnd, DIM * VOCAB);
    Model m = model(config(type));
    Map<String, NdArray> feeds = feeds(embedding, out);
    Map<Tensor, NdArray> grads =
        Interpreter.evaluate(
            m.graph(), feeds, List.of(m.grads().get("embedding"), m.grads().get("out")));
    double[] analytic = grads.get(m.grads().get("out")).data();
    double h = 1e-6;
    double worst = 0;
    for (int i = 0; i < out.length; i++) {
      double[] plus = out.clone();
      double[] minus = out.clone();
      plus[i] += h;
      minus[i] -= h;
      double numeric = (run(m, embedding, plus) - run(m, embedding, minus)) / (2 * h);
      worst = Math.max(worst, Math.abs(numeric - analytic[i]) / Math.max(1, Math.abs(numeric)));
    }
    double[] embeddingGrad = grads.get(m.grads().get("embedding")).data();
    for (int i = 0; i < embedding.length; i++) {
      double[] plus = embedding.clone();
      double[] minus = embedding.clone();
      plus[i] += h;
      minus[i] -= h;
      double numeric = (run(m, plus, out) - run(m, minus, out)) / (2 * h);
      worst =
          Math.max(worst, Math.abs(numeric - embeddingGrad[i]) / Math.max(1, Math.abs(numeric)));
    }
    assertTrue(worst < 1e-6, "largest relative gradient error " + worst);
  }
}
