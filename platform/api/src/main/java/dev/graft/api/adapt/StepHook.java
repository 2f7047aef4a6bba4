package dev.graft.api.adapt;

import org.osgi.annotation.versioning.ConsumerType;

/**
 * Runs on the host between optimizer steps, at the cadence it was registered with ({@link
 * Adaptation#onStep(StepHook, int)}): AdaLoRA's budget schedule and masking, Delta-LoRA's update of
 * its frozen factors. State a hook must keep across a resume belongs in an {@link Adaptation#state}
 * tensor, which checkpoints carry.
 */
@FunctionalInterface
@ConsumerType
public interface StepHook {
  /** Called after an optimizer step, before the next batch. */
  void afterStep(StepContext context);
}
