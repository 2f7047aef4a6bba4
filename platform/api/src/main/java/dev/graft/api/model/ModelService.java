package dev.graft.api.model;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.osgi.annotation.versioning.ProviderType;

/**
 * Inspects, runs, merges, exports and evaluates Hugging Face model folders and the adapter folders
 * that training writes. Every method checks its input first and throws {@link
 * IllegalArgumentException} with one sentence naming the folder, file or setting that is wrong: a
 * missing model or adapter folder, an unknown or unavailable backend, an adapter whose method is
 * not installed or that does not fit the model, data that is missing or holds no samples.
 */
@ProviderType
public interface ModelService {
  /**
   * Describes a model folder from its {@code config.json}, checkpoint and tokenizer files.
   *
   * @throws IllegalArgumentException when the folder is not a readable model folder, or its
   *     checkpoint does not fit its configuration
   */
  ModelSummary inspect(Path modelDir);

  /**
   * The sample format that {@link #generate} and {@link #evaluate} apply with these folders unless
   * their settings say {@code raw}: the {@code graft_sample_format.json} that a training job with a
   * formatting method (such as {@code instruction-tuning}) saved in the adapter folder, or, without
   * an adapter, in the model folder (a job's {@code model/}, or a folder {@link #merge} wrote).
   *
   * @param adapterDir an adapter folder, or null for the model alone
   * @return the file, or empty when prompts and samples go to the model as they are
   */
  Optional<Path> sampleFormat(Path modelDir, Path adapterDir);

  /**
   * Completes a prompt. The prompt is put in the saved {@link #sampleFormat} (unless {@link
   * GenerationSettings#raw()}), then encoded with the tokenizer's special tokens (e.g. BOS); the
   * completion ends at the model's end-of-sequence token, the format's stop text, or after {@link
   * GenerationSettings#maxNewTokens()} tokens.
   *
   * @param adapterDir an adapter folder to apply, or null for the base model
   * @return the generated text only, such that {@code prompt + result} is the whole text
   * @throws IllegalArgumentException as for every method, or when the prompt plus the new tokens
   *     exceed the model's context length
   */
  String generate(Path modelDir, Path adapterDir, String prompt, GenerationSettings settings);

  /**
   * Merges an adapter into the base weights and writes a Hugging Face model folder with the
   * tokenizer and configuration files of {@code modelDir}, and the adapter's (else the model's)
   * {@link #sampleFormat}, so that the merged model is prompted as the adapter was.
   *
   * @param outDir the folder to write; it must not exist, be empty, or be a model folder (which is
   *     replaced), and must not be the model or adapter folder
   * @return {@code outDir}, absolute
   * @throws IllegalArgumentException as for every method, or when the adapter's method cannot be
   *     merged
   */
  Path merge(Path modelDir, Path adapterDir, Path outDir);

  /**
   * Takes an adapter back out of a model it was merged into: the inverse of {@link #merge}, up to
   * rounding.
   *
   * @param modelDir a model folder written by {@link #merge} with this adapter
   * @return {@code outDir}, absolute
   * @throws IllegalArgumentException as {@link #merge}
   */
  Path unmerge(Path modelDir, Path adapterDir, Path outDir);

  /**
   * {@link #merge(Path, Path, Path)} for one task of an adapter conditioned on tasks (MoELoRA: the
   * task's gate folded into W, the paper's per-task deployment).
   *
   * @param task a task the adapter was trained for, or empty for an adapter without tasks
   * @throws IllegalArgumentException as {@link #merge(Path, Path, Path)}, or naming the known tasks
   *     when {@code task} is none of them
   * @since 1.2
   */
  default Path merge(Path modelDir, Path adapterDir, Path outDir, String task) {
    if (task.isEmpty()) {
      return merge(modelDir, adapterDir, outDir);
    }
    throw new UnsupportedOperationException("This model service merges no task adapters.");
  }

  /**
   * {@link #unmerge(Path, Path, Path)} for one task, the inverse of {@link #merge(Path, Path, Path,
   * String)}.
   *
   * @since 1.2
   */
  default Path unmerge(Path modelDir, Path adapterDir, Path outDir, String task) {
    if (task.isEmpty()) {
      return unmerge(modelDir, adapterDir, outDir);
    }
    throw new UnsupportedOperationException("This model service merges no task adapters.");
  }

