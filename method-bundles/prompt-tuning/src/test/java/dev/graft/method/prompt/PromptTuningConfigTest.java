package dev.graft.method.prompt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.graft.api.Options;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Prompt tuning's options: defaults and the one-sentence refusal of a bad value. */
class PromptTuningConfigTest {
  private static PromptTuningConfig config(Map<String, String> given) {
    return PromptTuningConfig.of(Options.parse(PromptTuningMethod.INFO, given));
  }

  @Test
  void defaultsAreTwentyRandomVirtualTokens() {
    PromptTuningConfig c = config(Map.of());
    assertEquals(20, c.virtualTokens());
    assertEquals("RANDOM", c.init());
    assertEquals("", c.initText());
  }

  @Test
  void zeroVirtualTokensAreRefusedWithTheAllowedRange() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class, () -> config(Map.of("num_virtual_tokens", "0")));
    assertEquals("num_virtual_tokens must be in [1, 4096], not 0.", e.getMessage());
  }

  @Test
  void textInitialisationWithoutATextIsRefusedNamingTheMissingOption() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class, () -> config(Map.of("prompt_tuning_init", "TEXT")));
    assertEquals(
        "prompt_tuning_init TEXT needs prompt_tuning_init_text, the text whose token embeddings"
            + " start the virtual tokens.",
        e.getMessage());
  }

  @Test
  void anUnknownInitialisationIsRefusedByTheOptionParser() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class, () -> config(Map.of("prompt_tuning_init", "VOCAB")));
    assertFalse(e.getMessage().isBlank());
  }

  @Test
  void promptTuningCannotBeMerged() {
    assertFalse(new PromptTuning(config(Map.of())).mergeable());
  }
}
