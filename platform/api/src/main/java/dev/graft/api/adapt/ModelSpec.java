package dev.graft.api.adapt;

import java.util.List;

/**
 * The facts about a model that methods size themselves by.
 *
 * @param architecture Hugging Face architecture name, e.g. {@code LlamaForCausalLM}
 * @param hiddenSize model width d
 * @param layers number of transformer blocks
 * @param heads attention heads
 * @param keyValueHeads key/value heads (grouped-query attention); equals {@code heads} without GQA
 * @param headDim width of one head
 * @param intermediateSize MLP width
 * @param vocabSize vocabulary size
 * @param linearModules every linear module path in Hugging Face naming, e.g. {@code
 *     model.layers.0.self_attn.q_proj}
 * @param defaultTargets PEFT's default LoRA target suffixes for this architecture
 */
public record ModelSpec(
    String architecture,
    int hiddenSize,
    int layers,
    int heads,
    int keyValueHeads,
    int headDim,
    int intermediateSize,
    int vocabSize,
    List<String> linearModules,
    List<String> defaultTargets) {
  /** Copies the lists. */
  public ModelSpec {
    linearModules = List.copyOf(linearModules);
    defaultTargets = List.copyOf(defaultTargets);
  }
}
