package dev.graft.api.model;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * What a model folder holds.
 *
 * @param architecture the Hugging Face architecture, e.g. {@code LlamaForCausalLM}
 * @param modelType {@code model_type}, e.g. {@code llama}
 * @param parameters weights of the architecture (tied embeddings counted once; buffers such as
 *     GPT-2's attention masks not counted)
 * @param dtypes safetensors dtype (e.g. {@code F32}, {@code BF16}) → how many of the weights are
 *     stored in it, in the order first met
 * @param vocabularySize {@code vocab_size}
 * @param contextLength the longest sequence the positions support ({@code max_position_embeddings})
 * @param layers decoder blocks
 * @param hiddenSize width of the residual stream
 * @param attentionHeads query heads
 * @param keyValueHeads key/value heads (fewer than query heads with grouped-query attention)
 * @param chatTemplate whether the tokenizer files carry a chat template
 * @param tiedEmbeddings whether the output projection reuses the input embedding
 */
public record ModelSummary(
    String architecture,
    String modelType,
    long parameters,
    Map<String, Count> dtypes,
    int vocabularySize,
    int contextLength,
    int layers,
    int hiddenSize,
    int attentionHeads,
    int keyValueHeads,
    boolean chatTemplate,
    boolean tiedEmbeddings) {

  /**
   * Weights stored in one dtype.
   *
   * @param tensors how many tensors
   * @param parameters how many elements they hold together
   */
  public record Count(int tensors, long parameters) {}

  /** Copies the dtype map, keeping its order. */
  public ModelSummary {
    Objects.requireNonNull(architecture, "architecture");
    Objects.requireNonNull(modelType, "modelType");
    dtypes = Collections.unmodifiableMap(new LinkedHashMap<>(dtypes));
  }
}
