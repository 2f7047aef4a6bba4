package dev.graft.method.adalora;

import dev.graft.api.FineTuningMethod;
import dev.graft.api.MethodFamily;
import dev.graft.api.MethodInfo;
import dev.graft.api.MethodName;
import dev.graft.api.Options;
import dev.graft.api.PaperReference;
import dev.graft.api.adapt.MethodInstance;
import org.osgi.service.component.annotations.Component;

/**
 * AdaLoRA as a method service. Options are PEFT's {@code AdaLoraConfig} ({@code delta_t} for its
 * {@code deltaT}); {@code total_step}, which PEFT requires, defaults to the job's steps.
 */
@Component(service = FineTuningMethod.class)
@MethodName("adalora")
public final class AdaLoraMethod implements FineTuningMethod {
  static final MethodInfo INFO =
      new MethodInfo(
          "adalora",
          "AdaLoRA",
          MethodFamily.LOW_RANK,
          new PaperReference(
              "Zhang et al.",
              "AdaLoRA: Adaptive Budget Allocation for Parameter-Efficient Fine-Tuning",
              2023,
              "2303.10512"),
          AdaLoraConfig.OPTIONS);

  @Override
  public MethodInfo info() {
    return INFO;
  }

  @Override
  public MethodInstance create(Options options) {
    return new AdaLora(AdaLoraConfig.of(options));
  }
}
