package dev.graft.method.dora;

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
 * DoRA as a method service: PEFT's {@code LoraConfig} options with {@code use_dora=True}. A PEFT
 * LoRA adapter whose {@code adapter_config.json} says {@code use_dora: true} loads with it.
 */
@Component(service = FineTuningMethod.class)
@MethodName("dora")
public final class DoraMethod implements FineTuningMethod {
  static final MethodInfo INFO =
      new MethodInfo(
          "dora",
          "DoRA",
          MethodFamily.LOW_RANK,
          new PaperReference(
              "Liu et al.", "DoRA: Weight-Decomposed Low-Rank Adaptation", 2024, "2402.09353"),
          LoraOptions.OPTIONS);

  @Override
  public MethodInfo info() {
    return INFO;
  }

  /**
   * A JVM system property that makes the row norm expand ‖W + s·B·A‖² instead of materialising W +
   * s·B·A: only to measure one against the other (bench/README.md).
   */
  static final String EXPAND = "graft.dora.expandNorm";

  @Override
  public MethodInstance create(Options options) {
    return new Dora(LoraConfig.of(options), Boolean.getBoolean(EXPAND));
  }
}
