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

  /**
   * Puts {@code n} virtual tokens ahead of every row's input (prompt tuning, P-tuning), as PEFT
   * concatenates {@code prompt_embeddings} before the input embeddings. The virtual tokens take
   * positions 0..n-1 and attend to each other causally; every input token attends to all of them
   * (with packing, every sample of the row; padding does not hide them), and the input's positions
   * move up by n (the data keeps counting them from 0). The model's inputs, logits and labels keep
   * the input's shape: virtual positions have no logits and no loss. In generation the cache holds
   * the input tokens only. Each run computes the virtual tokens' keys and values in a pass of their
   * own through the blocks (they do not depend on the input); that pass sees the base weights (and
   * weights replaced before this call) but not linear rewrites, insertions or key/value prefixes.
   *
   * @param embeddings (n, d) in the compute type, d the hidden size; usually a trainable {@link
   *     #parameter} or an encoder's output (P-tuning), the same for every row
   * @throws IllegalArgumentException for another shape or dtype
   */
  void prependVirtualTokens(Tensor embeddings);

  /**
   * Makes every query of block {@code layer} attend to {@code n} more keys and values ahead of the
   * input's own (prefix tuning, P-tuning v2): PEFT's {@code past_key_values} for that layer, which
   * Hugging Face reads as cached keys and values. Keys are taken as they are, after rotary
   * embedding as the cache holds them: they are not rotated (a prefix equal to the model's own
   * cached keys and values of some tokens acts exactly as those tokens ahead of the input). The
   * prefix is visible to every query whatever the causal, padding or packing mask, and the input's
   * positions move up by the longest prefix over the layers, as Hugging Face counts positions after
   * {@code past_key_values}. In generation the prefix is not part of the cache: every run attends
   * to it beside the cached tokens. Several calls for one layer add up.
   *
   * @param keys (n, keyValueHeads · headDim) in the compute type, the heads laid out as {@code
   *     k_proj}'s output: PEFT's per-layer key (batch, keyValueHeads, n, headDim) of one row,
   *     transposed to (n, keyValueHeads, headDim) and flattened
   * @param values (n, keyValueHeads · headDim), the same layout
   * @throws IllegalArgumentException for a block the model lacks, or tensors of another shape or
   *     dtype
   */
  void addKeyValuePrefix(int layer, Tensor keys, Tensor values);

  /**
   * Puts the matching trainables into a parameter group with its own learning-rate factor and
   * weight decay (LoRA+: B gets {@code loraplus_lr_ratio} times the base rate).
   */
  void group(
      String name, Predicate<String> parameters, double learningRateScale, double weightDecay);

  /** Declares an extra per-batch input that the dataset supplies (MoELoRA's task id), shape (B). */
  Tensor input(String name);

  /** Adds {@code weight · term} (a scalar) to the loss (AdaLoRA's orthogonality regulariser). */
  void addLoss(String name, Tensor term, double weight);

  /** Replaces the default next-token objective (DPO). */
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
