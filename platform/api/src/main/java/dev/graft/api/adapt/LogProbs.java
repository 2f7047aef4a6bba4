package dev.graft.api.adapt;

import dev.graft.graph.Tensor;
import org.osgi.annotation.versioning.ProviderType;

/**
 * What an {@link Objective} sees of one batch of B rows of T positions: the log-probability the
 * model gives each learned token (position t predicts token t + 1; prompt and padding positions are
 * not learned), per token and summed per row. All are float tensors of the graph being built.
 */
@ProviderType
public interface LogProbs {
  /** {@code log p(token)} at each learned position, 0 elsewhere, shape (B, T). */
  Tensor tokens();

  /** 1 at each learned position, 0 elsewhere, shape (B, T). */
  Tensor mask();

  /** The sum of {@link #tokens()} over each row (a sequence's log-probability), shape (B). */
  Tensor sums();

  /** The number of learned positions in each row, shape (B). */
  Tensor counts();

  /**
   * {@link #sums()} under the reference model (the base model, i.e. every method's adapter
   * disabled), shape (B), a constant of each step: no gradient flows into it.
   *
   * @throws IllegalStateException unless the objective {@link Objective#needsReference()}
   */
  Tensor referenceSums();

  /**
   * The chosen rows' values of a per-row tensor of a {@link Objective#pairwise() pairwise}
   * objective: rows 0, 2, 4, …, shape (P) with P = B / 2.
   *
   * @param perRow a tensor of shape (B), such as {@link #sums()}
   * @throws IllegalStateException unless the objective is pairwise
   */
  Tensor chosen(Tensor perRow);

  /**
   * The rejected rows' values of a per-row tensor, as {@link #chosen}: rows 1, 3, 5, …, shape (P);
   * {@code rejected(x)[i]} belongs to the same prompt as {@code chosen(x)[i]}.
   */
  Tensor rejected(Tensor perRow);
}
