package dev.graft.method.lorafa;

import dev.graft.method.lora.spi.Lora;
import dev.graft.method.lora.spi.LoraConfig;

/**
 * LoRA with A frozen at its random initialisation and only B trained (Zhang et al. 2023): A is a
 * frozen tensor of the step program, so it gets no gradient and no optimizer moments, and the
 * backward keeps no input activations for A's gradient. The adapter is PEFT's LoRA layout with A
 * saved (PEFT needs it to load); merging and unmerging are LoRA's.
 *
 * <p>PEFT's {@code create_lorafa_optimizer} also projects B's gradient through {@code (A·Aᵀ)⁻¹ /
 * s²} (the paper's v2); this is the paper's v1, plain AdamW on B.
 */
final class LoraFa extends Lora {
  LoraFa(LoraConfig config) {
    super(config);
  }

  @Override
  protected boolean trainsA() {
    return false;
  }
}
