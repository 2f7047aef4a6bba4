package dev.graft.method.prefix;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.graft.api.Options;
import dev.graft.method.prefix.spi.PrefixTuning;
import dev.graft.method.prefix.spi.PrefixTuningConfig;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Prefix tuning's options: defaults and the one-sentence refusal of a bad value. */
class PrefixTuningConfigTest {
  private static PrefixTuningConfig config(Map<String, String> given) {
    return PrefixTuningConfig.of(Options.parse(PrefixTuningMethod.INFO, given));
  }

  @Test
  void defaultsAreTwentyTokensWithoutProjection() {
    PrefixTuningConfig c = config(Map.of());
    assertEquals(20, c.virtualTokens());
    assertFalse(c.projection());
  }

  @Test
  void theProjectionWidthDefaultsToTokenDim() {
    assertEquals(32, config(Map.of("prefix_projection", "true")).hiddenSize(32));
    assertEquals(
        16,
        config(Map.of("prefix_projection", "true", "encoder_hidden_size", "16")).hiddenSize(32));
  }

  @Test
  void tooManyVirtualTokensAreRefusedWithTheAllowedRange() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class, () -> config(Map.of("num_virtual_tokens", "5000")));
    assertEquals("num_virtual_tokens must be in [1, 4096], not 5000.", e.getMessage());
  }

  @Test
  void aZeroEncoderWidthIsRefused() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class, () -> config(Map.of("encoder_hidden_size", "0")));
    assertEquals(
        "encoder_hidden_size must be a positive width (or empty for token_dim), not 0.",
        e.getMessage());
  }

  @Test
  void prefixTuningCannotBeMerged() {
    assertFalse(new PrefixTuning(config(Map.of()), "Prefix tuning").mergeable());
  }
}
