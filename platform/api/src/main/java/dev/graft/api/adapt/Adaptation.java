package dev.graft.api.adapt;

import dev.graft.api.backend.HostTensor;
import dev.graft.graph.GraphOps;
import dev.graft.graph.Tensor;
import java.util.List;
import java.util.Optional;
import java.util.function.BinaryOperator;
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

  /**
   * Whether this graph applies a saved adapter (evaluation, generation, merging, or a job that
   * continues training from one with the job key {@code adapter}) rather than starts one. A method
   * that saves other tensors than it trains — prefix tuning and P-tuning fold their
   * reparameterising encoder into the table they save — declares the saved tensors when this is
   * true (in a job they then train as they are). The default, for implementations that only train,
   * is false.
   *
   * @since 2.1
   */
  default boolean loadingAdapter() {
    return false;
  }

  /**
   * The shape that the saved adapter this graph applies ({@link #loadingAdapter()}) holds for
   * {@code parameter} (its full Graft name), or empty: when training, and for a tensor the adapter
   * lacks. For methods whose saved sizes vary by module: AdaLoRA's pruned ranks (PEFT's {@code
   * rank_pattern}) are the row counts of its saved {@code lora_A}. The default is empty.
   *
   * @since 2.2
   */
  default Optional<long[]> savedShape(String parameter) {
    return Optional.empty();
  }

  /**
   * The token ids of {@code text} under the model's tokenizer, as Hugging Face's {@code
   * tokenizer(text)["input_ids"]} gives them: with the tokenizer's special tokens (such as BOS)
   * when {@code specialTokens}. Prompt tuning's TEXT initialisation reads it; training graphs have
   * the tokenizer, graphs that apply a saved adapter need not.
   *
   * @throws IllegalStateException when this graph was built without the model's tokenizer
   * @since 2.1
   */
  default int[] encode(String text, boolean specialTokens) {
    throw new IllegalStateException("This graph was built without the model's tokenizer.");
  }

  /**
   * The forward graph's ops: methods add ops to it inside their rewrites. Parameters, inputs,
   * outputs, rewiring and what trains go through this interface's own methods.
   */
  GraphOps graph();

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

  /**
   * Declares a frozen tensor whose values the method computed, of any element type the backend runs
   * (FLOAT32, BFLOAT16, INT8, UINT8 for packed 4-bit codes, INT64, …): PiSSA's residual W, QLoRA's
   * NF4 codes and scales, DoRA's ‖W‖². The backend holds it once, as an initialiser of the step
   * program (its bytes cost their size in the backend; the platform drops its own reference once
   * the session has opened, so the method should not keep one either). Neither checkpoints nor
   * adapters carry it: the method computes it again (the same values, from the weights or a fixed
   * seed) whenever the graph is built — on resume, and when an adapter is loaded. A frozen tensor
   * that cannot be computed again, such as LoRA-FA's random A, is a {@link #parameter} declared
   * with {@code trainable = false}: it is fed the same way and saved with the adapter. Its full
   * name is {@code owner + "." + name}.
   *
   * @param values the values, row-major; the shape of the tensor is theirs
   * @throws IllegalArgumentException if the name is taken
   */
  Tensor frozen(String owner, String name, HostTensor values);

  /**
   * Declares state that is not trained but carried from step to step and written by {@link
   * StepHook}s (Delta-LoRA's B_K·A_K factors, AdaLoRA's importance averages, masks). It is an input
   * of every step that the backend keeps between runs (one copy per step, as the optimizer's
   * moments); checkpoints save it and resume restores it, so hooks that keep their state here
   * resume exactly.
   *
   * @param initial the value at the first step; the state keeps its dtype and shape
   * @throws IllegalArgumentException if the name is taken
   */
  Tensor state(String owner, String name, HostTensor initial);

  /**
   * Makes the gradient of trainable {@code parameter} readable by step hooks through {@link
   * StepContext#gradient} (AdaLoRA's sensitivity |p·∂L/∂p|): the step outputs it on the steps a
   * hook runs, averaged over accumulated micro-steps and clipped as the optimizer saw it.
   *
   * @throws IllegalArgumentException at job start if {@code parameter} is not trainable
   */
  void exposeGradient(String parameter);

  /**
   * A parameter or state tensor of the graph by its full name — one of the model's own, or one a
   * method declared with {@link #parameter}, {@link #frozen} or {@link #state} — for a method whose
   * rewrite reads tensors declared elsewhere (Delta-LoRA's term over LoRA's A and B). The default,
   * for implementations without named lookup, refuses.
   *
   * @throws IllegalArgumentException for a name the graph has no parameter or state of
   * @since 2.2
   */
  default Tensor tensor(String name) {
    throw new UnsupportedOperationException("This adaptation cannot look tensors up by name.");
  }

  /** The names of every parameter: the model's own and those methods declared. */
  List<String> parameters();

  /**
   * A base weight's values as stored, row-major (e.g. W for PiSSA's SVD or QLoRA's quantiser), also
   * after another method replaced it in the graph.
   */
  float[] weight(String parameter);

  /**
   * The 4-bit form in which the checkpoint stores base weight {@code parameter} (a folder that
   * {@code graft:quantize} wrote), its codes and scales declared as frozen tensors that the
   * platform feeds from the checkpoint as stored (packed bytes, never floats); empty for a weight
   * stored as floats. A method that replaces the weight by its dequantisation (QLoRA) reads it
   * instead of quantising {@link #weight} itself. Without such a method the weight stays in the
   * graph as floats, dequantised when the job starts, and {@link #weight} always gives it
   * dequantised. The default: no weight is stored quantised.
   *
   * @throws IllegalArgumentException if the model has no such parameter
   * @since 2.3
   */
  default Optional<QuantisedWeight> quantised(String parameter) {
    return Optional.empty();
  }

  /**
   * A model parameter as the graph tensor that ops read, for rewrites that compute with a base
   * weight rather than the layer's output: DoRA's row norm of W + s·B·A and the layer's bias. It is
   * the weight as stored ((out, in), or (in, out) with {@link LinearSite#fanInFanOut}); after
   * {@link #replaceWeight} it is the replacement, and a later replacement rewires these reads too.
   *
   * @throws IllegalArgumentException if the model has no such parameter
   * @throws UnsupportedOperationException from implementations before 2.2
   * @since 2.2
   */
  default Tensor weightTensor(String parameter) {
    throw new UnsupportedOperationException("This Adaptation cannot hand out weight tensors.");
  }

  /**
   * Makes the parameters whose names match trainable or frozen. Returns how many matched. Integer
   * tensors and {@link #frozen} tensors never become trainable (a broad predicate skips them).
   *
   * @throws IllegalArgumentException when asked to train a weight another method has replaced
   *     ({@link #replaceWeight}): one sentence naming both methods
   */
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
   * A weight is replaced once: a second method replacing it, or replacing a weight another method
   * made trainable, is refused in one sentence naming both.
   */
  void replaceWeight(String parameter, Tensor replacement);

  /**
   * Inserts {@code module} (shape (B, T, d) → (B, T, d)) at {@code point} of block {@code layer}.
   */
  void insert(InsertionPoint point, int layer, UnaryOperator<Tensor> module);

  /**
   * Inserts {@code module} at {@code point} of block {@code layer}, as {@link
   * #insert(InsertionPoint, int, UnaryOperator)} does, and also hands it the residual stream the
   * branch is added to: {@code module.apply(branch, residual)} returns the new branch (B, T, d),
   * and the block still computes {@code residual + branch}. AdapterHub's Pfeiffer adapter ({@code
   * seq_bn}) reads both: {@code branch + f(branch + residual)}. The residual is the block's input
   * for {@link InsertionPoint#AFTER_ATTENTION} and the stream after the attention's addition for
   * {@link InsertionPoint#AFTER_MLP}; it sees earlier insertions at the attention point. The
   * default, for implementations without the residual, refuses.
   *
   * @param module (branch, residual) to the new branch, all (B, T, d)
   * @throws IllegalArgumentException for a block the model lacks, or when this graph has no
   *     residual streams to give
   * @since 2.2
   */
  default void insert(InsertionPoint point, int layer, BinaryOperator<Tensor> module) {
    throw new IllegalArgumentException(
        "This model graph does not give modules the residual stream; insert a module of the branch"
            + " alone.");
  }

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

  /**
   * Declares an extra per-sample input (MoELoRA's task id): the integer field {@code name} of each
   * data line, fed per token as INT64 of shape (B, T) (every token of a sample carries its sample's
   * value, so packed rows that mix samples stay right; padding carries 0). A data line without the
   * field is an error when the job starts. Calling it again with the same name returns the same
   * tensor.
   */
  Tensor input(String name);

  /**
   * Declares a per-sample input as {@link #input(String)} does, whose data field may also hold one
   * of {@code labels} as text (MoELoRA's task names): a label is fed as its index in {@code
   * labels}, an integer as it is; a text that is no label stops the job at its start, listing the
   * labels. The default ignores the labels.
   *
   * @throws IllegalArgumentException when the input was declared with other labels
   * @since 2.2
   */
  default Tensor input(String name, List<String> labels) {
    return input(name);
  }

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

  /** Runs {@code hook} on the host after every optimizer step: {@code onStep(hook, 1)}. */
  default void onStep(StepHook hook) {
    onStep(hook, 1);
  }

  /**
   * Runs {@code hook} on the host after every {@code every}-th optimizer step of a phase and once
   * when a phase ends ({@link StepContext#phaseEnd()}); {@code every = 0} runs it at phase ends
   * only. The step driver runs one optimizer step per backend run, so every cadence is exact; a
   * future multi-step run (CUDA's ONNX {@code Loop}) must end its chunks on the steps hooks run.
   *
   * @throws IllegalArgumentException if {@code every} is negative
   */
  void onStep(StepHook hook, int every);

  /**
   * Asks for a calibration phase before training (LoRA-drop): the run trains this graph for {@code
   * warmupSteps} steps (0: none), calls {@link MethodInstance#calibrate} with the trained values
   * and the declared {@link #output}s over sample batches, then builds the graph again — calling
   * every method's {@link MethodInstance#adapt} once more on a fresh model, where the method
   * applies what it chose — and trains that graph from its initial values. A resumed job replays
   * the calibration's results from its checkpoint instead of running the phase again.
   *
   * @throws IllegalArgumentException if {@code warmupSteps} is negative
   */
  void calibration(int warmupSteps);
}
