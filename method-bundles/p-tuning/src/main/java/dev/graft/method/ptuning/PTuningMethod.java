package dev.graft.method.ptuning;

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

/**
 * P-tuning as a method service. Option names and defaults are PEFT's {@code PromptEncoderConfig};
 * PEFT requires {@code num_virtual_tokens}, Graft defaults it to 20, the value of PEFT's examples.
 * PEFT prepends the virtual tokens to the input; the paper's templates that interleave them with
 * the text are not modelled, as in PEFT.
 */
@Component(service = FineTuningMethod.class)
@MethodName("p-tuning")
public final class PTuningMethod implements FineTuningMethod {
  static final MethodInfo INFO =
      new MethodInfo(
          "p-tuning",
          "P-tuning",
          MethodFamily.PROMPT,
          new PaperReference(
              "Liu, Zheng, Du, Ding, Qian, Yang, Tang", "GPT Understands, Too", 2021, "2103.10385"),
          List.of(
              OptionDescriptor.of(
                  "num_virtual_tokens",
                  OptionType.INT,
                  "20",
                  "virtual tokens put ahead of every input (PEFT requires it; 20 as PEFT's"
                      + " examples)"),
              OptionDescriptor.choice(
                  "encoder_reparameterization_type",
                  "MLP",
                  "the prompt encoder: MLP (three Linear layers with ReLU) or LSTM (bidirectional"
                      + " LSTM, then Linear-ReLU-Linear); folded into the saved table",
                  "MLP",
                  "LSTM"),
              OptionDescriptor.of(
                  "encoder_hidden_size",
                  OptionType.INT,
                  "",
                  "the encoder's hidden width; empty: token_dim (the hidden size)"),
              OptionDescriptor.of(
                  "encoder_num_layers",
                  OptionType.INT,
                  "2",
                  "the LSTM's stacked layers (the MLP ignores it, as PEFT)"),
              OptionDescriptor.of(
                  "encoder_dropout",
                  OptionType.FLOAT,
                  "0.0",
                  "dropout between the LSTM's layers while training (torch's LSTM dropout)")));

  @Override
  public MethodInfo info() {
    return INFO;
  }

  @Override
  public MethodInstance create(Options options) {
    return new PTuning(PTuningConfig.of(options));
  }
}
