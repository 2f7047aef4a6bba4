package dev.graft.model;

import dev.graft.api.backend.HostTensor;
import dev.graft.api.backend.Program;
import dev.graft.api.progress.Progress;
import dev.graft.graph.DType;
import dev.graft.graph.ExternalData;
import dev.graft.graph.Graph;
import dev.graft.graph.Shape;
import dev.graft.graph.Tensor;
import dev.graft.model.impl.Decoder;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The forward graph of a Hugging Face causal language model (Llama, Mistral, Qwen2, GPT-2), built
 * from its {@link ModelConfig} with {@link Graph} ops, and the places where fine-tuning methods
 * attach: every linear layer and the two residual branches of every block.
 *
 * <p>Parameters are named as the checkpoint names its tensors (e.g. {@code
 * model.layers.0.self_attn.q_proj.weight}, GPT-2 with the {@code transformer.} prefix) and are all
 * frozen; methods decide what trains. The graph declares one output, {@code logits}.
 *
 * <p>{@link #build} makes the training and evaluation graph: inputs {@code input_ids}, {@code
 * position_ids} and {@code segment_ids}, INT64 (batch, seq); logits (batch, seq, vocab). Token i
 * attends to token j iff {@code j <= i} and {@code segment_ids[i] == segment_ids[j] != 0}, so one
 * row can pack several samples (positions restarting at 0 for each) and segment 0 marks padding,
 * left or right. Rows that are all padding produce finite values.
 *
 * <p>{@link #buildWithCache} makes the generation graph with a key-value cache (see {@link
 * #kvCache()}).
 *
 * <p>Both take key/value prefixes ({@link #addKeyValuePrefix}) and virtual tokens ({@link
 * #prependVirtualTokens}) after they are built; inputs and outputs keep their shapes.
 */
public final class ModelGraph {
  /** The name of the logits output. */
  public static final String LOGITS = "logits";

  /**
   * A linear layer.
   *
   * @param module Hugging Face module path, e.g. {@code model.layers.0.self_attn.q_proj}, {@code
   *     lm_head} or GPT-2's {@code transformer.h.0.attn.c_attn}
   * @param layer the block index, or -1 outside the blocks ({@code lm_head})
   * @param input the layer's input (…, in)
   * @param output the layer's result (…, out), bias included
   * @param weight the weight, (out, in), or (in, out) when {@code fanInFanOut}
   * @param bias the bias (out), or null
   * @param fanInFanOut true for GPT-2's Conv1D, which stores W as (in, out) and computes {@code x W
   *     + b}
   */
  public record Linear(
      String module,
      int layer,
      Tensor input,
      Tensor output,
      Tensor weight,
      Tensor bias,
      boolean fanInFanOut) {}

  /**
   * The residual branches of one transformer block, each (batch, seq, hidden) and added to the
   * residual stream by its only use, so that replacing its uses ({@link Graph#replaceUses}) inserts
   * a module into the model.
   *
   * @param layer the block index
   * @param attentionOutput the attention output projection's result, before the residual add
   * @param mlpOutput the MLP down projection's result, before the residual add
   * @param attentionResidual the residual stream the attention output is added to: the block's
   *     input
   * @param mlpResidual the residual stream the MLP output is added to: the block's input plus the
   *     attention output
   */
  public record Block(
      int layer,
      Tensor attentionOutput,
      Tensor mlpOutput,
      Tensor attentionResidual,
      Tensor mlpResidual) {
    /**
     * A block whose residual streams are not known (null).
     *
     * @deprecated since 1.2: give the residual streams, which Pfeiffer adapters read
     */
    @Deprecated
    public Block(int layer, Tensor attentionOutput, Tensor mlpOutput) {
      this(layer, attentionOutput, mlpOutput, null, null);
    }
  }

  private final ModelConfig config;
  private final DType computeType;
  private final Decoder.Built built;

  /** Parameters declared by {@link #storedTensor}: parameter name → checkpoint tensor name. */
  private final Map<String, String> stored = new LinkedHashMap<>();

  private ModelGraph(ModelConfig config, DType computeType, boolean cached) {
    this.config = config;
    this.computeType = computeType;
    this.built = Decoder.build(config, computeType, cached);
  }

  /**
   * The training and evaluation graph, with symbolic {@code batch} and {@code seq}.
   *
   * @param computeType the dtype of weights and activations (FLOAT32, FLOAT64, FLOAT16, BFLOAT16);
   *     half-precision graphs compute norms and softmax in float32, as Hugging Face does
   * @throws IllegalArgumentException for a non-float compute type or an unsupported {@code
   *     hidden_act}
   */
  public static ModelGraph build(ModelConfig config, DType computeType) {
    return new ModelGraph(config, computeType, false);
  }

  /**
   * The generation graph. Inputs: {@code input_ids} and {@code position_ids} (batch, seq) of the
   * new tokens; {@code cache_position} (seq), the cache slot of each new token; {@code
   * attention_mask} (batch, cache), 1 where a slot holds a real token and 0 for padding; and per
   * layer i {@code past_key_values.i.key} and {@code .value} (batch, cache, kv_heads, head_dim),
   * zeros in the slots not yet written. Outputs: {@code present.i.key} and {@code .value}, the
   * cache with the new tokens' keys (after RoPE) and values written into their slots, and {@code
   * logits} (batch, vocab) of the last new token. A new token attends to the slots up to its own
   * that the mask marks real. {@link #segmentIds()} is null.
   *
   * @throws IllegalArgumentException as {@link #build}
   */
  public static ModelGraph buildWithCache(ModelConfig config, DType computeType) {
    return new ModelGraph(config, computeType, true);
  }

  /** The graph under construction; methods rewrite it. */
  public Graph graph() {
    return built.graph();
  }

  /** The configuration the graph was built from. */
  public ModelConfig config() {
    return config;
  }

  /** INT64 (batch, seq), the input {@code input_ids}. */
  public Tensor inputIds() {
    return built.inputIds();
  }

  /** INT64 (batch, seq), the input {@code position_ids}. */
  public Tensor positionIds() {
    return built.positionIds();
  }

  /**
   * INT64 (batch, seq), the input {@code segment_ids}: equal non-zero ids mark the tokens of one
   * sample, 0 padding. Null in the generation graph.
   */
  public Tensor segmentIds() {
    return built.segmentIds();
  }

  /**
   * The output {@code logits} in the compute type: (batch, seq, vocab), or (batch, vocab) in the
   * generation graph.
   */
  public Tensor logits() {
    return built.logits();
  }

  /**
   * Makes every query of block {@code layer} attend to {@code n} more keys and values, ahead of the
   * input's own: PEFT's prefix tuning, whose {@code past_key_values} Hugging Face reads as cached
   * keys (after RoPE, so they are not rotated) and values. The prefix is visible to every query,
   * whatever the causal, padding, packing or cache mask says. Positions of the input move up by the
   * longest prefix over the layers ({@link #prefixLength}), as Hugging Face counts positions after
   * {@code past_key_values}: {@code position_ids} keep counting the input from 0. In the generation
   * graph the prefix is not in the cache: every run attends to it beside the cache slots, whose
   * count and mask stay those of the input tokens.
   *
   * @param keys (n, kv_heads·head_dim) in the compute type, heads laid out as {@code k_proj}'s
   *     output
   * @param values (n, kv_heads·head_dim) in the compute type
   * @throws IllegalArgumentException for a block the model lacks, or tensors of another shape or
   *     dtype
   */
  public void addKeyValuePrefix(int layer, Tensor keys, Tensor values) {
    built.prefixes().addKeyValuePrefix(layer, keys, values);
  }

  /**
   * Puts {@code n} virtual tokens ahead of every row's input (PEFT's prompt tuning and P-tuning):
   * the logits equal those of the plain model on the sequence {@code [virtual tokens, input]} at
   * the input's positions. The virtual tokens sit at positions 0..n-1 and attend to each other
   * causally; every input token attends to all of them (with packing, every sample in the row), and
   * the input's positions move up by n. Inputs, logits and labels keep the input's shape.
   *
   * <p>The virtual tokens' keys and values do not depend on the input: a pass of their own through
   * the blocks computes them once per run (batch 1) and joins them to every layer as a prefix (see
   * {@link #addKeyValuePrefix}). That pass reads the model's weights, including replacements made
   * before this call, but not the linear rewrites or insertions methods made at {@link #linears()}
   * and {@link #blocks()}, nor key/value prefixes.
   *
   * @param embeddings (n, hidden_size) in the compute type
   * @throws IllegalArgumentException for another shape or dtype
   */
  public void prependVirtualTokens(Tensor embeddings) {
    built.prefixes().prependVirtualTokens(embeddings);
  }

  /** The position of the first input token: the longest prefix over the layers, 0 without any. */
  public long prefixLength() {
    return built.prefixes().length();
  }

  /** Every linear layer in model order; {@code lm_head} only when it is not tied. */
  public List<Linear> linears() {
    return built.linears();
  }

  /** One entry per transformer block, in order. */
  public List<Block> blocks() {
    return built.blocks();
  }

  /**
   * Graph parameter name → tensor name in a checkpoint as Hugging Face saves it. The names are
   * equal; for GPT-2 files saved without the {@code transformer.} prefix, {@link
   * ModelConfig#nameIn} gives the name in that file (and {@link #weights} uses it).
   */
  public Map<String, String> checkpointNames() {
    return built.checkpointNames();
  }

  /**
   * Declares a frozen parameter that holds checkpoint tensor {@code name} as the checkpoint stores
   * it, of its element type and shape (a 4-bit checkpoint's codes and scales, {@link
   * FourBitCheckpoint}); {@link #program} and {@link #weights} feed it from the checkpoint as they
   * feed the model's weights, without a copy through Java where the backend reads the file.
   *
   * @throws IllegalArgumentException when the checkpoint lacks the tensor or the parameter name is
   *     taken
   */
  public Tensor storedTensor(SafetensorsReader reader, String parameter, String name) {
    TensorInfo info = reader.info(name);
    Tensor t =
        graph().parameter(parameter, info.dtype().graphType(), Shape.of(info.shape()), false);
    stored.put(parameter, name);
    return t;
  }

  /**
   * In the generation graph, each {@code present.i.key}/{@code .value} output → the {@code
   * past_key_values} input it feeds at the next run (a {@link dev.graft.api.backend.Program}'s
   * carry); empty for the training graph.
   */
  public Map<String, String> kvCache() {
    return built.cache();
  }

  /**
   * The frozen checkpoint weights of the graph as it is now, by parameter name, for a {@link
   * dev.graft.api.backend.Program}: F16/BF16/F32/F64 converted to {@code computeType}, or the
   * memory-mapped bytes without a copy where the checkpoint already stores that type (valid until
   * the reader is closed). Parameters that a method made trainable or removed are left out; {@link
   * #weight} reads any one of them.
   *
   * @param computeType the compute type the graph was built with
   * @throws IllegalArgumentException when the checkpoint lacks a tensor or has one of another shape
   *     (the message of {@link ModelConfig#check}), or the compute type differs from the graph's
   */
  public Map<String, HostTensor> weights(SafetensorsReader reader, DType computeType) {
    config.check(reader);
    Map<String, HostTensor> out = new LinkedHashMap<>();
    Graph g = graph();
    List<Tensor> frozen = g.parameters().stream().filter(p -> !g.isTrainable(p)).toList();
    try (Progress.Task task = Progress.start("loading weights", frozen.size(), "tensors")) {
      for (Tensor p : frozen) {
        if (stored.containsKey(p.name())) {
          out.put(p.name(), Weights.load(reader, stored.get(p.name()), p.dtype()));
        } else if (checkpointNames().containsKey(p.name())) {
          out.put(p.name(), weight(reader, p.name(), computeType));
        }
        task.advance(1);
      }
    }
    return out;
  }

  /**
   * The graph as it is now (adapted, with a loss or a training step appended) as a {@link Program}
   * whose frozen checkpoint weights come from {@code reader}. Those that the checkpoint stores in
   * the compute type are declared as external data in the checkpoint's own files, so that the
   * backend reads them itself: they never pass through Java, and the process holds them once. The
   * others are converted as by {@link #weights}. The backend must be opened before the reader is
   * closed.
   *
   * @param carry the program's carried outputs
   * @param dtypes every element type the graph computes with
   * @param training whether the graph is a training step (see {@link Program#training})
   * @throws IllegalArgumentException as {@link #weights}
   */
  public Program program(
      SafetensorsReader reader, Map<String, String> carry, Set<DType> dtypes, boolean training) {
    return program(reader, Map.of(), carry, dtypes, training);
  }

  /**
   * The program of {@link #program(SafetensorsReader, Map, Set, boolean)} with frozen tensors that
   * are not in the checkpoint (those fine-tuning methods computed) passed by the caller.
   *
   * @param supplied frozen parameters by name, of any dtype, that the checkpoint does not hold
   * @throws IllegalArgumentException as {@link #weights}, or when a frozen parameter of the graph
   *     is neither in the checkpoint nor supplied
   */
  public Program program(
      SafetensorsReader reader,
      Map<String, HostTensor> supplied,
      Map<String, String> carry,
      Set<DType> dtypes,
      boolean training) {
    config.check(reader);
    Map<String, String> names = new LinkedHashMap<>(); // frozen parameter -> checkpoint tensor
    Graph g = graph();
    for (Tensor p : g.parameters()) {
      if (g.isTrainable(p) || supplied.containsKey(p.name())) {
        continue;
      }
      if (stored.containsKey(p.name())) {
        names.put(p.name(), stored.get(p.name()));
        continue;
      }
      if (!checkpointNames().containsKey(p.name())) {
        throw new IllegalArgumentException(
            "Frozen parameter \""
                + p.name()
                + "\" is neither in the checkpoint nor supplied with a value; a method that"
                + " declares a frozen tensor must give its values.");
      }
      names.put(p.name(), checkpointName(reader, p.name(), computeType));
    }
    Map<String, ExternalData> files = new LinkedHashMap<>();
    Set<Path> folders = new HashSet<>();
    names.forEach(
        (parameter, name) -> {
          if (Weights.storedAs(reader, name, g.tensor(parameter).dtype())) {
            files.put(parameter, reader.externalData(name));
            folders.add(reader.folder(name));
          }
        });
    if (folders.size() > 1) {
      files.clear(); // shards in several folders: Java passes them all
    }
    Map<String, HostTensor> passed = new LinkedHashMap<>();
    for (Tensor p : g.parameters()) {
      if (!g.isTrainable(p) && supplied.containsKey(p.name())) {
        passed.put(p.name(), supplied.get(p.name()));
      }
    }
    try (Progress.Task task = Progress.start("loading weights", names.size(), "tensors")) {
      names.forEach(
          (parameter, name) -> {
            if (!files.containsKey(parameter)) {
              passed.put(parameter, Weights.load(reader, name, g.tensor(parameter).dtype()));
            }
            task.advance(1);
          });
    }
    return files.isEmpty()
        ? new Program(g.toOnnx(), passed, carry, dtypes, null, training)
        : new Program(g.toOnnx(files), passed, carry, dtypes, folders.iterator().next(), training);
  }

  /**
   * One checkpoint weight as {@link #weight(SafetensorsReader, String, DType)} gives it, but read
   * into {@code scratch} (from its start) where the checkpoint stores the compute type, instead of
   * mapped: a view over scratch, valid until scratch is written again. Reading many weights through
   * one scratch buffer keeps no mapping of the file resident.
   *
   * @param scratch a buffer at least as large as the weight's bytes
   */
  public HostTensor weight(
      SafetensorsReader reader, String parameter, DType computeType, ByteBuffer scratch) {
    String name = checkpointName(reader, parameter, computeType);
    if (!Weights.storedAs(reader, name, computeType)) {
      return Weights.load(reader, name, computeType);
    }
    long[] shape = reader.info(name).shape();
    int bytes = Math.toIntExact(HostTensor.elements(shape) * computeType.byteSize());
    return new HostTensor(
        computeType, shape, reader.read(name, scratch.duplicate().clear().limit(bytes)));
  }

  /**
   * One checkpoint weight by parameter name, converted as by {@link #weights}.
   *
   * @throws IllegalArgumentException when {@code parameter} is not a checkpoint parameter, the
   *     checkpoint lacks it, or the compute type differs from the graph's
   */
  public HostTensor weight(SafetensorsReader reader, String parameter, DType computeType) {
    return Weights.load(reader, checkpointName(reader, parameter, computeType), computeType);
  }

  /**
   * The name in {@code reader} of a checkpoint parameter's tensor.
   *
   * @throws IllegalArgumentException as {@link #weight(SafetensorsReader, String, DType)}
   */
  private String checkpointName(SafetensorsReader reader, String parameter, DType computeType) {
    String name = checkpointNames().get(parameter);
    if (name == null) {
      throw new IllegalArgumentException(
          "\""
              + parameter
              + "\" is not a checkpoint parameter of this "
              + config.architecture().hfName()
              + " graph.");
    }
    if (computeType != this.computeType) {
      throw new IllegalArgumentException(
          "The graph computes in "
              + this.computeType
              + "; load its weights as "
              + this.computeType
              + ", not "
              + computeType
              + ".");
    }
    return config.nameIn(reader, name);
  }
}
