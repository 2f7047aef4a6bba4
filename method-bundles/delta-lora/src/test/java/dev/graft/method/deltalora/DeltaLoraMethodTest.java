package dev.graft.method.deltalora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.graft.api.Options;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Delta-LoRA's own options are checked where they are read. */
class DeltaLoraMethodTest {
  private static IllegalArgumentException refused(String option, String value) {
    return assertThrows(
        IllegalArgumentException.class,
        () ->
            new DeltaLoraMethod()
                .create(Options.parse(DeltaLoraMethod.INFO, Map.of(option, value))));
  }

  @Test
  void aNegativeUpdateRatioIsRefused() {
    assertEquals(
        "delta_lambda must be a finite number of at least 0 (the paper uses 2), not -1.0.",
        refused("delta_lambda", "-1").getMessage());
  }

  @Test
  void aNegativeStartStepIsRefused() {
    assertEquals(
        "update_start_step must be 0 or more (0: W moves from the first step), not -3.",
        refused("update_start_step", "-3").getMessage());
  }

  @Test
  void theDefaultsAreThePapers() {
    DeltaLoraConfig c = DeltaLoraConfig.of(Options.parse(DeltaLoraMethod.INFO, Map.of()));
    assertEquals(2.0, c.lambda());
    assertEquals(500, c.startStep());
  }
}
