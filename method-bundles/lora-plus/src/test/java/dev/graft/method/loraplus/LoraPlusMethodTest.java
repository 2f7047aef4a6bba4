package dev.graft.method.loraplus;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.graft.api.OptionDescriptor;
import dev.graft.api.Options;
import dev.graft.method.lora.spi.LoraOptions;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** LoRA+'s options: LoRA's, then PEFT's create_loraplus_optimizer arguments, each checked. */
class LoraPlusMethodTest {
  private static LoraPlusConfig config(Map<String, String> options) {
    return LoraPlusConfig.of(Options.parse(LoraPlusMethod.INFO, options));
  }

  private static String error(Map<String, String> options) {
    return assertThrows(
            IllegalArgumentException.class,
            () -> new LoraPlusMethod().create(Options.parse(LoraPlusMethod.INFO, options)))
        .getMessage();
  }

  @Test
  void theOptionsAreLorasFollowedByLoraPlusOwn() {
    List<String> names =
        LoraPlusMethod.INFO.options().stream().map(OptionDescriptor::name).toList();
    assertEquals(LoraOptions.OPTIONS.size() + 3, names.size());
    assertEquals(
        List.of("loraplus_lr_ratio", "loraplus_lr_embedding", "loraplus_weight_decay"),
        names.subList(LoraOptions.OPTIONS.size(), names.size()));
  }

  @Test
  void theDefaultsArePefts() {
    LoraPlusConfig c = config(Map.of());
    assertEquals(16.0, c.lrRatio());
    assertEquals(1e-6, c.lrEmbedding());
    assertEquals(0.0, c.weightDecay());
    assertEquals(8, c.lora().r());
  }

  @Test
  void aRatioThatIsNotPositiveIsRefusedWithItsRange() {
    assertEquals(
        "loraplus_lr_ratio must be a positive number (the paper uses 2 to 16), not 0.0.",
        error(Map.of("loraplus_lr_ratio", "0")));
  }

  @Test
  void aNegativeEmbeddingRateIsRefusedWithItsRange() {
    assertEquals(
        "loraplus_lr_embedding must be a finite number of at least 0, not -1.0E-6.",
        error(Map.of("loraplus_lr_embedding", "-1e-6")));
  }

  @Test
  void aNegativeWeightDecayIsRefusedWithItsRange() {
    assertEquals(
        "loraplus_weight_decay must be a finite number of at least 0, not -0.1.",
        error(Map.of("loraplus_weight_decay", "-0.1")));
  }

  @Test
  void loraOptionsAreCheckedAsLoraChecksThem() {
    assertEquals("LoRA rank r must be positive, not 0.", error(Map.of("r", "0")));
  }
}
