package dev.graft.method.lorafa;

import dev.graft.api.FineTuningMethod;
import dev.graft.api.MethodFamily;
import dev.graft.api.MethodInfo;
import dev.graft.api.MethodName;
import dev.graft.api.Options;
import dev.graft.api.PaperReference;
import dev.graft.api.adapt.MethodInstance;
import dev.graft.method.lora.spi.LoraConfig;
import dev.graft.method.lora.spi.LoraOptions;
import org.osgi.service.component.annotations.Component;

/**
 * LoRA-FA as a method service. Its options are LoRA's (PEFT's {@code LoraConfig}); A starts as
 * {@code init_lora_weights} says and stays there.
 */
@Component(service = FineTuningMethod.class)
@MethodName("lora-fa")
public final class LoraFaMethod implements FineTuningMethod {
  static final MethodInfo INFO =
      new MethodInfo(
          "lora-fa",
          "LoRA-FA",
          MethodFamily.LOW_RANK,
          new PaperReference(
              "Zhang et al.",
              "LoRA-FA: Memory-efficient Low-rank Adaptation for Large Language Models Fine-tuning",
              2023,
              "2308.03303"),
          LoraOptions.OPTIONS);

  @Override
  public MethodInfo info() {
    return INFO;
  }

  @Override
  public MethodInstance create(Options options) {
    return new LoraFa(LoraConfig.of(options));
  }
}
