package dev.graft.method.lora;

import dev.graft.api.FineTuningMethod;
import dev.graft.api.MethodFamily;
import dev.graft.api.MethodInfo;
import dev.graft.api.MethodName;
import dev.graft.api.OptionDescriptor;
import dev.graft.api.OptionType;
import dev.graft.api.Options;
import dev.graft.api.PaperReference;
import dev.graft.api.adapt.MethodInstance;
import java.util.List;
import org.osgi.service.component.annotations.Component;

/** LoRA as a method service. Option names and defaults are PEFT's {@code LoraConfig}. */
@Component(service = FineTuningMethod.class)
@MethodName("lora")
public final class LoraMethod implements FineTuningMethod {
  static final MethodInfo INFO =
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
              OptionDescriptor.of("r", OptionType.INT, "8", "rank of the update B·A"),
              OptionDescriptor.of(
                  "lora_alpha",
                  OptionType.FLOAT,
                  "8",
                  "scaling numerator: the update is (lora_alpha / r)·B·A"),
              OptionDescriptor.of(
                  "lora_dropout",
                  OptionType.FLOAT,
                  "0.0",
                  "dropout on the LoRA input while training"),
              OptionDescriptor.of(
                  "use_rslora",
                  OptionType.BOOLEAN,
                  "false",
                  "rsLoRA: scale by lora_alpha / sqrt(r)"),
              OptionDescriptor.of(
                  "target_modules",
                  OptionType.LIST,
                  "",
                  "module names or suffixes, one regex, or all-linear; empty: PEFT's default for the architecture"),
              OptionDescriptor.of(
                  "exclude_modules",
                  OptionType.LIST,
                  "",
                  "module names or suffixes never targeted"),
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
                  "gaussian")));

  @Override
  public MethodInfo info() {
    return INFO;
  }

  @Override
  public MethodInstance create(Options options) {
    return new Lora(LoraConfig.of(options));
  }
}
