package dev.graft.train.run;

import dev.graft.api.adapt.LogProbs;
import dev.graft.api.adapt.Objective;
import dev.graft.graph.DType;
import dev.graft.graph.Graph;
import dev.graft.graph.GraphOps;
import dev.graft.graph.Shape;
import dev.graft.graph.Tensor;
import dev.graft.train.data.Batches;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The loss of a training or evaluation graph: the learned tokens' log-probabilities from the logits
 * and the {@value Batches#LABELS} input, handed to the job's {@link Objective} (next-token
 * cross-entropy unless a method set another).
 */
public final class Objectives {
  /**
   * Name of the FLOAT (B) input that holds the reference model's per-row log-probability sums, for
   * an objective that {@link Objective#needsReference() needs them}; {@link ReferencePass} computes
   * it.
   */
  public static final String REFERENCE = "reference_logprobs";

  private static final Pattern METRIC_NAME = Pattern.compile("[a-z0-9_/]+");

  /**
   * The default objective: the mean of {@code −log p} over every learned token of the batch (as
   * {@link Graph#crossEntropy} with {@link Batches#IGNORE} computes it, op for op).
   */
  public static final Objective CROSS_ENTROPY =
      new Objective() {
        @Override
        public Tensor loss(GraphOps graph, LogProbs logProbs) {
          Tensor total = graph.neg(graph.reduceSum(graph.reshape(logProbs.tokens(), -1), false, 0));
          Tensor count = graph.reduceSum(graph.reshape(logProbs.mask(), -1), false, 0);
          return graph.div(total, graph.max(count, graph.scalar(1, count.dtype())));
        }

        @Override
        public String toString() {
          return "cross-entropy";
        }
      };

  private Objectives() {}

  /**
   * The objective's scalar loss over {@code logits} (B, T, V).
   *
   * @param objective the job's objective, or null for {@link #CROSS_ENTROPY}
   */
  public static Tensor loss(Graph graph, Tensor logits, Objective objective) {
    Objective o = objective == null ? CROSS_ENTROPY : objective;
    return o.loss(graph, logProbs(graph, logits, o));
  }

  /**
   * The objective's loss and its {@link Objective#metrics metrics} over {@code logits} (B, T, V),
   * built on one set of log-probabilities.
   *
   * @param objective the job's objective, or null for {@link #CROSS_ENTROPY}
   */
  public static Built build(Graph graph, Tensor logits, Objective objective) {
    Objective o = objective == null ? CROSS_ENTROPY : objective;
    LogProbs logProbs = logProbs(graph, logits, o);
    Tensor loss = o.loss(graph, logProbs);
    Map<String, Tensor> metrics = new LinkedHashMap<>(o.metrics(graph, logProbs));
    for (Map.Entry<String, Tensor> m : metrics.entrySet()) {
      if (!METRIC_NAME.matcher(m.getKey()).matches() || m.getValue().shape().rank() != 0) {
        throw new IllegalArgumentException(
            "Objective "
                + o
                + " reports metric \""
                + m.getKey()
                + "\" of shape "
                + m.getValue().shape()
                + "; metric names are lower-case [a-z0-9_/] and values scalars.");
      }
    }
    return new Built(loss, metrics);
  }

  /**
   * An objective's tensors in a graph.
   *
   * @param loss the scalar loss
   * @param metrics metric name → scalar, in the objective's order
   */
  public record Built(Tensor loss, Map<String, Tensor> metrics) {}

  /**
   * The learned tokens' log-probabilities under {@code logits} (B, T, V) as {@code objective} sees
   * them: declares the {@value Batches#LABELS} input (B, T) that {@link Batches.Batch#feeds()}
   * fills; for an objective that needs the reference the {@value #REFERENCE} input (B); for a
   * pairwise one the {@value Batches#CHOSEN_ROWS} input (pairs).
   */
  public static LogProbs logProbs(Graph graph, Tensor logits, Objective objective) {
    Tensor labels = graph.input(Batches.LABELS, DType.INT64, Shape.with("batch", "seq"));
    long vocab = logits.shape().dim(-1).size();
    Tensor flatLogits = graph.reshape(logits, -1, vocab); // (B·T, V)
    Tensor flatLabels = graph.reshape(labels, -1); // (B·T)
    Tensor logp = graph.logSoftmax(flatLogits, 1); // (B·T, V)
    Tensor valid = graph.not(graph.equal(flatLabels, graph.scalar(Batches.IGNORE, DType.INT64)));
    Tensor safe = graph.where(valid, flatLabels, graph.scalar(0, DType.INT64)); // (B·T)
    Tensor picked =
        graph.squeeze(graph.gatherElements(logp, graph.unsqueeze(safe, 1), 1), 1); // (B·T)
    Tensor weight = graph.cast(valid, logits.dtype()); // (B·T)
    Tensor tokens = graph.reshape(graph.mul(picked, weight), "batch", "seq"); // (B, T)
    Tensor mask = graph.reshape(weight, "batch", "seq"); // (B, T)
    Tensor referenceSums =
        objective.needsReference()
            ? graph.input(REFERENCE, logits.dtype(), Shape.with("batch"))
            : null;
    Tensor chosenRows =
        objective.pairwise()
            ? graph.input(Batches.CHOSEN_ROWS, DType.INT64, Shape.with("pairs"))
            : null;
    return new RowLogProbs(
        graph,
        tokens,
        mask,
        graph.reduceSum(tokens, false, 1),
        graph.reduceSum(mask, false, 1),
        referenceSums,
        chosenRows);
  }

  /**
   * The tensors of {@link #logProbs}; {@code reference} and {@code chosenRows} are null when the
   * objective does not ask for them.
   */
  private record RowLogProbs(
      Graph graph,
      Tensor tokens,
      Tensor mask,
      Tensor sums,
      Tensor counts,
      Tensor reference,
      Tensor chosenRows)
      implements LogProbs {
    @Override
    public Tensor chosen(Tensor perRow) {
      return graph.gather(perRow, pairRows(), 0); // (P)
    }

    @Override
    public Tensor rejected(Tensor perRow) {
      return graph.gather(perRow, graph.add(pairRows(), graph.scalar(1, DType.INT64)), 0); // (P)
    }

    private Tensor pairRows() {
      if (chosenRows == null) {
        throw new IllegalStateException(
            "The objective reads chosen and rejected rows but is not pairwise; return true from"
                + " Objective.pairwise().");
      }
      return chosenRows;
    }

    @Override
    public Tensor referenceSums() {
      if (reference == null) {
        throw new IllegalStateException(
            "The objective reads reference log-probabilities but does not say it needs them;"
                + " return true from Objective.needsReference().");
      }
      return reference;
    }
  }
}
