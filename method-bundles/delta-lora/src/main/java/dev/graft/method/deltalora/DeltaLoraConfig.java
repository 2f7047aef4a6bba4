package dev.graft.method.deltalora;

import dev.graft.api.Options;
import dev.graft.method.lora.spi.LoraConfig;

/**
 * Delta-LoRA's settings, checked.
 *
 * @param lora the LoRA settings
 * @param lambda the update ratio λ: W moves by λ times the change of s·B·A
 * @param startStep the step K after which W starts to move, at least 0
 */
record DeltaLoraConfig(LoraConfig lora, double lambda, int startStep) {
  static DeltaLoraConfig of(Options o) {
    double lambda = o.getDouble("delta_lambda");
    if (!(lambda >= 0) || Double.isInfinite(lambda)) {
      throw new IllegalArgumentException(
          "delta_lambda must be a finite number of at least 0 (the paper uses 2), not "
              + lambda
              + ".");
    }
    int start = o.getInt("update_start_step");
    if (start < 0) {
      throw new IllegalArgumentException(
          "update_start_step must be 0 or more (0: W moves from the first step), not "
              + start
              + ".");
    }
    return new DeltaLoraConfig(LoraConfig.of(o), lambda, start);
  }
}
