package dev.graft.method.pissa;

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
import java.util.ArrayList;
import java.util.List;
import org.osgi.service.component.annotations.Component;

/**
 * PiSSA as a method service: PEFT's {@code LoraConfig} options with {@code init_lora_weights} set
 * to {@code pissa} or {@code pissa_niter_K}, and {@code pissa_convert} (LLaMA-Factory's name) for
 * how the adapter is saved. A PEFT adapter whose {@code init_lora_weights} says pissa loads with
 * it, on the residual.
 */
@Component(service = FineTuningMethod.class)
@MethodName("pissa")
public final class PissaMethod implements FineTuningMethod {
  static final MethodInfo INFO =
      new MethodInfo(
          "pissa",
          "PiSSA",
          MethodFamily.LOW_RANK,
          new PaperReference(
              "Meng, Wang, Zhang",
              "PiSSA: Principal Singular Values and Singular Vectors Adaptation of Large Language"
                  + " Models",
              2024,
              "2404.02948"),
          options());

  private static List<OptionDescriptor> options() {
    List<OptionDescriptor> all = new ArrayList<>();
    for (OptionDescriptor o : LoraOptions.OPTIONS) {
      all.add(
          o.name().equals("init_lora_weights")
              ? OptionDescriptor.of(
                  "init_lora_weights",
                  OptionType.STRING,
                  "pissa",
                  "pissa: A, B from the exact top-r SVD of W; pissa_niter_K: randomized SVD with K"
                      + " subspace iterations (faster on large layers, e.g. pissa_niter_4)")
              : o);
    }
    all.add(
        OptionDescriptor.of(
            "pissa_convert",
            OptionType.BOOLEAN,
            "false",
            "true: save as a plain LoRA adapter of rank 2r that loads on the original W (PEFT's"
                + " conversion); false: A and B as trained, on the residual W - s·B0·A0 that the"
                + " loader computes again, as PEFT saves by default"));
    return List.copyOf(all);
  }

  @Override
  public MethodInfo info() {
    return INFO;
  }

  @Override
  public MethodInstance create(Options options) {
    return new Pissa(PissaConfig.of(options));
  }
}
