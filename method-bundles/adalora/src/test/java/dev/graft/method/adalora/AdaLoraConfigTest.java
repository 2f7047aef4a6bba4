package dev.graft.method.adalora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.graft.api.Options;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** AdaLoRA's options: PEFT's defaults, and out-of-range values refused in one sentence. */
class AdaLoraConfigTest {
  private static AdaLoraConfig of(Map<String, String> options) {
    return AdaLoraConfig.of(Options.parse(AdaLoraMethod.INFO, options));
  }

  private static String refused(Map<String, String> options) {
    return assertThrows(IllegalArgumentException.class, () -> of(options)).getMessage();
  }

  @Test
  void theDefaultsArePefts() {
    AdaLoraConfig c = of(Map.of());
    assertEquals(12, c.initR());
    assertEquals(8, c.targetR());
    assertEquals(0.85, c.beta1());
    assertEquals(0.5, c.orthRegWeight());
    assertNull(c.totalStep(), "total_step defaults to the job's steps");
    assertEquals(8.0 / (12f + 1e-5f), c.scale(), 1e-15, "lora_alpha / (ranknum + 1e-5)");
  }

  @Test
  void aTargetRankAboveTheInitialOneIsRefused() {
    assertEquals(
        "target_r must be between 0 and init_r (12), not 13.", refused(Map.of("target_r", "13")));
  }

  @Test
  void anEmaFactorOutsideTheOpenUnitIntervalIsRefused() {
    assertEquals(
        "beta2 must be in (0, 1) (an EMA factor), not 1.0.", refused(Map.of("beta2", "1")));
  }

  @Test
  void aScheduleWithoutStepsBetweenWarmUpAndFinalPhaseIsRefused() {
    assertEquals(
        "AdaLoRA's schedule needs tinit < total_step - tfinal, but tinit is 5, tfinal 5 and"
            + " total_step 10; lower tinit or tfinal, or train more steps.",
        refused(Map.of("tinit", "5", "tfinal", "5", "total_step", "10")));
  }
}
