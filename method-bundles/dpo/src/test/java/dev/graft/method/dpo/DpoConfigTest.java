package dev.graft.method.dpo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.graft.api.Options;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The options: TRL's defaults, and one sentence for each value that cannot work. */
class DpoConfigTest {
  private static DpoConfig parse(Map<String, String> given) {
    return DpoConfig.of(Options.parse(DpoMethod.INFO, given));
  }

  private static String refusal(Map<String, String> given) {
    return assertThrows(IllegalArgumentException.class, () -> parse(given)).getMessage();
  }

  @Test
  void theDefaultsAreTrls() {
    assertEquals(new DpoConfig(0.1, DpoConfig.LossType.SIGMOID, 0, 0), parse(Map.of()));
  }

  @Test
  void aBetaThatIsNotPositiveIsRefused() {
    assertEquals(
        "dpo.beta must be a positive number, not 0.0; TRL's default is 0.1.",
        refusal(Map.of("beta", "0")));
  }

  @Test
  void labelSmoothingOfHalfOrMoreIsRefused() {
    assertEquals(
        "dpo.label_smoothing must be at least 0 and below 0.5, not 0.5.",
        refusal(Map.of("loss_type", "robust", "label_smoothing", "0.5")));
  }

  @Test
  void labelSmoothingWithALossThatIgnoresItIsRefused() {
    assertEquals(
        "dpo.label_smoothing applies to loss_type sigmoid or robust, not hinge; set it to 0 or"
            + " choose robust.",
        refusal(Map.of("loss_type", "hinge", "label_smoothing", "0.1")));
  }

  @Test
  void aNegativeSftWeightIsRefused() {
    assertEquals(
        "dpo.sft_weight must be 0 or more, not -1.0.", refusal(Map.of("sft_weight", "-1")));
  }
}
