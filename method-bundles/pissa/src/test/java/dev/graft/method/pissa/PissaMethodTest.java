package dev.graft.method.pissa;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.graft.api.Options;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** PiSSA's options: LoRA's, with its own init_lora_weights and pissa_convert, checked at start. */
class PissaMethodTest {
  private static PissaConfig config(Map<String, String> options) {
    return PissaConfig.of(Options.parse(PissaMethod.INFO, options));
  }

  @Test
  void theDefaultIsTheExactSvdSavedOnTheResidualAsPeftSavesIt() {
    PissaConfig c = config(Map.of());
    assertEquals(-1, c.niter());
    assertEquals(false, c.convert());
  }

  @Test
  void pissaNiterGivesTheIterationsOfTheRandomizedSvd() {
    assertEquals(4, config(Map.of("init_lora_weights", "pissa_niter_4")).niter());
  }

  @Test
  void anotherInitialisationIsRefusedNamingTheAllowedOnes() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class, () -> config(Map.of("init_lora_weights", "gaussian")));
    assertEquals(
        "init_lora_weights must be pissa (exact SVD) or pissa_niter_K (randomized SVD with K"
            + " iterations, e.g. pissa_niter_4), not \"gaussian\".",
        e.getMessage());
  }

  @Test
  void aniterThatIsNoPositiveNumberIsRefused() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> config(Map.of("init_lora_weights", "pissa_niter_0")));
    assertEquals(
        "init_lora_weights \"pissa_niter_0\" needs a whole number of iterations of at least 1"
            + " after pissa_niter_, e.g. pissa_niter_4.",
        e.getMessage());
  }

  @Test
  void loraOptionsAreCheckedAsLoraChecksThem() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> config(Map.of("r", "0")));
    assertEquals("LoRA rank r must be positive, not 0.", e.getMessage());
  }
}
