package dev.graft.graph;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** A tiny causal language model memorises one sequence through repeated runs of its step graph. */
class MemorisationTest {
  private static final DType F = DType.FLOAT64;

  @Test
  void aTinyAttentionModelLearnsASequenceToNearZeroLoss() {
    int vocab = 7;
    int dim = 8;
    int t = 6;
    double[] ids = {3, 1, 4, 1, 5, 2};
    double[] next = {1, 4, 1, 5, 2, 6}; // "1" is followed by 4 and by 5: needs position (attention)
    Graph g = new Graph();
    Tensor in = g.input("ids", DType.INT64, Shape.of(t));
    Tensor labels = g.input("labels", DType.INT64, Shape.of(t));
    Tensor emb = g.parameter("emb", F, Shape.of(vocab, dim), true);
    Tensor pos = g.parameter("pos", F, Shape.of(t, dim), true);
    Tensor wq = g.parameter("wq", F, Shape.of(dim, dim), true);
    Tensor wk = g.parameter("wk", F, Shape.of(dim, dim), true);
    Tensor wv = g.parameter("wv", F, Shape.of(dim, dim), true);
    Tensor norm = g.parameter("norm", F, Shape.of(dim), true);
    Tensor head = g.parameter("head", F, Shape.of(vocab, dim), true);
    Tensor x = g.add(g.gather(emb, in, 0), pos); // (T, C)
    Tensor q = g.linear(x, wq, null);
    Tensor k = g.linear(x, wk, null);
    Tensor att = g.mul(g.matmul(q, g.transposeLast2(k)), 1 / Math.sqrt(dim)); // (T, T)
    att = g.softmax(g.maskedFill(att, g.causalMask(Dim.of(t)), -1e9), -1);
    x = g.add(x, g.matmul(att, g.linear(x, wv, null)));
    Tensor logits = g.linear(g.rmsNorm(x, norm, 1e-6), head, null); // (T, V)
    TrainingStep step =
        TrainingStep.builder(g, g.crossEntropy(logits, labels, -100))
            .weightDecay(0)
            .maxGradNorm(1)
            .build();

    Random rnd = new Random(5);
    Map<String, NdArray> feeds = new HashMap<>();
    feeds.put("ids", NdArray.of(DType.INT64, new long[] {t}, ids));
    feeds.put("labels", NdArray.of(DType.INT64, new long[] {t}, next));
    feeds.put("lr.default", NdArray.scalar(F, 0.05));
    for (Tensor p : g.trainables()) {
      long[] s = p.shape().sizes();
      double[] v = new double[(int) p.shape().numel().size()];
      for (int i = 0; i < v.length; i++) {
        v[i] = p == norm ? 1 : rnd.nextGaussian() * 0.3;
      }
      feeds.put(p.name(), NdArray.of(F, s, v));
      feeds.put("m." + p.name(), NdArray.zeros(F, s));
      feeds.put("v." + p.name(), NdArray.zeros(F, s));
    }
    double first = Double.NaN;
    double last = Double.NaN;
    for (int i = 1; i <= 150; i++) {
      feeds.put("step", NdArray.scalar(F, i));
      Map<String, NdArray> out = Interpreter.run(step.graph(), feeds);
      step.carry().forEach((o, name) -> feeds.put(name, out.get(o)));
      last = out.get("loss").item();
      first = i == 1 ? last : first;
    }
    assertTrue(first > 1.5, "starts near ln(7) = 1.95, got " + first);
    assertTrue(last < 0.01, "loss after 150 steps: " + last);
  }
}
