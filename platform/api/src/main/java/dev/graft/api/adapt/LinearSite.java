package dev.graft.api.adapt;

/**
 * One linear layer of the model that a method may target: {@code y = x·Wᵀ + b}.
 *
 * @param module Hugging Face module path, e.g. {@code model.layers.3.self_attn.q_proj}
 * @param layer the block index, or -1 outside the blocks (e.g. {@code lm_head})
 * @param inFeatures input width
 * @param outFeatures output width
 * @param weight name of the weight parameter
 * @param bias name of the bias parameter, or null when the layer has none
 * @param fanInFanOut whether W is stored as (in, out), as GPT-2's Conv1D does
 */
public record LinearSite(
    String module,
    int layer,
    int inFeatures,
    int outFeatures,
    String weight,
    String bias,
    boolean fanInFanOut) {
  /** The last path segment, e.g. {@code q_proj}. */
  public String suffix() {
    return module.substring(module.lastIndexOf('.') + 1);
  }
}
