package dev.graft.method.ptuningv2;

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
 * P-tuning v2 as a method service: deep prompts, trained keys and values ahead of every layer's
 * own. It is prefix tuning's instance with the paper's defaults (no reparameterisation) and THUDM's
 * dropout on the prefixes; it saves PEFT's {@code PREFIX_TUNING} adapter (PEFT has no type of its
 * own for it) and loads back as itself through {@code graft_methods}. See the bundle's README for
 * how it relates to {@code prefix-tuning}.
 */
@Component(service = FineTuningMethod.class)
@MethodName("p-tuning-v2")
public final class PTuningV2Method implements FineTuningMethod {
  static final MethodInfo INFO =
      new MethodInfo(
          "p-tuning-v2",
          "P-tuning v2",
          MethodFamily.PROMPT,
          new PaperReference(
              "Liu, Ji, Fu, Tam, Du, Yang, Tang",
              "P-Tuning: Prompt Tuning Can Be Comparable to Fine-tuning Across Scales and Tasks",
              2022,
              "2110.07602"),
          List.of(
              OptionDescriptor.of(
                  "num_virtual_tokens",
                  OptionType.INT,
                  "20",
                  "deep-prompt length: trained keys and values ahead of the input in every layer"
                      + " (the paper uses 4 to 128 by task)"),
              OptionDescriptor.of(
                  "prefix_projection",
                  OptionType.BOOLEAN,
                  "false",
                  "reparameterise with an MLP (off in the paper's default; it helps on some tasks"
                      + " only), folded into the saved table"),
              OptionDescriptor.of(
                  "encoder_hidden_size",
                  OptionType.INT,
                  "",
                  "the MLP's hidden width; empty: token_dim (key/value heads × head size)"),
              OptionDescriptor.of(
                  "prefix_dropout",
                  OptionType.FLOAT,
                  "0.0",
                  "dropout on the prefixes while training (THUDM's code uses the model's"
                      + " hidden_dropout_prob)")));

  @Override
  public MethodInfo info() {
    return INFO;
  }

  @Override
  public MethodInstance create(Options options) {
    PrefixTuningConfig config =
        PrefixTuningConfig.of(options).withDropout(options.getDouble("prefix_dropout"));
    return new PrefixTuning(config, "P-tuning v2");
  }
}
