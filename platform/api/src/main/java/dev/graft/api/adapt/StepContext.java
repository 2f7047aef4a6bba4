package dev.graft.api.adapt;

import org.osgi.annotation.versioning.ProviderType;

/** What a {@link StepHook} sees and may change between steps. */
@ProviderType
public interface StepContext {
  /** Optimizer steps done so far (1 after the first step). */
  long step();

  /** Optimizer steps the job will make in all. */
  long totalSteps();

  /** The current values of a parameter (trainable or frozen), row-major. */
  float[] read(String parameter);

  /** Overwrites a parameter, e.g. a frozen W for Delta-LoRA or a masked AdaLoRA E. */
  void write(String parameter, float[] values);

  /** The last step's value of an extra output declared with {@link Adaptation#output}. */
  float[] output(String name);
}
