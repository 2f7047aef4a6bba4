package dev.graft.example.ia3;

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
 * (IA)³, "Infused Adapter by Inhibiting and Amplifying Inner Activations", as a method service: the
 * registry finds it by its {@link MethodName} when the bundle starts, and {@code method=ia3} in a
 * job asks it for an {@link Ia3} configured by the job's {@code ia3.*} options. The options are
 * PEFT's {@code IA3Config} fields.
 */
@Component(service = FineTuningMethod.class)
@MethodName("ia3")
public final class Ia3Method implements FineTuningMethod {
  static final MethodInfo INFO =
      new MethodInfo(
          "ia3",
          "(IA)³",
          // Lialin et al.'s taxonomy puts (IA)³ with the additive, adapter-like methods.
          MethodFamily.ADAPTER,
          new PaperReference(
              "Liu, Tam, Muqeeth, Mohta, Huang, Bansal, Raffel",
              "Few-Shot Parameter-Efficient Fine-Tuning is Better and Cheaper than In-Context"
                  + " Learning",
              2022,
              "2205.05638"),
          List.of(
              OptionDescriptor.of(
                  "target_modules",
                  OptionType.LIST,
                  "",
                  "module names or suffixes, one regex, or all-linear, whose activations are rescaled;"
                      + " empty:"
                      + " PEFT's default, k_proj, v_proj, down_proj (GPT-2: c_attn, mlp.c_proj)"),
              OptionDescriptor.of(
                  "feedforward_modules",
                  OptionType.LIST,
                  "",
                  "the targets whose input, not output, is rescaled (l_ff); empty: PEFT's default,"
                      + " down_proj (GPT-2: mlp.c_proj)"),
              OptionDescriptor.of(
                  "init_ia3_weights",
                  OptionType.BOOLEAN,
                  "true",
                  "start the vectors at ones, the base model; false: random (PEFT's testing"
                      + " option)")));

  @Override
  public MethodInfo info() {
    return INFO;
  }

  @Override
  public MethodInstance create(Options options) {
    return new Ia3(Ia3Config.of(options));
  }
}
