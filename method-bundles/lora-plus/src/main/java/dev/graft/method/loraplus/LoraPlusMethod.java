package dev.graft.method.loraplus;

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
 * LoRA+ as a method service: LoRA's options (PEFT's {@code LoraConfig}) plus the keyword arguments
 * of PEFT's {@code create_loraplus_optimizer}, with its defaults.
 */
@Component(service = FineTuningMethod.class)
@MethodName("lora-plus")
public final class LoraPlusMethod implements FineTuningMethod {
  static final MethodInfo INFO =
      new MethodInfo(
          "lora-plus",
          "LoRA+",
          MethodFamily.LOW_RANK,
          new PaperReference(
              "Hayou et al.",
              "LoRA+: Efficient Low Rank Adaptation of Large Models",
              2024,
              "2402.12354"),
          LoraOptions.with(
              OptionDescriptor.of(
                  "loraplus_lr_ratio",
                  OptionType.FLOAT,
                  "16",
                  "B's learning rate is loraplus_lr_ratio × the job's (A keeps the job's rate)"),
              OptionDescriptor.of(
                  "loraplus_lr_embedding",
                  OptionType.FLOAT,
                  "1e-6",
                  "learning rate of LoRA on embedding layers (PEFT's); Graft adapts linear layers only, so it has no effect"),
              OptionDescriptor.of(
                  "loraplus_weight_decay",
                  OptionType.FLOAT,
                  "0.0",
                  "weight decay of the B matrices (PEFT's); biases in B's group get none, A keeps the job's weight_decay")));

  @Override
  public MethodInfo info() {
    return INFO;
  }

  @Override
  public MethodInstance create(Options options) {
    return new LoraPlus(LoraPlusConfig.of(options));
  }
}
