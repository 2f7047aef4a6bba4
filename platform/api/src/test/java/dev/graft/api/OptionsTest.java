package dev.graft.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class OptionsTest {
  private static final MethodInfo LORA =
      new MethodInfo(
          "lora",
          "LoRA",
          MethodFamily.LOW_RANK,
          new PaperReference(
              "Hu et al.",
              "LoRA: Low-Rank Adaptation of Large Language Models",
              2021,
              "2106.09685"),
          List.of(
              OptionDescriptor.of("r", OptionType.INT, "8", "rank"),
              OptionDescriptor.of("lora_alpha", OptionType.FLOAT, "8", "scaling numerator"),
              OptionDescriptor.of(
                  "use_rslora", OptionType.BOOLEAN, "false", "alpha/sqrt(r) scaling"),
              OptionDescriptor.of("target_modules", OptionType.LIST, "", "targets"),
              OptionDescriptor.of("rank_pattern", OptionType.MAP, "", "per-module rank"),
              OptionDescriptor.choice(
                  "bias", "none", "which biases train", "none", "all", "lora_only")));

  @Test
  void defaultsApplyWhenNothingIsGiven() {
    Options o = Options.parse(LORA, Map.of());
    assertEquals(8, o.getInt("r"));
    assertEquals(8.0, o.getDouble("lora_alpha"));
    assertFalse(o.getBoolean("use_rslora"));
    assertEquals(List.of(), o.getList("target_modules"));
    assertFalse(o.has("target_modules"));
    assertEquals("none", o.getString("bias"));
  }

  @Test
  void givenValuesAreParsedByType() {
    Options o =
        Options.parse(
            LORA,
            Map.of(
                "r",
                "16",
                "use_rslora",
                "TRUE",
                "target_modules",
                "q_proj, v_proj",
                "rank_pattern",
                "q_proj=4,down=2"));
    assertEquals(16, o.getInt("r"));
    assertEquals(true, o.getBoolean("use_rslora"));
    assertEquals(List.of("q_proj", "v_proj"), o.getList("target_modules"));
    assertEquals(Map.of("q_proj", "4", "down", "2"), o.getMap("rank_pattern"));
  }

  @Test
  void anUnknownOptionNamesTheNearestKnownOne() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class, () -> Options.parse(LORA, Map.of("lora_alpah", "16")));
    assertEquals(
        "Unknown option \"lora_alpah\". Method lora accepts: bias, lora_alpha, r, rank_pattern, target_modules,"
            + " use_rslora. Did you mean \"lora_alpha\"? See 'graft:method lora'.",
        e.getMessage());
  }

  @Test
  void aBadValueQuotesOptionValueAndType() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class, () -> Options.parse(LORA, Map.of("r", "eight")));
    assertEquals("Option \"r\" needs a int value, not \"eight\".", e.getMessage());
    e =
        assertThrows(
            IllegalArgumentException.class, () -> Options.parse(LORA, Map.of("bias", "some")));
    assertEquals(
        "Option \"bias\" cannot be \"some\". Choose one of: none, all, lora_only.", e.getMessage());
    e =
        assertThrows(
            IllegalArgumentException.class, () -> Options.parse(LORA, Map.of("lora_alpha", "NaN")));
    assertEquals("Option \"lora_alpha\" needs a float value, not \"NaN\".", e.getMessage());
  }

  @Test
  void aDescriptorWhoseDefaultDoesNotParseIsRejected() {
    assertThrows(
        IllegalArgumentException.class,
        () -> OptionDescriptor.of("r", OptionType.INT, "x", "rank"));
    assertThrows(
        IllegalArgumentException.class,
        () -> OptionDescriptor.of("Rank", OptionType.INT, "8", "rank"));
  }

  @Test
  void methodNamesAreLowerCaseAndOptionsUnique() {
    assertThrows(
        IllegalArgumentException.class,
        () -> new MethodInfo("LoRA", "LoRA", MethodFamily.LOW_RANK, null, List.of()));
    OptionDescriptor r = OptionDescriptor.of("r", OptionType.INT, "8", "rank");
    assertThrows(
        IllegalArgumentException.class,
        () -> new MethodInfo("lora", "LoRA", MethodFamily.LOW_RANK, null, List.of(r, r)));
  }
}
