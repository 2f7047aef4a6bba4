package dev.graft.example.quickstart;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.graft.model.ModelConfig;
import dev.graft.model.SafetensorsReader;
import dev.graft.model.SafetensorsWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Writes a small, randomly initialised Llama as a Hugging Face model folder: {@code config.json},
 * {@code model.safetensors}, a character-level {@code tokenizer.json} (BPE without merges, so every
 * character is one token), {@code tokenizer_config.json} and {@code generation_config.json}.
 * Transformers loads the folder as it is.
 */
final class TinyLlama {
  static final String BOS = "<s>";
  static final String EOS = "</s>";
  static final String UNK = "<unk>";

  /** Special tokens first, then newline and printable ASCII: 99 tokens. */
  static final List<String> VOCAB = vocabulary();

  static final int HIDDEN = 64;
  static final int LAYERS = 2;
  static final int HEADS = 4;
  static final int INTERMEDIATE = 176;
  static final int MAX_POSITIONS = 128;

  private static final ObjectMapper JSON =
      new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  private TinyLlama() {}

  private static List<String> vocabulary() {
    List<String> v = new ArrayList<>(List.of(UNK, BOS, EOS, "\n"));
    for (char c = ' '; c <= '~'; c++) {
      v.add(String.valueOf(c));
    }
    return List.copyOf(v);
  }

  /**
   * Writes the folder with weights drawn from N(0, 0.02) (Hugging Face's {@code initializer_range})
   * and RMSNorm weights of 1.
   *
   * @return the number of parameters
   */
  static long write(Path folder, long seed) throws IOException {
    Files.createDirectories(folder);
    ObjectNode config = JSON.createObjectNode();
    config.putArray("architectures").add("LlamaForCausalLM");
    config.put("model_type", "llama");
    config.put("hidden_size", HIDDEN);
    config.put("intermediate_size", INTERMEDIATE);
    config.put("num_hidden_layers", LAYERS);
    config.put("num_attention_heads", HEADS);
    config.put("num_key_value_heads", HEADS);
    config.put("vocab_size", VOCAB.size());
    config.put("max_position_embeddings", MAX_POSITIONS);
    config.put("rms_norm_eps", 1e-5);
    config.put("rope_theta", 10000.0);
    config.put("hidden_act", "silu");
    config.put("tie_word_embeddings", false);
    config.put("initializer_range", 0.02);
    config.put("bos_token_id", VOCAB.indexOf(BOS));
    config.put("eos_token_id", VOCAB.indexOf(EOS));
    config.put("torch_dtype", "float32");
    JSON.writeValue(folder.resolve(ModelConfig.FILE).toFile(), config);

    ObjectNode generation = JSON.createObjectNode();
    generation.put("bos_token_id", VOCAB.indexOf(BOS));
    generation.put("eos_token_id", VOCAB.indexOf(EOS));
    generation.put("do_sample", false);
    generation.put("max_new_tokens", 32);
    JSON.writeValue(folder.resolve("generation_config.json").toFile(), generation);

    writeTokenizer(folder);

    Random random = new Random(seed);
    SafetensorsWriter weights = new SafetensorsWriter().metadata("format", "pt");
    long parameters = 0;
    for (Map.Entry<String, long[]> e : ModelConfig.read(folder).expectedTensors().entrySet()) {
      long[] shape = e.getValue();
      float[] v = new float[Math.toIntExact(shape.length == 1 ? shape[0] : shape[0] * shape[1])];
      boolean norm = e.getKey().endsWith("norm.weight");
      for (int i = 0; i < v.length; i++) {
        v[i] = norm ? 1f : (float) (0.02 * random.nextGaussian());
      }
      weights.add(e.getKey(), shape, v);
      parameters += v.length;
    }
    weights.write(folder.resolve(SafetensorsReader.SINGLE_FILE));
    return parameters;
  }

  /** A BPE tokenizer with one token per character and no merges; BOS is added in front. */
  private static void writeTokenizer(Path folder) throws IOException {
    ObjectNode root = JSON.createObjectNode();
    root.put("version", "1.0");
    root.putNull("truncation");
    root.putNull("padding");
    ArrayNode added = root.putArray("added_tokens");
    for (String special : List.of(UNK, BOS, EOS)) {
      ObjectNode t = added.addObject();
      t.put("id", VOCAB.indexOf(special));
      t.put("content", special);
      t.put("single_word", false);
      t.put("lstrip", false);
      t.put("rstrip", false);
      t.put("normalized", false);
      t.put("special", true);
    }
    root.putNull("normalizer");
    root.putNull("pre_tokenizer");
    ObjectNode post = root.putObject("post_processor");
    post.put("type", "TemplateProcessing");
    ArrayNode single = post.putArray("single");
    single.addObject().putObject("SpecialToken").put("id", BOS).put("type_id", 0);
    single.addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
    ArrayNode pair = post.putArray("pair");
    pair.addObject().putObject("SpecialToken").put("id", BOS).put("type_id", 0);
    pair.addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
    pair.addObject().putObject("SpecialToken").put("id", BOS).put("type_id", 1);
    pair.addObject().putObject("Sequence").put("id", "B").put("type_id", 1);
    ObjectNode bos = post.putObject("special_tokens").putObject(BOS);
    bos.put("id", BOS);
    bos.putArray("ids").add(VOCAB.indexOf(BOS));
    bos.putArray("tokens").add(BOS);
    root.putNull("decoder");
    ObjectNode model = root.putObject("model");
    model.put("type", "BPE");
    model.putNull("dropout");
    model.put("unk_token", UNK);
    model.putNull("continuing_subword_prefix");
    model.putNull("end_of_word_suffix");
    model.put("fuse_unk", true);
    model.put("byte_fallback", false);
    model.put("ignore_merges", false);
    ObjectNode vocab = model.putObject("vocab");
    for (int i = 0; i < VOCAB.size(); i++) {
      vocab.put(VOCAB.get(i), i);
    }
    model.putArray("merges");
    JSON.writeValue(folder.resolve("tokenizer.json").toFile(), root);

    ObjectNode config = JSON.createObjectNode();
    config.put("tokenizer_class", "PreTrainedTokenizerFast");
    config.put("bos_token", BOS);
    config.put("eos_token", EOS);
    config.put("unk_token", UNK);
    config.put("model_max_length", MAX_POSITIONS);
    config.put("clean_up_tokenization_spaces", false);
    JSON.writeValue(folder.resolve("tokenizer_config.json").toFile(), config);
  }
}
