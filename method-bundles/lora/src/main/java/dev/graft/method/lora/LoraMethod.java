package dev.graft.method.lora;

import dev.graft.api.FineTuningMethod;
import dev.graft.api.MethodFamily;
import dev.graft.api.MethodInfo;
import dev.graft.api.MethodName;
import dev.graft.api.Options;
import dev.graft.api.PaperReference;
import dev.graft.api.adapt.MethodInstance;
import dev.graft.method.lora.spi.Lora;
import dev.graft.method.lora.spi.LoraConfig;
import dev.graft.method.lora.spi.LoraOptions;
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
          LoraOptions.OPTIONS);

  @Override
  public MethodInfo info() {
    return INFO;
  }

  @Override
  public MethodInstance create(Options options) {
    return new Lora(LoraConfig.of(options));
  }
}
