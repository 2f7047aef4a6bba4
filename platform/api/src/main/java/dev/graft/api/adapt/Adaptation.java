package dev.graft.api.adapt;

import dev.graft.graph.Graph;
import dev.graft.graph.Tensor;
import java.util.List;
import java.util.function.Predicate;
import java.util.function.UnaryOperator;
import org.osgi.annotation.versioning.ProviderType;

/**
 * The platform's toolbox for a method that adapts one model graph. Every call is checked when it is
 * made: unknown names, shape mismatches and conflicting rewrites throw {@link
 * IllegalArgumentException} naming the module or parameter.
 */
@ProviderType
public interface Adaptation {
  /** Facts about the model being adapted. */
  ModelSpec model();

  /** The forward graph; methods add ops to it inside their rewrites. */
  Graph graph();

  /**
   * The linear layers that {@code targets} selects.
   *
   * @throws IllegalArgumentException if a named target matches no module, listing the module
   *     suffixes the model has
   */
  List<LinearSite> linears(TargetSpec targets);

  /**
   * Declares a new parameter. Its full name is {@code owner + "." + name} (for LoRA: {@code
   * model.layers.0.self_attn.q_proj.lora_A.weight}), which is also its key in the saved adapter.
   *
   * @param owner module path the parameter belongs to, or empty for model-level parameters
   * @param name the parameter's name under its owner
   * @param shape its shape
   * @param init how it starts
   * @param trainable whether the optimizer updates it
   */
  Tensor parameter(String owner, String name, long[] shape, Init init, boolean trainable);

  /** The names of every parameter: the model's own and those methods declared. */
  List<String> parameters();

  /** A base weight's current values, row-major (e.g. W for PiSSA's SVD or QLoRA's quantiser). */
  float[] weight(String parameter);

  /** Makes the parameters whose names match trainable or frozen. Returns how many matched. */
  int setTrainable(Predicate<String> parameters, boolean trainable);

  /**
   * Dropout with probability {@code p} while training, the identity in evaluation and generation.
   * The platform seeds each call site differently and each step anew, from the job's seed.
   */
  Tensor dropout(Tensor x, double p);

  /** Rewrites a linear layer's output; rewrites of one site compose in call order. */
  void rewriteLinear(LinearSite site, LinearRewrite rewrite);

  /**
   * Replaces a base weight by a subgraph of the same shape and dtype that computes it, e.g. W_res =
   * W − s·B·A (PiSSA) or NF4 dequantisation (QLoRA). The original weight is dropped from the graph.
   */
  void replaceWeight(String parameter, Tensor replacement);

  /**
   * Inserts {@code module} (shape (B, T, d) → (B, T, d)) at {@code point} of block {@code layer}.
   */
  void insert(InsertionPoint point, int layer, UnaryOperator<Tensor> module);

  /** Prepends virtual tokens to the input embeddings; {@code embeddings} has shape (n, d). */
  void prependVirtualTokens(Tensor embeddings);

  /**
   * Adds trainable key/value prefixes to the attention of block {@code layer}; each has shape (n,
   * keyValueHeads · headDim), before rotary embedding.
   */
  void addKeyValuePrefix(int layer, Tensor keys, Tensor values);

  /**
   * Puts the matching trainables into a parameter group with its own learning-rate factor and
   * weight decay (LoRA+: B gets {@code loraplus_lr_ratio} times the base rate).
   */
  void group(
      String name, Predicate<String> parameters, double learningRateScale, double weightDecay);

  /**
   * Declares an extra per-sample input (MoELoRA's task id): the integer field {@code name} of each
   * data line, fed per token as INT64 of shape (B, T) (every token of a sample carries its sample's
   * value, so packed rows that mix samples stay right; padding carries 0). A data line without the
   * field is an error when the job starts. Calling it again with the same name returns the same
   * tensor.
   */
  Tensor input(String name);

  /** Adds {@code weight · term} (a scalar) to the loss (AdaLoRA's orthogonality regulariser). */
  void addLoss(String name, Tensor term, double weight);

  /**
   * Replaces the default next-token cross-entropy (DPO); the objective also chooses the batch
   * layout (pairs for a pairwise objective). At most one method per job may set it.
   *
   * @throws IllegalArgumentException when another method of the job already set one
   */
  void objective(Objective objective);

  /**
   * Sets how training samples become text and which of it the loss learns (instruction tuning's
   * templates and response-only loss; DPO's pairs). At most one method per job may set it.
   *
   * @throws IllegalArgumentException when another method of the job already set one
   */
  void sampleFormat(SampleFormat format);

  /** Makes a tensor's value available to step hooks and calibration under {@code name}. */
  void output(String name, Tensor tensor);

  /** Runs {@code hook} on the host after every optimizer step. */
  void onStep(StepHook hook);
}
