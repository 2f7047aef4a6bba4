package dev.graft.method.deltalora;

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
 * Delta-LoRA as a method service: LoRA's options (PEFT's {@code LoraConfig}) plus the paper's
 * update ratio λ and start step K.
 */
@Component(service = FineTuningMethod.class)
@MethodName("delta-lora")
public final class DeltaLoraMethod implements FineTuningMethod {
  static final MethodInfo INFO =
      new MethodInfo(
          "delta-lora",
          "Delta-LoRA",
          MethodFamily.LOW_RANK,
          new PaperReference(
              "Zi et al.",
              "Delta-LoRA: Fine-Tuning High-Rank Parameters with the Delta of Low-Rank Matrices",
              2023,
              "2309.02411"),
          LoraOptions.with(
              OptionDescriptor.of(
                  "delta_lambda",
                  OptionType.FLOAT,
                  "2",
                  "update ratio λ: after each step from update_start_step on, W += λ·Δ(s·B·A)"),
              OptionDescriptor.of(
                  "update_start_step",
                  OptionType.INT,
                  "500",
                  "the step K from which W moves (the paper's warm-up of A and B; 0: from the start)")));

  @Override
  public MethodInfo info() {
    return INFO;
  }

  @Override
  public MethodInstance create(Options options) {
    return new DeltaLora(DeltaLoraConfig.of(options));
  }
}
