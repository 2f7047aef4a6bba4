package dev.graft.method.loradrop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.graft.api.Options;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The paper's selection from measured importances, and LoRA-drop's options. */
class LayerChoiceTest {
  @Test
  void theMostImportantLayersKeepTheirOwnLoraUntilTheRatioIsReached() {
    // Shares 0.1, 0.6, 0.05, 0.25: 0.6 + 0.25 = 0.85 < 0.9, so layer 0 (0.1) is kept too.
    LayerChoice choice = LayerChoice.of(Map.of(0, 2.0, 1, 12.0, 2, 1.0, 3, 5.0), 0.9);
    assertEquals(List.of(0, 1, 3), choice.kept());
    assertEquals(0.6, choice.importances().get(1), 1e-12);
  }

  @Test
  void aRatioMetExactlyStopsThere() {
    assertEquals(List.of(1), LayerChoice.of(Map.of(0, 1.0, 1, 3.0), 0.75).kept());
  }

  @Test
  void theLogLineNamesKeptAndSharedLayersWithTheirImportances() {
    assertEquals(
        "LoRA-drop keeps its own LoRA on layers 1 (0.750); layers 0 (0.250) share one.",
        LayerChoice.of(Map.of(0, 1.0, 1, 3.0), 0.7).describe());
  }

  @Test
  void importancesThatAreAllZeroAreAClearError() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class, () -> LayerChoice.of(Map.of(0, 0.0, 1, 0.0), 0.9));
    assertEquals(
        "LoRA-drop measured no LoRA output on any layer (every importance is 0); raise"
            + " lora_drop_warmup_steps or the learning rate.",
        e.getMessage());
  }

  @Test
  void aRatioAboveOneIsRefused() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                new LoraDropMethod()
                    .create(Options.parse(LoraDropMethod.INFO, Map.of("lora_drop_ratio", "1.5"))));
    assertEquals(
        "lora_drop_ratio must be above 0 and at most 1 (the paper uses 0.9), not 1.5.",
        e.getMessage());
  }
}
