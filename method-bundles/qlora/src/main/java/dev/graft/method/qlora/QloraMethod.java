package dev.graft.method.qlora;

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
import java.util.Optional;
import org.osgi.service.component.annotations.Component;

/**
 * QLoRA as a method service: the base model's linear weights held as bitsandbytes 4-bit blocks (NF4
 * by default, with double-quantised scales), dequantised inside the step. It trains nothing itself;
 * a job lists it with a LoRA-family method ({@code method=qlora,lora}), and a job that lists it
 * alone gets {@code lora} ({@link #companion()}).
 */
@Component(service = FineTuningMethod.class)
@MethodName("qlora")
public final class QloraMethod implements FineTuningMethod {
  static final MethodInfo INFO =
      new MethodInfo(
          "qlora",
          "QLoRA",
          MethodFamily.LOW_RANK,
          new PaperReference(
              "Dettmers et al.",
              "QLoRA: Efficient Finetuning of Quantized LLMs",
              2023,
              "2305.14314"),
          List.of(
              OptionDescriptor.choice(
                  "quant_type",
                  "nf4",
                  "4-bit data type of the frozen weights (bitsandbytes bnb_4bit_quant_type)",
                  "nf4",
                  "fp4"),
              OptionDescriptor.of(
                  "double_quant",
                  OptionType.BOOLEAN,
                  "true",
                  "quantise the block scales to 8 bits too (bnb_4bit_use_double_quant)"),
              OptionDescriptor.choice(
                  "compute_dtype",
                  "float32",
                  "type the weights are dequantised to inside the step (bnb_4bit_compute_dtype)",
                  "float32"),
              OptionDescriptor.of(
                  "modules",
                  OptionType.LIST,
                  "",
                  "linear layers to quantise: names or suffixes, or one regex; empty: every linear layer except the output head")));

  @Override
  public MethodInfo info() {
    return INFO;
  }

  @Override
  public MethodInstance create(Options options) {
    return new Qlora(QloraConfig.of(options));
  }

  /** QLoRA trains nothing: alone, it trains LoRA on the quantised base. */
  @Override
  public Optional<String> companion() {
    return Optional.of("lora");
  }
}
