package dev.graft.method.ptuning;

import dev.graft.api.Options;
import dev.graft.method.prompt.spi.PromptLearning;

/**
 * P-tuning's settings, checked (PEFT's {@code PromptEncoderConfig}).
 *
 * @param virtualTokens how many virtual tokens
 * @param lstm whether the encoder is PEFT's LSTM form ({@code encoder_reparameterization_type
 *     LSTM}), else its MLP
 * @param encoderHiddenSize the encoder's hidden width, or 0 for token_dim
 * @param layers the LSTM's stacked layers ({@code encoder_num_layers}; the MLP ignores it, as PEFT)
 * @param dropout dropout between the LSTM's layers ({@code encoder_dropout}, as torch's LSTM)
 */
record PTuningConfig(
    int virtualTokens, boolean lstm, int encoderHiddenSize, int layers, double dropout) {
  static PTuningConfig of(Options o) {
    int n = PromptLearning.virtualTokens(o);
    int hidden = o.has("encoder_hidden_size") ? o.getInt("encoder_hidden_size") : 0;
    if (o.has("encoder_hidden_size") && hidden < 1) {
      throw new IllegalArgumentException(
          "encoder_hidden_size must be a positive width (or empty for token_dim), not "
              + hidden
              + ".");
    }
    int layers = o.getInt("encoder_num_layers");
    if (layers < 1) {
      throw new IllegalArgumentException(
          "encoder_num_layers must be at least 1 (the LSTM's stacked layers), not " + layers + ".");
    }
    double dropout = o.getDouble("encoder_dropout");
    if (!(dropout >= 0 && dropout < 1)) {
      throw new IllegalArgumentException(
          "encoder_dropout must be a probability in [0, 1), not " + dropout + ".");
    }
    boolean lstm = o.getString("encoder_reparameterization_type").equals("LSTM");
    return new PTuningConfig(n, lstm, hidden, layers, dropout);
  }

  /** The encoder's hidden width for virtual tokens of width {@code tokenDim}. */
  int hiddenSize(int tokenDim) {
    return encoderHiddenSize > 0 ? encoderHiddenSize : tokenDim;
  }
}
