package dev.graft.train.adapt;

import dev.graft.api.adapt.Adaptation;
import dev.graft.api.adapt.LinearSite;
import dev.graft.api.adapt.ModelSpec;
import dev.graft.api.adapt.QuantisedWeight;
import dev.graft.graph.Graph;
import dev.graft.graph.Tensor;
import java.util.List;
import java.util.Optional;

/** What {@link GraphAdaptation} needs from a model graph: its sites and its base weights. */
public interface AdaptableModel {
  Graph graph();

  ModelSpec spec();

  /** Every linear layer, in model order. */
  List<Linear> linears();

  /** One entry per transformer block. */
  List<Block> blocks();

  /** A base weight's values, row-major, as float32 (dequantised when stored 4-bit). */
  float[] weight(String parameter);

  /**
   * The checkpoint's 4-bit codes and scales of base weight {@code parameter}, declared as frozen
   * graph parameters fed from the checkpoint, as {@link Adaptation#quantised} says; empty for a
   * weight stored as floats. Called once per weight. The default: every weight is stored as floats.
   */
  default Optional<QuantisedWeight> quantised(String parameter) {
    return Optional.empty();
  }

  /**
   * Puts virtual tokens (n, d) ahead of the input, as {@link Adaptation#prependVirtualTokens} says.
   * The default: this model has no such site.
   */
  default void prependVirtualTokens(Tensor embeddings) {
    throw new IllegalArgumentException(
        "This model graph has no site for virtual tokens; prompt-learning methods cannot adapt it.");
  }

  /**
   * Adds a key/value prefix to block {@code layer}, as {@link Adaptation#addKeyValuePrefix} says.
   * The default: this model has no such site.
   */
  default void addKeyValuePrefix(int layer, Tensor keys, Tensor values) {
    throw new IllegalArgumentException(
        "This model graph has no site for key/value prefixes; prefix-tuning methods cannot adapt it.");
  }

  /**
   * A linear layer in the graph.
   *
   * @param site its description, as methods see it
   * @param input its input (…, in)
   * @param output its output (…, out), bias included
   */
  record Linear(LinearSite site, Tensor input, Tensor output) {}

  /**
   * A transformer block's insertion points: the attention and MLP outputs before their residual
   * additions, and the residual streams they are added to, all (B, T, d).
   *
   * @param attentionResidual the block's input, or null when the model does not give it
   * @param mlpResidual the stream after the attention's addition, or null likewise
   */
  record Block(
      int layer,
      Tensor attentionOutput,
      Tensor mlpOutput,
      Tensor attentionResidual,
      Tensor mlpResidual) {
    /** A block without residual streams: {@link Adaptation#insert} with a residual refuses it. */
    public Block(int layer, Tensor attentionOutput, Tensor mlpOutput) {
      this(layer, attentionOutput, mlpOutput, null, null);
    }
  }
}
