package dev.graft.method.loradrop;

import dev.graft.api.FineTuningMethod;
import dev.graft.api.MethodFamily;
import dev.graft.api.MethodInfo;
import dev.graft.api.MethodName;
import dev.graft.api.OptionDescriptor;
import dev.graft.api.OptionType;
import dev.graft.api.Options;
import dev.graft.api.PaperReference;
import dev.graft.api.adapt.MethodInstance;
import dev.graft.method.lora.spi.LoraOptions;
import org.osgi.service.component.annotations.Component;

/**
 * LoRA-drop as a method service: LoRA's options (PEFT's {@code LoraConfig}) plus the threshold,
 * sample size and warm-up of the paper's layer selection.
 */
@Component(service = FineTuningMethod.class)
@MethodName("lora-drop")
public final class LoraDropMethod implements FineTuningMethod {
  static final MethodInfo INFO =
      new MethodInfo(
          "lora-drop",
          "LoRA-drop",
          MethodFamily.LOW_RANK,
          new PaperReference(
              "Zhou et al.",
              "LoRA-drop: Efficient LoRA Parameter Pruning based on Output Evaluation",
              2024,
              "2402.07721"),
          LoraOptions.with(
              OptionDescriptor.of(
                  "lora_drop_ratio",
                  OptionType.FLOAT,
                  "0.9",
                  "the most important layers keep their own LoRA until their importances reach this share; the rest share one"),
              OptionDescriptor.of(
                  "lora_drop_samples",
                  OptionType.INT,
                  "8",
                  "training batches on which each layer's importance ‖ΔW·x‖² is measured"),
              OptionDescriptor.of(
                  "lora_drop_warmup_steps",
                  OptionType.INT,
                  "10",
                  "steps of plain LoRA on every layer before the measurement (B starts at 0)")));

  @Override
  public MethodInfo info() {
    return INFO;
  }

  @Override
  public MethodInstance create(Options options) {
    return new LoraDrop(LoraDropConfig.of(options));
  }
}
