package dev.graft.train.data;

import dev.graft.api.adapt.Objective;

/**
 * How the samples of a batch lie in its rows, as the objective chooses: one sequence per sample, or
 * a (chosen, rejected) pair per preference sample in two adjacent rows.
 */
public enum RowLayout {
  /** One row per sample (several per row when packing). */
  SINGLE(1),
  /** Rows {@code 2i} (chosen) and {@code 2i+1} (rejected) hold one sample; never packed. */
  PAIRS(2);

  private final int sequences;

  RowLayout(int sequences) {
    this.sequences = sequences;
  }

  /** The sequences each sample renders to: 1 or 2. */
  public int sequences() {
    return sequences;
  }

  /** The layout {@code objective} asks for; {@link #SINGLE} for the default (null). */
  public static RowLayout of(Objective objective) {
    return objective != null && objective.pairwise() ? PAIRS : SINGLE;
  }
}
