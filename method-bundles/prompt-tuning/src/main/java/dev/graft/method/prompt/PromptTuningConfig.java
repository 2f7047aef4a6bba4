package dev.graft.method.prompt;

import dev.graft.api.Options;

/**
 * Prompt tuning's settings, checked.
 *
 * @param virtualTokens how many virtual tokens
 * @param init RANDOM, SAMPLE_VOCAB or TEXT
 * @param initText the text for TEXT, or empty
 */
record PromptTuningConfig(int virtualTokens, String init, String initText) {
  /** The most virtual tokens accepted: far beyond the 5–150 of the paper's ablations. */
  static final int MAX_VIRTUAL_TOKENS = 4096;

  static PromptTuningConfig of(Options o) {
    int n = o.getInt("num_virtual_tokens");
    if (n < 1 || n > MAX_VIRTUAL_TOKENS) {
      throw new IllegalArgumentException(
          "num_virtual_tokens must be in [1, " + MAX_VIRTUAL_TOKENS + "], not " + n + ".");
    }
    String text = o.has("prompt_tuning_init_text") ? o.getString("prompt_tuning_init_text") : "";
    String init = o.getString("prompt_tuning_init");
    if (init.equals("TEXT") && text.isBlank()) {
      throw new IllegalArgumentException(
          "prompt_tuning_init TEXT needs prompt_tuning_init_text, the text whose token embeddings"
              + " start the virtual tokens.");
    }
    return new PromptTuningConfig(n, init, text);
  }
}
