package dev.graft.method.prompt;

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
 * Prompt tuning as a method service. Option names are PEFT's {@code PromptTuningConfig}; PEFT
 * requires {@code num_virtual_tokens}, Graft defaults it to 20, the value of PEFT's examples.
 */
@Component(service = FineTuningMethod.class)
@MethodName("prompt-tuning")
public final class PromptTuningMethod implements FineTuningMethod {
  static final MethodInfo INFO =
      new MethodInfo(
          "prompt-tuning",
          "Prompt tuning",
          MethodFamily.PROMPT,
          new PaperReference(
              "Lester, Al-Rfou, Constant",
              "The Power of Scale for Parameter-Efficient Prompt Tuning",
              2021,
              "2104.08691"),
          List.of(
              OptionDescriptor.of(
                  "num_virtual_tokens",
                  OptionType.INT,
                  "20",
                  "trainable virtual tokens put ahead of every input (PEFT requires it; 20 as"
                      + " PEFT's examples)"),
              OptionDescriptor.choice(
                  "prompt_tuning_init",
                  "RANDOM",
                  "RANDOM: N(0, 1) as nn.Embedding; SAMPLE_VOCAB: embeddings of tokens drawn"
                      + " uniformly from the vocabulary; TEXT: embeddings of the tokens of"
                      + " prompt_tuning_init_text, repeated or cut to num_virtual_tokens",
                  "RANDOM",
                  "SAMPLE_VOCAB",
                  "TEXT"),
              OptionDescriptor.of(
                  "prompt_tuning_init_text",
                  OptionType.STRING,
                  "",
                  "the text whose tokens start the virtual tokens (prompt_tuning_init TEXT)")));

  @Override
  public MethodInfo info() {
    return INFO;
  }

  @Override
  public MethodInstance create(Options options) {
    return new PromptTuning(PromptTuningConfig.of(options));
  }
}
