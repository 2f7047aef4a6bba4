package dev.graft.method.dpo;

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
 * Direct Preference Optimization as a method service: it sets the job's {@link DpoObjective}, so
 * the data is read as (prompt, chosen, rejected) pairs, two rows each, and the loss compares the
 * policy with the reference model on both. Options (TRL's {@code DPOConfig} names and defaults):
 *
 * <table>
 *   <caption>Options</caption>
 *   <tr><th>option</th><th>default</th><th>meaning</th></tr>
 *   <tr><td>{@code beta}</td><td>0.1</td><td>β, the strength of the pull to the reference</td></tr>
 *   <tr><td>{@code loss_type}</td><td>sigmoid</td><td>sigmoid, ipo, hinge or robust</td></tr>
 *   <tr><td>{@code label_smoothing}</td><td>0</td><td>ε in [0, 0.5): robust DPO, and cDPO for
 *       sigmoid (TRL ≤ 0.28, torchtune, LLaMA-Factory; TRL ≥ 0.29 ignores it for sigmoid)</td></tr>
 *   <tr><td>{@code sft_weight}</td><td>0</td><td>adds that times the chosen completion's mean
 *       per-token NLL (LLaMA-Factory's {@code pref_ftx})</td></tr>
 * </table>
 *
 * <p>The reference model is the base model as the checkpoint holds it, every method's change
 * removed, in an inference-only session the platform runs on each batch before the training step:
 * PEFT's "adapter disabled" for LoRA and the other adapters (as TRL, LLaMA-Factory and torchtune do
 * without a {@code ref_model}), and the frozen starting model for {@code full}. The method adds no
 * parameters, so it combines with an adapter method or full ({@code method=lora,dpo}); alone it
 * leaves nothing to train, which the job reports. It writes nothing into the adapter.
 */
@Component(service = FineTuningMethod.class)
@MethodName("dpo")
public final class DpoMethod implements FineTuningMethod {
  static final MethodInfo INFO =
      new MethodInfo(
          "dpo",
          "Direct Preference Optimization",
          MethodFamily.OBJECTIVE,
          new PaperReference(
              "Rafailov et al.",
              "Direct Preference Optimization: Your Language Model is Secretly a Reward Model",
              2023,
              "2305.18290"),
          List.of(
              OptionDescriptor.of(
                  "beta",
                  OptionType.FLOAT,
                  "0.1",
                  "β: how strongly the policy is held to the reference model (IPO: τ)"),
              OptionDescriptor.choice(
                  "loss_type",
                  "sigmoid",
                  "the loss of the reward margin: sigmoid (DPO), ipo (per-token averaged),"
                      + " hinge (SLiC) or robust (with label_smoothing)",
                  "sigmoid",
                  "ipo",
                  "hinge",
                  "robust"),
              OptionDescriptor.of(
                  "label_smoothing",
                  OptionType.FLOAT,
                  "0.0",
                  "the assumed share of flipped preference labels, in [0, 0.5): robust DPO,"
                      + " and conservative DPO for sigmoid"),
              OptionDescriptor.of(
                  "sft_weight",
                  OptionType.FLOAT,
                  "0.0",
                  "adds this times the chosen completions' mean per-token NLL to the loss"
                      + " (LLaMA-Factory's pref_ftx)")));

  @Override
  public MethodInfo info() {
    return INFO;
  }

  @Override
  public MethodInstance create(Options options) {
    DpoObjective objective = new DpoObjective(DpoConfig.of(options));
    return new MethodInstance() {
      @Override
      public void adapt(Adaptation adaptation) {
        adaptation.objective(objective);
      }

      /** Nothing: the adapter method's config must stand, and PEFT has no field for DPO. */
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
