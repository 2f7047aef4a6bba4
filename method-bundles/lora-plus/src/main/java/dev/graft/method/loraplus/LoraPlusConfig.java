package dev.graft.method.loraplus;

import dev.graft.api.Options;
import dev.graft.method.lora.spi.LoraConfig;

/**
 * LoRA+'s settings, checked.
 *
 * @param lora the LoRA settings
 * @param lrRatio B's learning rate over A's, positive
 * @param lrEmbedding the learning rate of embedding LoRA, at least 0 (accepted, not used)
 * @param weightDecay B's weight decay, at least 0
 */
record LoraPlusConfig(LoraConfig lora, double lrRatio, double lrEmbedding, double weightDecay) {
  static LoraPlusConfig of(Options o) {
    double ratio = o.getDouble("loraplus_lr_ratio");
    if (!(ratio > 0) || Double.isInfinite(ratio)) {
      throw new IllegalArgumentException(
          "loraplus_lr_ratio must be a positive number (the paper uses 2 to 16), not "
              + ratio
              + ".");
    }
    return new LoraPlusConfig(
        LoraConfig.of(o),
        ratio,
        atLeastZero(o, "loraplus_lr_embedding"),
        atLeastZero(o, "loraplus_weight_decay"));
  }

  private static double atLeastZero(Options o, String option) {
    double v = o.getDouble(option);
    if (!(v >= 0) || Double.isInfinite(v)) {
      throw new IllegalArgumentException(
          option + " must be a finite number of at least 0, not " + v + ".");
    }
    return v;
  }
}
