package dev.graft.method.prefix.spi;

import dev.graft.api.Options;
import dev.graft.method.prompt.spi.PromptLearning;

/**
 * Prefix tuning's settings, checked.
 *
 * @param virtualTokens how many key/value positions each layer gets
 * @param projection whether an MLP reparameterises the prefix while training
 * @param encoderHiddenSize the MLP's hidden width, or 0 for token_dim
 * @param dropout dropout on the prefixes while training (P-tuning v2's {@code prefix_dropout}; 0
 *     for prefix tuning, which has no such option)
 */
public record PrefixTuningConfig(
    int virtualTokens, boolean projection, int encoderHiddenSize, double dropout) {
  /**
   * Reads {@code num_virtual_tokens}, {@code prefix_projection} and {@code encoder_hidden_size}; no
   * dropout.
   *
   * @throws IllegalArgumentException naming the option whose value is out of range
   */
  public static PrefixTuningConfig of(Options o) {
    int n = PromptLearning.virtualTokens(o);
    int hidden = o.has("encoder_hidden_size") ? o.getInt("encoder_hidden_size") : 0;
    if (o.has("encoder_hidden_size") && hidden < 1) {
      throw new IllegalArgumentException(
          "encoder_hidden_size must be a positive width (or empty for token_dim), not "
              + hidden
              + ".");
    }
    return new PrefixTuningConfig(n, o.getBoolean("prefix_projection"), hidden, 0);
  }

  /**
   * These settings with dropout {@code p} on the prefixes while training (P-tuning v2's {@code
   * prefix_dropout}).
   *
   * @throws IllegalArgumentException when {@code p} is no probability in [0, 1)
   */
  public PrefixTuningConfig withDropout(double p) {
    if (!(p >= 0 && p < 1)) {
      throw new IllegalArgumentException(
          "prefix_dropout must be a probability in [0, 1), not " + p + ".");
    }
    return new PrefixTuningConfig(virtualTokens, projection, encoderHiddenSize, p);
  }

  /** The projection's hidden width for keys/values of width {@code tokenDim}. */
  public int hiddenSize(int tokenDim) {
    return encoderHiddenSize > 0 ? encoderHiddenSize : tokenDim;
  }
}
