package dev.graft.method.lorafa;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.graft.api.Options;
import dev.graft.method.lora.spi.LoraOptions;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** LoRA-FA's options are LoRA's, checked as LoRA checks them. */
class LoraFaMethodTest {
  @Test
  void theOptionsAreLoras() {
    assertEquals(LoraOptions.OPTIONS, LoraFaMethod.INFO.options());
  }

  @Test
  void aBadDropoutIsRefusedWithItsRange() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                new LoraFaMethod()
                    .create(Options.parse(LoraFaMethod.INFO, Map.of("lora_dropout", "1"))));
    assertEquals("lora_dropout must be in [0, 1), not 1.0.", e.getMessage());
  }
}
