package dev.graft.api.adapt;

import dev.graft.graph.GraphOps;
import dev.graft.graph.Tensor;
import org.osgi.annotation.versioning.ConsumerType;

/**
 * The training objective, when a method replaces the default next-token cross-entropy (DPO).
 * Batches for a pairwise objective hold pairs: row {@code 2i} is chosen, row {@code 2i+1} rejected.
 */
@ConsumerType
public interface Objective {
  /**
   * Whether the loss needs log-probabilities of a reference model (adapters off, or a frozen copy).
   */
  default boolean needsReference() {
    return false;
  }

  /** Whether batch rows come in (chosen, rejected) pairs. */
  default boolean pairwise() {
    return false;
  }

  /**
   * Builds the scalar loss.
   *
   * @param graph the graph to add ops to
   * @param sequenceLogProbs sum of the target tokens' log-probabilities over the loss mask, shape
   *     (B)
   * @param referenceLogProbs the same for the reference model, shape (B); null unless {@link
   *     #needsReference()}
   * @param tokenCount number of loss-mask tokens per row, shape (B)
   */
  Tensor loss(GraphOps graph, Tensor sequenceLogProbs, Tensor referenceLogProbs, Tensor tokenCount);
}
