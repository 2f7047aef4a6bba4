package dev.graft.api.model;

/**
 * The result of an evaluation.
 *
 * @param loss mean cross-entropy (nats) per learned token, over all samples
 * @param perplexity {@code exp(loss)}
 * @param exactMatch for prompt/completion data, the share (0 to 1) of prompts whose greedy
 *     completion, as many tokens long as the reference, equals the reference after trimming
 *     whitespace; NaN for other formats
 * @param samples samples evaluated (those with at least one learned token)
 * @param tokens learned tokens the loss averages over
 */
public record Evaluation(
    double loss, double perplexity, double exactMatch, int samples, long tokens) {

  /** Whether {@link #exactMatch()} applies to this data. */
  public boolean hasExactMatch() {
    return !Double.isNaN(exactMatch);
  }
}
