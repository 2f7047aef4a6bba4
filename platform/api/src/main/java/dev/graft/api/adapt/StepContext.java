package dev.graft.api.adapt;

import org.osgi.annotation.versioning.ProviderType;

/**
 * What a {@link StepHook} sees and may change between steps. Values are read from and written to
 * the backend's session: a read copies the tensor to the host, a write copies it in before the next
 * step.
 */
@ProviderType
public interface StepContext {
  /** The phase running: {@code "warmup"} (before a calibration) or {@code "train"}. */
  String phase();

  /** Optimizer steps of this phase done so far (1 after its first step). */
  long step();

  /** Optimizer steps the phase makes in all. */
  long totalSteps();

  /** Whether the phase has just made its last step (hooks run once more then). */
  boolean phaseEnd();

  /**
   * The current values of a float32 parameter or state (trainable, frozen, or declared with {@link
   * Adaptation#state}), row-major.
   *
   * @throws IllegalArgumentException for an unknown name or a tensor of another dtype
   */
  float[] read(String parameter);

  /**
   * Overwrites a trainable or a float32 {@link Adaptation#state} (a masked AdaLoRA E, Delta-LoRA's
   * factors); the shape stays.
   *
   * @throws IllegalArgumentException for a frozen tensor (declare it as state to write it), an
   *     unknown name, or a wrong length
   */
  void write(String parameter, float[] values);

  /**
   * The last step's value of an extra output declared with {@link Adaptation#output}.
   *
   * @throws IllegalArgumentException for an undeclared name
   */
  float[] output(String name);

  /**
   * The last step's gradient of a trainable declared with {@link Adaptation#exposeGradient}.
   *
   * @throws IllegalArgumentException for a parameter whose gradient was not exposed
   */
  float[] gradient(String parameter);
}
