package dev.graft.train.data;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

/**
 * A seeded shuffle and a train/validation split.
 *
 * @param <T> what is split: samples, or data lines with their extra columns
 * @param train the samples to train on, shuffled
 * @param validation the held-out samples
 */
public record Split<T>(List<T> train, List<T> validation) {
  /** Copies the lists. */
  public Split {
    train = List.copyOf(train);
    validation = List.copyOf(validation);
  }

  /**
   * Shuffles with {@code seed} and holds out {@code validationFraction} of the samples (rounded, at
   * least one when the fraction is positive, and never all of them).
   */
  public static <T> Split<T> of(List<T> samples, double validationFraction, long seed) {
    if (validationFraction < 0 || validationFraction >= 1) {
      throw new IllegalArgumentException(
          "validation_split must be at least 0 and below 1, not " + validationFraction + ".");
    }
    List<T> shuffled = new ArrayList<>(samples);
    Collections.shuffle(shuffled, new Random(seed));
    int held =
        validationFraction == 0
            ? 0
            : (int) Math.max(1, Math.round(validationFraction * samples.size()));
    if (held >= samples.size()) {
      throw new IllegalArgumentException(
          "validation_split "
              + validationFraction
              + " leaves no training samples out of "
              + samples.size()
              + ".");
    }
    return new Split<>(shuffled.subList(held, shuffled.size()), shuffled.subList(0, held));
  }
}
