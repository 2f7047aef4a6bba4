package dev.graft.train.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.graft.api.adapt.LogProbs;
import dev.graft.api.adapt.Objective;
import dev.graft.graph.DType;
import dev.graft.graph.Graph;
import dev.graft.graph.GraphOps;
import dev.graft.graph.Interpreter;
import dev.graft.graph.NdArray;
import dev.graft.graph.Shape;
import dev.graft.graph.Tensor;
import dev.graft.train.data.Batches;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The log-probabilities objectives see, checked on random logits against plain Java. */
class ObjectivesTest {
  private static final int B = 3;
  private static final int T = 4;
  private static final int V = 6;

  // Row 0 learns three positions, row 1 one, row 2 none.
  private static final double[] LABELS = {
    2, 5, 0, -100, //
    -100, -100, 3, -100, //
    -100, -100, -100, -100
  };

  private final double[] logits = new double[B * T * V];

  {
    Random random = new Random(42);
    for (int i = 0; i < logits.length; i++) {
      logits[i] = random.nextGaussian() * 2;
    }
  }

  private Map<String, NdArray> feeds() {
    return Map.of(
        "logits",
        NdArray.of(DType.FLOAT32, new long[] {B, T, V}, logits),
        Batches.LABELS,
        NdArray.of(DType.INT64, new long[] {B, T}, LABELS));
  }

  private static Tensor logitsInput(Graph graph) {
    return graph.input("logits", DType.FLOAT32, Shape.with("batch", "seq", V));
  }

  /** log softmax(logits[b, t])[label], in double. */
  private double logProb(int b, int t, int label) {
    int at = (b * T + t) * V;
    double max = Double.NEGATIVE_INFINITY;
    for (int v = 0; v < V; v++) {
      max = Math.max(max, logits[at + v]);
    }
    double sum = 0;
    for (int v = 0; v < V; v++) {
      sum += Math.exp(logits[at + v] - max);
    }
    return logits[at + label] - max - Math.log(sum);
  }

  @Test
  void perRowSumsAndCountsMatchAJavaReference() {
    Graph graph = new Graph();
    LogProbs lp = Objectives.logProbs(graph, logitsInput(graph), Objectives.CROSS_ENTROPY);
    graph.output("sums", lp.sums());
    graph.output("counts", lp.counts());
    Map<String, NdArray> out = Interpreter.run(graph, feeds());
    for (int b = 0; b < B; b++) {
      double sum = 0;
      int count = 0;
      for (int t = 0; t < T; t++) {
        int label = (int) LABELS[b * T + t];
        if (label != -100) {
          sum += logProb(b, t, label);
          count++;
        }
      }
      assertEquals(sum, out.get("sums").get(b), 1e-6, "row " + b);
      assertEquals(count, out.get("counts").get(b), 0.0, "row " + b);
    }
  }

  @Test
  void theDefaultObjectiveComputesWhatCrossEntropyDid() {
    Graph before = new Graph();
    Tensor flat = before.reshape(logitsInput(before), -1, V);
    Tensor labels = before.input(Batches.LABELS, DType.INT64, Shape.with("batch", "seq"));
    before.output("loss", before.crossEntropy(flat, before.reshape(labels, -1), Batches.IGNORE));
    Graph now = new Graph();
    now.output("loss", Objectives.loss(now, logitsInput(now), null));
    double expected = Interpreter.run(before, feeds()).get("loss").item();
    assertEquals(expected, Interpreter.run(now, feeds()).get("loss").item(), 0.0);
  }

  @Test
  void anObjectiveThatNeedsTheReferenceGetsItAsABatchInput() {
    Graph graph = new Graph();
    Objective margin =
        new Objective() {
          @Override
          public boolean needsReference() {
            return true;
          }

          @Override
          public Tensor loss(GraphOps g, LogProbs lp) {
            return g.reduceSum(g.sub(lp.sums(), lp.referenceSums()), false, 0);
          }
        };
    graph.output("loss", Objectives.loss(graph, logitsInput(graph), margin));
    Tensor reference = graph.tensor(Objectives.REFERENCE);
    assertEquals(Shape.with("batch"), reference.shape());
    Map<String, NdArray> feeds = new java.util.HashMap<>(feeds());
    feeds.put(Objectives.REFERENCE, NdArray.of(DType.FLOAT32, new long[] {B}, 1, 2, 3));
    double sums = logProb(0, 0, 2) + logProb(0, 1, 5) + logProb(0, 2, 0) + logProb(1, 2, 3);
    assertEquals(sums - 6, Interpreter.run(graph, feeds).get("loss").item(), 1e-6);
  }

  @Test
  void chosenAndRejectedPickTheEvenAndTheOddRowsOfAPairwiseBatch() {
    Graph graph = new Graph();
    Objective pairwise =
        new Objective() {
          @Override
          public boolean pairwise() {
            return true;
          }

          @Override
          public Tensor loss(GraphOps g, LogProbs lp) {
            throw new UnsupportedOperationException();
          }
        };
    LogProbs lp = Objectives.logProbs(graph, logitsInput(graph), pairwise);
    Tensor perRow = graph.input("x", DType.FLOAT32, Shape.with("batch"));
    graph.output("chosen", lp.chosen(perRow));
    graph.output("rejected", lp.rejected(perRow));
    Map<String, NdArray> out =
        Interpreter.run(
            graph,
            Map.of(
                "x",
                NdArray.of(DType.FLOAT32, new long[] {4}, 10, 11, 12, 13),
                Batches.CHOSEN_ROWS,
                NdArray.of(DType.INT64, new long[] {2}, 0, 2)));
    assertEquals(java.util.List.of(10.0, 12.0), list(out.get("chosen")));
    assertEquals(java.util.List.of(11.0, 13.0), list(out.get("rejected")));
  }

  private static java.util.List<Double> list(NdArray a) {
    return java.util.Arrays.stream(a.data()).boxed().toList();
  }

  @Test
  void readingTheReferenceWithoutAskingForItIsAnError() {
    Graph graph = new Graph();
    LogProbs lp = Objectives.logProbs(graph, logitsInput(graph), Objectives.CROSS_ENTROPY);
    IllegalStateException e = assertThrows(IllegalStateException.class, lp::referenceSums);
    assertEquals(
        "The objective reads reference log-probabilities but does not say it needs them;"
            + " return true from Objective.needsReference().",
        e.getMessage());
  }
}
