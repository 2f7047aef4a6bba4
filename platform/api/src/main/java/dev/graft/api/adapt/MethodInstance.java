package dev.graft.api.adapt;

import java.util.Map;
import java.util.Optional;
import org.osgi.annotation.versioning.ConsumerType;

/**
 * A method configured for one job: it adapts the model graph, then saves and merges what it
 * trained.
 */
@ConsumerType
public interface MethodInstance {
  /** Rewrites the model through the platform's {@link Adaptation}; called once per graph build. */
  void adapt(Adaptation adaptation);

  /**
   * Runs in the calibration phase that {@link Adaptation#calibration} asked for, between the
   * warm-up steps and the rebuild of the graph, for methods that choose their sites from data
   * (LoRA-drop): the method measures and keeps what it chose for its next {@link #adapt}. A resumed
   * job calls it again with the results recorded in its checkpoint. The default does nothing.
   */
  default void calibrate(Calibration calibration) {}

  /**
   * The fields of {@code adapter_config.json}: PEFT's fields for methods that PEFT has (with {@code
   * peft_type}), Graft's documented fields otherwise (no {@code peft_type}: the adapter is then
   * saved in Graft's layout, with tensors under their Graft parameter names). The platform adds
   * {@code graft_methods}, the list of the job's methods with their bundle versions and options,
   * from which the adapter is loaded back; methods must not write that field.
   */
  Map<String, Object> adapterConfig();

  /**
   * Writes this method's tensors. The default writes every one of {@link AdapterWriter#tensors()}
   * under its own name; methods with reparameterising encoders (prefix tuning, P-tuning) fold them
   * away here, and a method whose trained weights belong in a model folder (full fine-tuning)
   * writes nothing.
   */
  default void save(AdapterWriter writer) {
    for (String name : writer.tensors()) {
      writer.write(name, writer.shape(name), writer.values(name));
    }
  }

  /**
   * Why the adapted model, before its first step, computes other outputs than the base model; empty
   * when it computes the same up to float32 rounding (LoRA: B starts at zero; PiSSA: W_res + s·B·A
   * rounds once). A method that changes the output from the start says how, in one sentence (prompt
   * tuning: "the virtual tokens ahead of the input change every output."; QLoRA: "W is replaced by
   * its NF4 quantisation."). The conformance matrix holds every method to its answer both ways:
   * empty, the logits at init equal the base model's; present, they differ. The default: empty.
   */
  default Optional<String> differenceAtInit() {
    return Optional.empty();
  }

  /** Whether {@link #merge} can fold the trained tensors into the base weights. */
  default boolean mergeable() {
    return false;
  }

  /**
   * Folds the adapter into the base weights, e.g. {@code W += (alpha/r) · B·A} for LoRA.
   *
   * @throws IllegalStateException for methods that cannot be merged (prompt learning)
   */
  default void merge(WeightEditor weights) {
    throw new IllegalStateException("This method cannot be merged into the base weights.");
  }

  /**
   * Takes the adapter back out of weights it was merged into, e.g. {@code W -= (alpha/r) · B·A}.
   *
   * @throws IllegalStateException for methods that cannot be merged
   */
  default void unmerge(WeightEditor weights) {
    throw new IllegalStateException("This method cannot be merged into the base weights.");
  }
}
