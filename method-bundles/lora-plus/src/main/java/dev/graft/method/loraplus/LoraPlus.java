package dev.graft.method.loraplus;

import dev.graft.api.adapt.Adaptation;
import dev.graft.method.lora.spi.Lora;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * LoRA whose B matrices form a parameter group with {@code loraplus_lr_ratio} × the job's learning
 * rate, as PEFT's {@code create_loraplus_optimizer}: its group B holds every {@code lora_B} and
 * every 1-D trainable (here the biases the {@code bias} option trains, which get no weight decay);
 * A and everything else keep the job's rate. The model and the saved adapter are LoRA's.
 *
 * <p>PEFT also puts every parameter of a LoRA embedding layer into a group at the absolute rate
 * {@code loraplus_lr_embedding}. Graft adapts linear layers only, so no parameter would fall into
 * that group: the option is accepted and checked, and recorded with the adapter, so that PEFT and
 * Axolotl settings carry over unchanged.
 */
final class LoraPlus extends Lora {
  /** The group of the B matrices. */
  static final String B_GROUP = "loraplus_B";

  /** The group of the trained biases: B's rate, no weight decay. */
  static final String BIAS_GROUP = "loraplus_B_no_decay";

  private final LoraPlusConfig plus;

  LoraPlus(LoraPlusConfig config) {
    super(config.lora());
    this.plus = config;
  }

  @Override
  protected void adapted(Adaptation adaptation) {
    Set<String> bs = sites().stream().map(Site::b).collect(Collectors.toSet());
    adaptation.group(B_GROUP, bs::contains, plus.lrRatio(), plus.weightDecay());
    if (!config().bias().equals("none")) {
      adaptation.group(BIAS_GROUP, trainedBiases(), plus.lrRatio(), 0.0);
    }
  }
}
