package dev.graft.method.lora.spi;

import dev.graft.api.OptionDescriptor;
import dev.graft.api.OptionType;
import java.util.ArrayList;
import java.util.List;

/**
 * LoRA's options: the names and defaults of PEFT's {@code LoraConfig}, read by {@link LoraConfig}.
 */
public final class LoraOptions {
  private LoraOptions() {}

  /** Every LoRA option, in the order {@code graft:method} lists them. */
  public static final List<OptionDescriptor> OPTIONS =
      List.of(
          OptionDescriptor.of("r", OptionType.INT, "8", "rank of the update B·A"),
          OptionDescriptor.of(
              "lora_alpha",
              OptionType.FLOAT,
              "8",
              "scaling numerator: the update is (lora_alpha / r)·B·A"),
          OptionDescriptor.of(
              "lora_dropout", OptionType.FLOAT, "0.0", "dropout on the LoRA input while training"),
          OptionDescriptor.of(
              "use_rslora", OptionType.BOOLEAN, "false", "rsLoRA: scale by lora_alpha / sqrt(r)"),
          OptionDescriptor.of(
              "target_modules",
              OptionType.LIST,
              "",
              "module names or suffixes, one regex, or all-linear; empty: PEFT's default for the architecture"),
          OptionDescriptor.of(
              "exclude_modules", OptionType.LIST, "", "module names or suffixes never targeted"),
          OptionDescriptor.of(
              "layers_to_transform", OptionType.LIST, "", "block indices to adapt; empty: all"),
          OptionDescriptor.of(
              "rank_pattern",
              OptionType.MAP,
              "",
              "per-module rank, e.g. q_proj=16 (regex on the module path)"),
          OptionDescriptor.of(
              "alpha_pattern", OptionType.MAP, "", "per-module lora_alpha, e.g. down_proj=32"),
          OptionDescriptor.choice(
              "bias", "none", "which biases train too", "none", "all", "lora_only"),
          OptionDescriptor.choice(
              "init_lora_weights",
              "true",
              "true: Kaiming-uniform A and zero B (a no-op at start); gaussian: A ~ N(0, 1/r)",
              "true",
              "gaussian"));

  /** LoRA's options followed by a variant's own. */
  public static List<OptionDescriptor> with(OptionDescriptor... variantOptions) {
    List<OptionDescriptor> all = new ArrayList<>(OPTIONS);
    all.addAll(List.of(variantOptions));
    return List.copyOf(all);
  }
}
