package dev.graft.api.adapt;

import org.osgi.annotation.versioning.ConsumerType;

/**
 * Runs on the host between optimizer steps: AdaLoRA's budget schedule and masking, Delta-LoRA's
 * update of the frozen weight from the change of A·B.
 */
@FunctionalInterface
@ConsumerType
public interface StepHook {
  /** Called after each optimizer step, before the next batch. */
  void afterStep(StepContext context);
}
