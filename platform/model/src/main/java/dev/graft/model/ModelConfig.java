package dev.graft.model;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A model's {@code config.json}, typed. Field names follow the Llama family; GPT-2's names ({@code
 * n_embd}, {@code n_layer}, …) are mapped onto them. Missing optional fields take the defaults of
 * the corresponding Hugging Face config class.
 *
 * @param architecture the architecture
 * @param modelType {@code model_type}, e.g. {@code llama}
 * @param hiddenSize width of the residual stream
 * @param intermediateSize width of the MLP
 * @param numHiddenLayers number of decoder blocks
 * @param numAttentionHeads query heads
 * @param numKeyValueHeads key/value heads (fewer than query heads with grouped-query attention)
 * @param headDim width of one head
 * @param vocabSize rows of the embedding
 * @param maxPositionEmbeddings longest sequence the positions support
 * @param normEps epsilon of RMSNorm ({@code rms_norm_eps}) or LayerNorm ({@code
 *     layer_norm_epsilon})
 * @param ropeTheta RoPE base frequency; 0 for GPT-2, which learns absolute positions
 * @param ropeScaling RoPE frequency scaling, or null for none
 * @param tieWordEmbeddings whether the output projection reuses the input embedding
 * @param hiddenAct MLP activation, e.g. {@code silu} or {@code gelu_new}
 * @param qkvBias whether the q, k and v projections have biases (Qwen2, GPT-2)
 * @param outputBias whether the attention output projection has a bias
 * @param mlpBias whether the MLP projections have biases
 * @param bosTokenId beginning-of-sequence token id, or -1 when unset
 * @param eosTokenIds end-of-sequence token ids (several for some chat models), possibly empty
 */