  /**
   * Writes a model's generation graph, with an adapter applied, as an ONNX model that plain ONNX
   * Runtime runs with a key-value cache: {@code model.onnx} with its weights in {@code
   * model.onnx.data} (ONNX external data), {@code export.json} naming its inputs, outputs, cache
   * layout and special token ids, and the tokenizer and configuration files. An adapter whose
   * methods merge is merged into the weights; any other keeps its rewrite of the graph. The folder
   * holds the complete export or, after a failure, nothing.
   *
   * @param adapterDir an adapter folder to apply, or null for the base model
   * @param outDir the folder to write; it must not exist or be empty, must lie outside the model
   *     folder, and must not hold the adapter folder
   * @param onnxAdapter keep the adapter in the graph even where it merges, with its tensors as
   *     inputs whose defaults are its values, and write those values as ONNX Runtime's LoRA adapter
   *     file {@code adapter.onnx_adapter}, so that a server swaps in the file of another adapter of
   *     the same method and shape; needs {@code adapterDir}
   * @return {@code outDir}, absolute
   * @throws IllegalArgumentException as for every method, for an output folder that is not allowed,
   *     or for {@code onnxAdapter} without an adapter
   * @since 1.3
   */
  default Path export(Path modelDir, Path adapterDir, Path outDir, boolean onnxAdapter) {
    throw new UnsupportedOperationException("This model service exports no ONNX models.");
  }

  /**
   * {@link #export(Path, Path, Path, boolean)} for one task of an adapter conditioned on tasks: the
   * adapter is applied, merged or kept in the graph, as {@link #merge(Path, Path, Path, String)}
   * and {@link #generate} with {@link GenerationSettings#task()} apply it (MoELoRA: the task's gate
   * folded into W), and {@code export.json} names the task.
   *
   * @param task a task the adapter was trained for, or empty for an adapter without tasks
   * @throws IllegalArgumentException as {@link #export(Path, Path, Path, boolean)}, or naming the
   *     known tasks when {@code task} is none of them
   * @since 1.4
   */
  default Path export(
      Path modelDir, Path adapterDir, Path outDir, boolean onnxAdapter, String task) {
    if (task.isEmpty()) {
      return export(modelDir, adapterDir, outDir, onnxAdapter);
    }
    throw new UnsupportedOperationException("This model service exports no task adapters.");
  }

  /**
   * Writes a copy of a model folder whose linear weights are quantised to 4 bits as bitsandbytes
   * quantises them ({@code quantize_4bit}, blocks of 64), in bitsandbytes' serialised layout, with
   * a {@code quantization_config} in {@code config.json} and the tokenizer files; the other tensors
   * are copied as they are. A job, {@link #evaluate} and {@link #generate} accept the result as
   * their model. The folder is written under a temporary name, then renamed.
   *
   * @param quantType {@code nf4} or {@code fp4}
   * @param doubleQuant whether the block scales are quantised to 8 bits too
   * @param modules the linear layers to quantise (module names or suffixes, such as {@code
   *     q_proj}); empty: every linear layer except the output head
   * @return {@code outDir}, absolute
   * @throws IllegalArgumentException as for every method, for an unknown type, a module that
   *     matches no linear layer, an already quantised model, or an output folder that is not new,
   *     empty or a model folder
   * @since 1.3
   */
  default Path quantize(
      Path modelDir, Path outDir, String quantType, boolean doubleQuant, List<String> modules) {
    throw new UnsupportedOperationException("This model service does not quantise models.");
  }

  /**
   * The 4-bit type ({@code nf4}, {@code fp4}) in which a model folder that {@link #quantize} wrote
   * stores its linear weights, or empty for a folder of float weights.
   *
   * @throws IllegalArgumentException when the folder is not a readable model folder
   * @since 1.3
   */
  default Optional<String> quantisation(Path modelDir) {
    return Optional.empty();
  }

  /**
   * Evaluates a model, with or without an adapter, on a JSONL dataset: the mean cross-entropy over
   * the tokens training would learn (completions and assistant turns only, unless the settings say
   * otherwise), and for prompt/completion data the share of prompts whose greedy completion equals
   * the reference. Samples are rendered in the saved {@link #sampleFormat} (unless {@link
   * EvaluationSettings#raw()}) and cut as training cuts them.
   *
   * @param adapterDir an adapter folder to apply, or null for the base model
   * @param data a JSONL file, optionally gzip-compressed, in any format training reads
   * @throws IllegalArgumentException as for every method, or naming the file and line of a
   *     malformed sample
   */
  Evaluation evaluate(Path modelDir, Path adapterDir, Path data, EvaluationSettings settings);

  /**
   * Evaluates an adapter against the base model on preference pairs ({@code prompt}, {@code
   * chosen}, {@code rejected}, or hh-rlhf's two dialogues), as DPO trains: the sigmoid DPO loss
   * with {@code beta} and TRL's reward metrics. Each completion is closed by the end-of-text token,
   * which counts (as TRL appends it), and pairs are cut as training cuts them.
   *
   * @param adapterDir an adapter folder to apply, or null (then the model is its own reference: a
   *     loss of log 2 and rewards of 0)
   * @param data a JSONL file, optionally gzip-compressed
   * @return empty when the data's first sample is not a preference pair
   * @throws IllegalArgumentException as {@link #evaluate}, or for a beta that is not positive
   */
  java.util.Optional<PreferenceEvaluation> evaluatePreferences(
      Path modelDir, Path adapterDir, Path data, EvaluationSettings settings, double beta);
}
