package dev.graft.train.data;

import java.util.Optional;
import java.util.function.Consumer;

/**
 * Counts the samples that encoding cut to {@code max_length} (its warnings, one per sample), for
 * one sentence about them all in place of one per sample.
 */
public final class Cuts implements Consumer<String> {
  private int count;

  @Override
  public void accept(String warning) {
    count++;
  }

  /**
   * The sentence about the cuts among {@code total} {@code what} (e.g. "validation samples"), or
   * empty when nothing was cut.
   */
  public Optional<String> sentence(int total, String what, int maxLength) {
    return count == 0
        ? Optional.empty()
        : Optional.of(
            count + " of " + total + " " + what + " were cut to max_length " + maxLength + ".");
  }
}
