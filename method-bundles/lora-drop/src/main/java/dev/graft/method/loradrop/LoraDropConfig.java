package dev.graft.method.loradrop;

import dev.graft.api.Options;
import dev.graft.method.lora.spi.LoraConfig;

/**
 * LoRA-drop's settings, checked.
 *
 * @param lora the LoRA settings
 * @param ratio the share of the summed importance that the layers keeping their own LoRA cover, in
 *     (0, 1]
 * @param samples the training batches the importance is measured on, at least 1
 * @param warmup the steps of plain LoRA training before the measurement, at least 1
 */
record LoraDropConfig(LoraConfig lora, double ratio, int samples, int warmup) {
  static LoraDropConfig of(Options o) {
    double ratio = o.getDouble("lora_drop_ratio");
    if (!(ratio > 0 && ratio <= 1)) {
      throw new IllegalArgumentException(
          "lora_drop_ratio must be above 0 and at most 1 (the paper uses 0.9), not " + ratio + ".");
    }
    int samples = o.getInt("lora_drop_samples");
    if (samples < 1) {
      throw new IllegalArgumentException(
          "lora_drop_samples must be at least 1 batch, not " + samples + ".");
    }
    int warmup = o.getInt("lora_drop_warmup_steps");
    if (warmup < 1) {
      throw new IllegalArgumentException(
          "lora_drop_warmup_steps must be at least 1 (B starts at 0, so without training every"
              + " importance is 0), not "
              + warmup
              + ".");
    }
    return new LoraDropConfig(LoraConfig.of(o), ratio, samples, warmup);
  }
}
