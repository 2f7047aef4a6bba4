package dev.graft.method.prefix;

import dev.graft.api.Options;

/**
 * Prefix tuning's settings, checked.
 *
 * @param virtualTokens how many key/value positions each layer gets
 * @param projection whether an MLP reparameterises the prefix while training
 * @param encoderHiddenSize the MLP's hidden width, or 0 for token_dim
 */
record PrefixTuningConfig(int virtualTokens, boolean projection, int encoderHiddenSize) {
  /** The most virtual tokens accepted: far beyond the 1–400 of the paper's ablations. */
  static final int MAX_VIRTUAL_TOKENS = 4096;

  static PrefixTuningConfig of(Options o) {
    int n = o.getInt("num_virtual_tokens");
    if (n < 1 || n > MAX_VIRTUAL_TOKENS) {
      throw new IllegalArgumentException(
          "num_virtual_tokens must be in [1, " + MAX_VIRTUAL_TOKENS + "], not " + n + ".");
    }
    int hidden = o.has("encoder_hidden_size") ? o.getInt("encoder_hidden_size") : 0;
    if (o.has("encoder_hidden_size") && hidden < 1) {
      throw new IllegalArgumentException(
          "encoder_hidden_size must be a positive width (or empty for token_dim), not "
              + hidden
              + ".");
    }
    return new PrefixTuningConfig(n, o.getBoolean("prefix_projection"), hidden);
  }

  /** The projection's hidden width for keys/values of width {@code tokenDim}. */
  int hiddenSize(int tokenDim) {
    return encoderHiddenSize > 0 ? encoderHiddenSize : tokenDim;
  }
}