public record ModelConfig(
    Architecture architecture,
    String modelType,
    int hiddenSize,
    int intermediateSize,
    int numHiddenLayers,
    int numAttentionHeads,
    int numKeyValueHeads,
    int headDim,
    int vocabSize,
    int maxPositionEmbeddings,
    double normEps,
    double ropeTheta,
    RopeScaling ropeScaling,
    boolean tieWordEmbeddings,
    String hiddenAct,
    boolean qkvBias,
    boolean outputBias,
    boolean mlpBias,
    int bosTokenId,
    List<Integer> eosTokenIds) {

  /** The file name of a model configuration in a Hugging Face folder. */
  public static final String FILE = "config.json";

  /**
   * RoPE frequency scaling ({@code rope_scaling}).
   *
   * @param type {@code llama3} or {@code linear}
   * @param factor scale factor
   * @param lowFreqFactor Llama 3: wavelengths above {@code original / lowFreqFactor} are scaled
   * @param highFreqFactor Llama 3: wavelengths below {@code original / highFreqFactor} are kept
   * @param originalMaxPositionEmbeddings Llama 3: the context length the model was trained with
   */
  public record RopeScaling(
      String type,
      double factor,
      double lowFreqFactor,
      double highFreqFactor,
      int originalMaxPositionEmbeddings) {}

  /** Copies the list of end-of-sequence ids. */
  public ModelConfig {
    eosTokenIds = List.copyOf(eosTokenIds);
  }

  /**
   * Reads {@code config.json}; {@code path} is the file or its folder.
   *
   * @throws IllegalArgumentException for an unsupported architecture or a missing or malformed
   *     field, in one sentence naming the file and the field
   */
  private static final ObjectMapper JSON = new ObjectMapper();

  /** The largest config.json read: real ones are a few kilobytes. */
  private static final long MAX_BYTES = 1L << 20;

  /** More layers than any published model has: a larger count is a damaged file. */
  private static final int MAX_LAYERS = 1024;

  public static ModelConfig read(Path path) throws IOException {
    Path file = Files.isDirectory(path) ? path.resolve(FILE) : path;
    String name = file.getFileName().toString();
    if (Files.size(file) > MAX_BYTES) {
      throw new IllegalArgumentException(
          name
              + ": is "
              + Files.size(file)
              + " bytes, more than a config.json ever needs ("
              + MAX_BYTES
              + "); point model at a Hugging Face model folder.");
    }
    JsonNode root;
    try {
      root = JSON.readTree(Files.readAllBytes(file));
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException(
          name + ": is not valid JSON (" + e.getOriginalMessage() + ").");
    }
    if (root == null || !root.isObject()) {
      throw new IllegalArgumentException(name + ": is not a JSON object.");
    }
    return parse(name, root);
  }

  static ModelConfig parse(String file, JsonNode root) {
    JsonNode archs = root.get("architectures");
    if (archs == null || !archs.isArray() || archs.size() != 1 || !archs.get(0).isTextual()) {
      throw new IllegalArgumentException(
          file
              + ": \"architectures\" must name one architecture, one of "
              + Architecture.supported()
              + ", but is "
              + archs
              + ".");
    }
    Architecture arch;
    try {
      arch = Architecture.of(archs.get(0).asText());
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(file + ": " + e.getMessage());
    }
    Fields f = new Fields(file, root, arch);
    return arch == Architecture.GPT2 ? gpt2(f) : llama(f);
  }

  private static ModelConfig llama(Fields f) {
    Architecture arch = f.arch;
    int hidden = f.positive(f.requiredInt("hidden_size"), "hidden_size");
    int heads = f.positive(f.requiredInt("num_attention_heads"), "num_attention_heads");
    int kvDefault = arch == Architecture.MISTRAL ? 8 : heads;
    int kvHeads = f.positive(f.optInt("num_key_value_heads", kvDefault), "num_key_value_heads");
    int headDim = f.positive(f.optInt("head_dim", hidden / heads), "head_dim");
    if (f.root.path("head_dim").isMissingNode() && hidden % heads != 0) {
      throw f.error("hidden_size " + hidden + " is not a multiple of num_attention_heads " + heads);
    }
    if (heads % kvHeads != 0) {
      throw f.error(
          "num_attention_heads " + heads + " is not a multiple of num_key_value_heads " + kvHeads);
    }
    boolean attentionBias = f.optBool("attention_bias", false);
    boolean qwen = arch == Architecture.QWEN2;
    int maxPos =
        f.optInt(
            "max_position_embeddings",
            switch (arch) {
              case MISTRAL -> 4096 * 32;
              case QWEN2 -> 32768;
              default -> 2048;
            });
    return new ModelConfig(
        arch,
        f.optText("model_type", arch.name().toLowerCase()),
        hidden,
        f.positive(f.requiredInt("intermediate_size"), "intermediate_size"),
        f.layers(f.requiredInt("num_hidden_layers"), "num_hidden_layers"),
        heads,
        kvHeads,
        headDim,
        f.positive(f.requiredInt("vocab_size"), "vocab_size"),
        f.positive(maxPos, "max_position_embeddings"),
        f.optDouble("rms_norm_eps", 1e-6),
        f.optDouble("rope_theta", 10000.0),
        ropeScaling(f),
        f.optBool("tie_word_embeddings", false),
        f.optText("hidden_act", "silu"),
        qwen || attentionBias,
        !qwen && attentionBias,
        f.optBool("mlp_bias", false),
        f.optInt("bos_token_id", -1),
        f.intList("eos_token_id"));
  }

  private static ModelConfig gpt2(Fields f) {
    int embd = f.positive(f.optInt("n_embd", 768), "n_embd");
    int heads = f.positive(f.optInt("n_head", 12), "n_head");
    if (embd % heads != 0) {
      throw f.error("n_embd " + embd + " is not a multiple of n_head " + heads);
    }
    return new ModelConfig(
        Architecture.GPT2,
        f.optText("model_type", "gpt2"),
        embd,
        f.positive(f.optInt("n_inner", 4 * embd), "n_inner"),
        f.layers(f.optInt("n_layer", 12), "n_layer"),
        heads,
        heads,
        embd / heads,
        f.positive(f.optInt("vocab_size", 50257), "vocab_size"),
        f.positive(f.optInt("n_positions", 1024), "n_positions"),
        f.optDouble("layer_norm_epsilon", 1e-5),
        0,
        null,
        f.optBool("tie_word_embeddings", true),
        f.optText("activation_function", "gelu_new"),
        true,
        true,
        true,
        f.optInt("bos_token_id", 50256),
        f.root.has("eos_token_id") ? f.intList("eos_token_id") : List.of(50256));
  }

  private static RopeScaling ropeScaling(Fields f) {
    JsonNode node = f.root.get("rope_scaling");
    if (node == null || node.isNull()) {
      return null;
    }
    JsonNode typeNode = node.has("rope_type") ? node.get("rope_type") : node.get("type");
    String type = typeNode == null ? "" : typeNode.asText();
    Fields s = new Fields(f.file, node, f.arch);
    switch (type) {
      case "default":
        return null;
      case "linear":
        return new RopeScaling(type, s.requiredDouble("factor"), 0, 0, 0);
      case "llama3":
        return new RopeScaling(
            type,
            s.requiredDouble("factor"),
            s.requiredDouble("low_freq_factor"),
            s.requiredDouble("high_freq_factor"),
            s.requiredInt("original_max_position_embeddings"));
      default:
        throw new IllegalArgumentException(
            f.file
                + ": rope_scaling type \""
                + type
                + "\" is not supported; supported: llama3, linear, default.");
    }
  }

  /**
   * The tensors a Hugging Face checkpoint of this configuration holds, by name, with their shapes
   * (GPT-2 names with the {@code transformer.} prefix).
   */
  public Map<String, long[]> expectedTensors() {
    Map<String, long[]> t = new LinkedHashMap<>();
    long d = hiddenSize;
    if (architecture == Architecture.GPT2) {
      long inner = intermediateSize;
      t.put("transformer.wte.weight", new long[] {vocabSize, d});
      t.put("transformer.wpe.weight", new long[] {maxPositionEmbeddings, d});
      for (int i = 0; i < numHiddenLayers; i++) {
        String p = "transformer.h." + i + ".";
        t.put(p + "ln_1.weight", new long[] {d});
        t.put(p + "ln_1.bias", new long[] {d});
        // Conv1D stores weights as (in, out).
        t.put(p + "attn.c_attn.weight", new long[] {d, 3 * d});
        t.put(p + "attn.c_attn.bias", new long[] {3 * d});
        t.put(p + "attn.c_proj.weight", new long[] {d, d});
        t.put(p + "attn.c_proj.bias", new long[] {d});
        t.put(p + "ln_2.weight", new long[] {d});
        t.put(p + "ln_2.bias", new long[] {d});
        t.put(p + "mlp.c_fc.weight", new long[] {d, inner});
        t.put(p + "mlp.c_fc.bias", new long[] {inner});
        t.put(p + "mlp.c_proj.weight", new long[] {inner, d});
        t.put(p + "mlp.c_proj.bias", new long[] {d});
      }
      t.put("transformer.ln_f.weight", new long[] {d});
      t.put("transformer.ln_f.bias", new long[] {d});
      if (!tieWordEmbeddings) {
        t.put("lm_head.weight", new long[] {vocabSize, d});
      }
      return t;
    }
    long q = (long) numAttentionHeads * headDim;
    long kv = (long) numKeyValueHeads * headDim;
    long inter = intermediateSize;
    t.put("model.embed_tokens.weight", new long[] {vocabSize, d});
    for (int i = 0; i < numHiddenLayers; i++) {
      String p = "model.layers." + i + ".";
      // Linear weights are (out, in).
      linear(t, p + "self_attn.q_proj", q, d, qkvBias);
      linear(t, p + "self_attn.k_proj", kv, d, qkvBias);
      linear(t, p + "self_attn.v_proj", kv, d, qkvBias);
      linear(t, p + "self_attn.o_proj", d, q, outputBias);
      linear(t, p + "mlp.gate_proj", inter, d, mlpBias);
      linear(t, p + "mlp.up_proj", inter, d, mlpBias);
      linear(t, p + "mlp.down_proj", d, inter, mlpBias);
      t.put(p + "input_layernorm.weight", new long[] {d});
      t.put(p + "post_attention_layernorm.weight", new long[] {d});
    }
    t.put("model.norm.weight", new long[] {d});
    if (!tieWordEmbeddings) {
      t.put("lm_head.weight", new long[] {vocabSize, d});
    }
    return t;
  }

  private static void linear(Map<String, long[]> t, String name, long out, long in, boolean bias) {
    t.put(name + ".weight", new long[] {out, in});
    if (bias) {
      t.put(name + ".bias", new long[] {out});
    }
  }

  /**
   * The name under which a checkpoint holds an expected tensor: the name itself, or for GPT-2
   * checkpoints saved without the {@code transformer.} prefix, the name without it.
   */
  public String nameIn(SafetensorsReader checkpoint, String expectedName) {
    if (architecture == Architecture.GPT2
        && !checkpoint.contains(expectedName)
        && expectedName.startsWith("transformer.")) {
      String bare = expectedName.substring("transformer.".length());
      if (checkpoint.contains(bare)) {
        return bare;
      }
    }
    return expectedName;
  }

  /**
   * Checks that a checkpoint holds every tensor this configuration expects, with the expected
   * shape. Extra tensors (such as GPT-2's {@code attn.bias} buffers) are ignored. A weight stored
   * 4-bit ({@link FourBitCheckpoint}) has the shape its quant_state gives, and every tensor of its
   * layout is checked.
   *
   * @throws IllegalArgumentException naming the file, the tensor, the expected and the actual shape
   */
  public void check(SafetensorsReader checkpoint) {
    for (Map.Entry<String, long[]> e : expectedTensors().entrySet()) {
      String name = nameIn(checkpoint, e.getKey());
      if (!checkpoint.contains(name)) {
        throw new IllegalArgumentException(
            String.format(
                "%s: tensor \"%s\" is missing; %s expects it with shape %s.",
                checkpoint.source(), name, FILE, Arrays.toString(e.getValue())));
      }
      long[] actual =
          FourBitCheckpoint.isQuantised(checkpoint, name)
              ? FourBitCheckpoint.describe(checkpoint, name).shape()
              : checkpoint.info(name).shape();
      if (!Arrays.equals(actual, e.getValue())) {
        throw new IllegalArgumentException(
            String.format(
                "%s: tensor \"%s\" has shape %s but %s implies %s.",
                checkpoint.fileName(name),
                name,
                Arrays.toString(actual),
                FILE,
                Arrays.toString(e.getValue())));
      }
    }
  }

  /** Typed access to config fields, with errors naming the file and field. */
  private static final class Fields {
    final String file;
    final JsonNode root;
    final Architecture arch;

    Fields(String file, JsonNode root, Architecture arch) {
      this.file = file;
      this.root = root;
      this.arch = arch;
    }

    IllegalArgumentException error(String what) {
      return new IllegalArgumentException(file + ": " + what + ".");
    }

    private JsonNode present(String key) {
      JsonNode n = root.get(key);
      return n == null || n.isNull() ? null : n;
    }

    /** {@code value} of field {@code key}, refused unless at least 1. */
    int positive(int value, String key) {
      if (value < 1) {
        throw error(
            "\""
                + key
                + "\" is "
                + value
                + "; a size must be at least 1: fix the file or export it again");
      }
      return value;
    }

    /** A layer count: at least 1 and at most {@value ModelConfig#MAX_LAYERS}. */
    int layers(int value, String key) {
      if (positive(value, key) > MAX_LAYERS) {
        throw error(
            "\""
                + key
                + "\" is "
                + value
                + ", more layers than any model has (at most "
                + MAX_LAYERS
                + "); fix the file");
      }
      return value;
    }

    int requiredInt(String key) {
      JsonNode n = present(key);
      if (n == null) {
        throw error("\"" + key + "\" is required for " + arch.hfName() + " but missing");
      }
      return toInt(key, n);
    }

    int optInt(String key, int fallback) {
      JsonNode n = present(key);
      return n == null ? fallback : toInt(key, n);
    }

    private int toInt(String key, JsonNode n) {
      if (!n.canConvertToExactIntegral() || !n.canConvertToInt() || n.asInt() < 0) {
        throw error("\"" + key + "\" is " + n + ", not a non-negative integer");
      }
      return n.asInt();
    }

    double requiredDouble(String key) {
      JsonNode n = present(key);
      if (n == null) {
        throw error("\"" + key + "\" is required but missing");
      }
      return optDouble(key, 0);
    }

    double optDouble(String key, double fallback) {
      JsonNode n = present(key);
      if (n == null) {
        return fallback;
      }
      if (!n.isNumber()) {
        throw error("\"" + key + "\" is " + n + ", not a number");
      }
      return n.asDouble();
    }

    boolean optBool(String key, boolean fallback) {
      JsonNode n = present(key);
      if (n == null) {
        return fallback;
      }
      if (!n.isBoolean()) {
        throw error("\"" + key + "\" is " + n + ", not true or false");
      }
      return n.asBoolean();
    }

    String optText(String key, String fallback) {
      JsonNode n = present(key);
      return n == null ? fallback : n.asText();
    }

    List<Integer> intList(String key) {
      JsonNode n = present(key);
      List<Integer> out = new ArrayList<>();
      if (n == null) {
        return out;
      }
      if (n.isArray()) {
        n.forEach(v -> out.add(toInt(key, v)));
      } else {
        out.add(toInt(key, n));
      }
      return out;
    }
  }
}
