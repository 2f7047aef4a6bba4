package dev.graft.method.instruction;

import dev.graft.api.FineTuningMethod;
import dev.graft.api.MethodFamily;
import dev.graft.api.MethodInfo;
import dev.graft.api.MethodName;
import dev.graft.api.OptionDescriptor;
import dev.graft.api.OptionType;
import dev.graft.api.Options;
import dev.graft.api.PaperReference;
import dev.graft.api.adapt.Adaptation;
import dev.graft.api.adapt.AdapterWriter;
import dev.graft.api.adapt.MethodInstance;
import java.util.List;
import java.util.Map;
import org.osgi.service.component.annotations.Component;

/**
 * Instruction tuning as a method service: prompt/completion and instruction samples become a
 * conversation (an optional system message, the prompt as the user's turn, the completion as the
 * assistant's reply) rendered with a template, and the loss covers the reply and what ends it only,
 * like TRL's {@code SFTTrainer} on conversational prompt-completion data and LLaMA-Factory's
 * templates, whose option names it takes:
 *
 * <ul>
 *   <li>{@code template}: {@code chat} (the model's chat template; an error if it has none), {@code
 *       alpaca} (Stanford Alpaca's prompt, with its "### Input:" variant for instructions with an
 *       input), {@code chatml}, or {@code auto} (chat if the model has a template, else alpaca).
 *   <li>{@code system_prompt}: a system message for samples without one; for Alpaca it replaces the
 *       preamble. Empty (the default): none.
 *   <li>{@code train_on_prompt}: learn the prompt and template text too. It decides the loss mask
 *       of formatted samples in place of the job's {@code completion_only_loss} and {@code
 *       assistant_only_loss}.
 * </ul>
 *
 * Conversations ({@code messages} data) get the system prompt and the template too; plain text
 * stays plain. Packing is the job key {@code packing}, as without this method.
 *
 * <p>The method adds no parameters, so it combines with an adapter method or full fine-tuning:
 * {@code method=lora,instruction-tuning}; alone it leaves nothing to train, which the job reports.
 * It writes nothing into {@code adapter_config.json} (PEFT has no field for a data format); the
 * platform saves its settings as {@code graft_sample_format.json} inside {@code adapter/} (or
 * {@code model/}), e.g. {@code {"method": "instruction-tuning", "template": "alpaca", "prompt":
 * "Below is … ### Instruction:\n{prompt}\n\n### Response:\n", "stop": "</s>", …}}, so that
 * generation can build prompts the way training did; PEFT and transformers ignore the file.
 */
@Component(service = FineTuningMethod.class)
@MethodName("instruction-tuning")
public final class InstructionTuning implements FineTuningMethod {
  static final MethodInfo INFO =
      new MethodInfo(
          "instruction-tuning",
          "Instruction tuning",
          MethodFamily.OBJECTIVE,
          new PaperReference(
              "Wei et al.", "Finetuned Language Models Are Zero-Shot Learners", 2021, "2109.01652"),
          List.of(
              OptionDescriptor.choice(
                  "template",
                  "auto",
                  "how a sample is rendered: the model's chat template (chat), Stanford Alpaca's"
                      + " prompt (alpaca), ChatML (chatml), or auto: chat if the model has one,"
                      + " else alpaca",
                  "auto",
                  "chat",
                  "alpaca",
                  "chatml"),
              OptionDescriptor.of(
                  "system_prompt",
                  OptionType.STRING,
                  "",
                  "a system message before each conversation that has none (Alpaca: replaces"
                      + " its preamble); empty: none"),
              OptionDescriptor.of(
                  "train_on_prompt",
                  OptionType.BOOLEAN,
                  "false",
                  "learn the prompt and template text too, not only the responses; replaces"
                      + " completion_only_loss and assistant_only_loss")));

  @Override
  public MethodInfo info() {
    return INFO;
  }

  @Override
  public MethodInstance create(Options options) {
    InstructionFormat format = InstructionFormat.of(options);
    return new MethodInstance() {
      @Override
      public void adapt(Adaptation adaptation) {
        adaptation.sampleFormat(format);
      }

      /**
       * Nothing: PEFT has no field for a data format, and the adapter method's config must stand.
       * The template settings are saved as graft_sample_format.json ({@link
       * InstructionFormat#settings()}).
       */
      @Override
      public Map<String, Object> adapterConfig() {
        return Map.of();
      }

      /** Nothing: the method has no tensors; the adapter method writes its own. */
      @Override
      public void save(AdapterWriter writer) {}
    };
  }
}
