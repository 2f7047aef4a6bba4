package dev.graft.model;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;

/** Tiny random checkpoints of every architecture, written as Hugging Face folders. */
final class TinyModels {

  private TinyModels() {}

  /**
   * Llama with grouped-query attention (4 query heads, 2 key-value heads), head_dim 8, llama3
   * rope_scaling whose wavelengths (6.3, 63, 628, 6283 against 16 and 64) hit all three bands, and
   * an untied head.
   */
  static final String LLAMA =
      "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", \"hidden_size\": 32,"
          + " \"intermediate_size\": 40, \"num_hidden_layers\": 2, \"num_attention_heads\": 4,"
          + " \"num_key_value_heads\": 2, \"vocab_size\": 48, \"max_position_embeddings\": 64,"
          + " \"rms_norm_eps\": 1e-6, \"rope_theta\": 10000.0, \"tie_word_embeddings\": false,"
          + " \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 1.0,"
          + " \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 64},"
          + " \"bos_token_id\": 1, \"eos_token_id\": 2}";

  /** Mistral with one key-value head for four query heads, a tied head and a large rope_theta. */
  static final String MISTRAL =
      "{\"architectures\": [\"MistralForCausalLM\"], \"model_type\": \"mistral\","
          + " \"hidden_size\": 32, \"intermediate_size\": 24, \"num_hidden_layers\": 2,"
          + " \"num_attention_heads\": 4, \"num_key_value_heads\": 1, \"vocab_size\": 48,"
          + " \"max_position_embeddings\": 100, \"rms_norm_eps\": 1e-5, \"rope_theta\": 1000000.0,"
          + " \"sliding_window\": 4096, \"tie_word_embeddings\": true, \"eos_token_id\": 2}";

  /** Qwen2: biases on q, k and v, none on o; a tied head. */
  static final String QWEN2 =
      "{\"architectures\": [\"Qwen2ForCausalLM\"], \"model_type\": \"qwen2\", \"hidden_size\": 32,"
          + " \"intermediate_size\": 24, \"num_hidden_layers\": 2, \"num_attention_heads\": 4,"
          + " \"num_key_value_heads\": 2, \"vocab_size\": 48, \"max_position_embeddings\": 50,"
          + " \"rms_norm_eps\": 1e-6, \"rope_theta\": 1000000.0, \"tie_word_embeddings\": true,"
          + " \"eos_token_id\": 2}";

  /** GPT-2: Conv1D layers, learned positions, tanh GELU, a tied head. */
  static final String GPT2 =
      "{\"architectures\": [\"GPT2LMHeadModel\"], \"model_type\": \"gpt2\", \"n_embd\": 32,"
          + " \"n_layer\": 2, \"n_head\": 4, \"n_positions\": 40, \"n_inner\": null,"
          + " \"vocab_size\": 48, \"activation_function\": \"gelu_new\","
          + " \"layer_norm_epsilon\": 1e-05, \"bos_token_id\": 0, \"eos_token_id\": 2}";

  /** Every architecture by name. */
  static final Map<String, String> ALL =
      Map.of("llama", LLAMA, "mistral", MISTRAL, "qwen2", QWEN2, "gpt2", GPT2);

  /**
   * Writes {@code config.json} and a {@code model.safetensors} of random F32 weights (normal, 0.3;
   * norm weights around 1) into {@code dir}; returns {@code dir}.
   */
  static Path write(Path dir, String configJson, long seed) throws IOException {
    Files.createDirectories(dir);
    Files.writeString(dir.resolve(ModelConfig.FILE), configJson);
    ModelConfig config = ModelConfig.read(dir);
    Random random = new Random(seed);
    SafetensorsWriter w = new SafetensorsWriter();
    for (Map.Entry<String, long[]> e : config.expectedTensors().entrySet()) {
      float[] v = new float[Math.toIntExact(TensorInfo.numel(e.getValue()))];
      boolean norm = e.getKey().contains("norm") || e.getKey().contains(".ln_");
      for (int i = 0; i < v.length; i++) {
        double noise = random.nextGaussian();
        v[i] = (float) (norm && e.getKey().endsWith("weight") ? 1 + 0.1 * noise : 0.3 * noise);
      }
      w.add(e.getKey(), e.getValue(), v);
    }
    w.write(dir.resolve(SafetensorsReader.SINGLE_FILE));
    return dir;
  }
}
