package dev.graft.graph;

import dev.graft.graph.impl.Autodiff;
import dev.graft.graph.impl.OnnxLowering;
import java.util.Map;
import java.util.Set;

/**
 * A tensor graph under construction. Every op method checks dtypes and shapes at build time and
 * throws {@link IllegalArgumentException} naming the op and the offending shapes. Nodes are kept in
 * creation order, which is a topological order.
 *
 * <p>Sources are graph {@linkplain #input inputs} (fed per step), {@linkplain #parameter
 * parameters} (named weights, each frozen or trainable) and {@linkplain #constant constants}. Ops
 * are the primitives that lower one-to-one to ONNX ops (plus a few with a fixed small lowering,
 * such as the activations {@link #gelu} and {@link #silu} and the normalisations {@link #layerNorm}
 * and {@link #rmsNorm}), and composites built from them ({@link #crossEntropy}, {@link #rope},
 * ...), which are differentiated through their primitives.
 *
 * <p>{@link GraphOps} is the op-building part alone, the view a fine-tuning method gets. The class
 * is written in layers, one file per kind, each extending the one before: {@code GraphCore}
 * (declarations, outputs, {@link #replaceUses}, the node list), {@code ElementwiseOps}, {@code
 * ShapeOps} (shapes and indexing), {@code NnOps} (reductions, normalisations, activations, linear
 * algebra), {@code CompositeOps}, and this class, which differentiates and lowers.
 */
public final class Graph extends CompositeOps {
  /**
   * Reverse-mode gradients of a one-element {@code loss} with respect to every trainable parameter
   * it depends on. The backward ops are appended to this graph; only nodes that lie between a
   * trainable and the loss are differentiated, and frozen weights get no gradient.
   */
  public Map<Tensor, Tensor> gradients(Tensor loss) {
    return Autodiff.gradients(this, own(loss), trainables());
  }

  /**
   * The gradients of {@code scale · loss}, as {@link #gradients(Tensor)} computes them with the
   * backward pass started from {@code scale}, a scalar of this graph (a micro-step's weight in an
   * accumulated step), so that the forward graph needs no scaled copy of the loss.
   */
  public Map<Tensor, Tensor> gradients(Tensor loss, Tensor scale) {
    return Autodiff.gradients(this, own(loss), own(scale), trainables());
  }

  /**
   * This graph as ONNX {@code ModelProto} bytes (IR version 8, opset 17). Inputs and trainable
   * parameters become graph inputs, frozen parameters external-data initializers, constants inline
   * initializers, symbolic dimensions {@code dim_param}.
   */
  public byte[] toOnnx() {
    return toOnnx(Map.of());
  }

  /**
   * As {@link #toOnnx()}, with the frozen parameters named in {@code files} declared where their
   * bytes lie, so that the runtime reads them from those files (relative to the folder the backend
   * is given) instead of taking them from the caller.
   *
   * @throws IllegalArgumentException when a key is not a frozen parameter, or its length does not
   *     match the parameter's bytes
   */
  public byte[] toOnnx(Map<String, ExternalData> files) {
    return OnnxLowering.lower(this, files);
  }

  /**
   * As {@link #toOnnx(Map)}, with the frozen parameters named in {@code overridable} also graph
   * inputs: their initializers are defaults that a run may replace by feeding them, as ONNX
   * Runtime's LoRA adapters ({@code .onnx_adapter} files) do.
   *
   * @throws IllegalArgumentException as {@link #toOnnx(Map)}, or when a name in {@code overridable}
   *     is not a frozen parameter
   * @since 1.4
   */
  public byte[] toOnnx(Map<String, ExternalData> files, Set<String> overridable) {
    return OnnxLowering.lower(this, files, overridable);
  }
}
