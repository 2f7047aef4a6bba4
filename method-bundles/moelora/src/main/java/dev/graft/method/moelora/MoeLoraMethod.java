package dev.graft.method.moelora;

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
 * MoELoRA as a method service: LoRA's options (PEFT's {@code LoraConfig}; r is all experts' ranks
 * together) plus the options of the paper's {@code MMOELoraConfig}.
 */
@Component(service = FineTuningMethod.class)
@MethodName("moelora")
public final class MoeLoraMethod implements FineTuningMethod {
  static final MethodInfo INFO =
      new MethodInfo(
          "moelora",
          "MoELoRA",
          MethodFamily.LOW_RANK,
          new PaperReference(
              "Liu et al.",
              "When MOE Meets LLMs: Parameter Efficient Fine-tuning for Multi-task Medical"
                  + " Applications",
              2023,
              "2310.18339"),
          LoraOptions.with(
              OptionDescriptor.of(
                  "num_experts",
                  OptionType.INT,
                  "4",
                  "LoRA experts per adapted layer, each of rank r / num_experts (the paper's expert_num)"),
              OptionDescriptor.of(
                  "task_embedding_dim",
                  OptionType.INT,
                  "64",
                  "size of the task embedding that each layer's gate reads"),
              OptionDescriptor.of(
                  "tasks",
                  OptionType.LIST,
                  "",
                  "task names in id order; each data line's task field holds one (or its id); empty: one task, no field"),
              OptionDescriptor.of(
                  "task",
                  OptionType.STRING,
                  "",
                  "the task that evaluation, generation and merging apply (--task NAME)")));

  @Override
  public MethodInfo info() {
    return INFO;
  }

  @Override
  public MethodInstance create(Options options) {
    return new MoeLora(MoeLoraConfig.of(options));
  }
}
