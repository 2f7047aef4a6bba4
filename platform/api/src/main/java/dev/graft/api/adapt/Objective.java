package dev.graft.api.adapt;

import dev.graft.graph.GraphOps;
import dev.graft.graph.Tensor;
import java.util.Map;
import org.osgi.annotation.versioning.ConsumerType;

/**
 * The training objective: builds the scalar loss from the log-probabilities the model gives the
 * learned tokens of each batch row. The platform's default is next-token cross-entropy, the mean of
 * {@code −log p} over every learned token of the batch; a method replaces it with {@link
 * Adaptation#objective} (DPO). Terms added with {@link Adaptation#addLoss} are added to whichever
 * objective runs.
 *
 * <p>The objective chooses the batch layout. A {@link #pairwise()} objective gets preference data:
 * each sample renders to a (chosen, rejected) pair, the pair is shuffled and batched as one unit,
 * and row {@code 2i} holds the chosen sequence, row {@code 2i+1} the rejected one of the same
 * prompt ({@link LogProbs#chosen} and {@link LogProbs#rejected} select them); {@code
 * per_device_train_batch_size} counts pairs, and packing is refused. Otherwise each row holds one
 * sample, or several when packing (then a row's sums span its samples).
 */
@ConsumerType
public interface Objective {
  /**
   * Whether the loss needs {@link LogProbs#referenceSums()}: the log-probabilities of the model
   * before adaptation, computed by a second, inference-only forward of the base model on the same
   * batch before each training micro-step (one extra forward, no backward).
   */
  default boolean needsReference() {
    return false;
  }

  /** Whether batch rows come in (chosen, rejected) pairs, chosen in the even rows. */
  default boolean pairwise() {
    return false;
  }

  /**
   * Builds the scalar loss.
   *
   * @param graph the graph to add ops to
   * @param logProbs the learned tokens' log-probabilities of the batch rows
   */
  Tensor loss(GraphOps graph, LogProbs logProbs);

  /**
   * Named scalar metrics of the batch that the run reports beside the loss at every step (in {@code
   * metrics.csv}, the job's progress events and {@code report.html}), averaged over the
   * micro-batches of a step like the loss; none by default. DPO reports {@code rewards/chosen},
   * {@code rewards/margins} and the like. Metrics are read-only: no gradient flows from them.
   *
   * @param graph the graph to add ops to
   * @param logProbs the same log-probabilities {@link #loss} sees
   * @return metric name (lower-case, {@code [a-z0-9_/]}) → scalar tensor, in report order
   */
  default Map<String, Tensor> metrics(GraphOps graph, LogProbs logProbs) {
    return Map.of();
  }
}
