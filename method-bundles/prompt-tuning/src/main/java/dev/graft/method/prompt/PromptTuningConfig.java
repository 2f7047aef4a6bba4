package dev.graft.method.prompt;

import dev.graft.api.Options;
import dev.graft.method.prompt.spi.PromptLearning;

/**
 * Prompt tuning's settings, checked.
 *
 * @param virtualTokens how many virtual tokens
 * @param init RANDOM, SAMPLE_VOCAB or TEXT
 * @param initText the text for TEXT, or empty
 */
record PromptTuningConfig(int virtualTokens, String init, String initText) {
  static PromptTuningConfig of(Options o) {
    int n = PromptLearning.virtualTokens(o);
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
