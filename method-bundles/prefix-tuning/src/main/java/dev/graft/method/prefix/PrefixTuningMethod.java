package dev.graft.method.prefix;

import dev.graft.api.FineTuningMethod;
import dev.graft.api.MethodFamily;
import dev.graft.api.MethodInfo;
import dev.graft.api.MethodName;
import dev.graft.api.OptionDescriptor;
import dev.graft.api.OptionType;
import dev.graft.api.Options;
import dev.graft.api.PaperReference;
import dev.graft.api.adapt.MethodInstance;
import dev.graft.method.prefix.spi.PrefixTuning;
import dev.graft.method.prefix.spi.PrefixTuningConfig;
import java.util.List;
import org.osgi.service.component.annotations.Component;

/**
 * Prefix tuning as a method service. Option names are PEFT's {@code PrefixTuningConfig}; PEFT
 * requires {@code num_virtual_tokens}, Graft defaults it to 20, the value of PEFT's examples.
 */
@Component(service = FineTuningMethod.class)
@MethodName("prefix-tuning")
public final class PrefixTuningMethod implements FineTuningMethod {
  static final MethodInfo INFO =
      new MethodInfo(
          "prefix-tuning",
          "Prefix tuning",
          MethodFamily.PROMPT,
          new PaperReference(
              "Li, Liang",
              "Prefix-Tuning: Optimizing Continuous Prompts for Generation",
              2021,
              "2101.00190"),
          List.of(
              OptionDescriptor.of(
                  "num_virtual_tokens",
                  OptionType.INT,
                  "20",
                  "trainable keys and values put ahead of the input in every layer (PEFT requires"
                      + " it; 20 as PEFT's examples)"),
              OptionDescriptor.of(
                  "prefix_projection",
                  OptionType.BOOLEAN,
                  "false",
                  "reparameterise: prefix = Linear(Tanh(Linear(embedding))), folded into the"
                      + " saved table"),
              OptionDescriptor.of(
                  "encoder_hidden_size",
                  OptionType.INT,
                  "",
                  "the projection's hidden width; empty: token_dim (key/value heads × head size)")));

  @Override
  public MethodInfo info() {
    return INFO;
  }

  @Override
  public MethodInstance create(Options options) {
    return new PrefixTuning(PrefixTuningConfig.of(options), "Prefix tuning");
  }
}
