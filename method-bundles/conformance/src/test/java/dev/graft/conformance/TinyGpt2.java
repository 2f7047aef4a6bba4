package dev.graft.conformance;

import dev.graft.model.ModelConfig;
import dev.graft.model.SafetensorsWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

/**
 * A tiny random GPT-2 (2 blocks of width 16, tied embeddings) with the real GPT-2 tokenizer from
 * ../shared, written as a Hugging Face model folder.
 */
final class TinyGpt2 {
  private TinyGpt2() {}

  /** Writes the model into {@code dir}/gpt2, unless it is there, and returns that folder. */
  static Path write(Path dir) throws Exception {
    Path model = Files.createDirectories(dir.resolve("gpt2"));
    if (Files.exists(model.resolve("model.safetensors"))) {
      return model;
    }
    Files.writeString(
        model.resolve("config.json"),
        "{\"architectures\": [\"GPT2LMHeadModel\"], \"model_type\": \"gpt2\", \"n_embd\": 16, \"n_layer\": 2,"
            + " \"n_head\": 2, \"n_positions\": 64, \"vocab_size\": 50257, \"n_inner\": null,"
            + " \"layer_norm_epsilon\": 1e-5, \"activation_function\": \"gelu_new\", \"bos_token_id\": 50256,"
            + " \"eos_token_id\": 50256, \"tie_word_embeddings\": true}");
    for (String file : new String[] {"vocab.json", "merges.txt"}) {
      Files.copy(Fixtures.shared("tokenizers/gpt2/" + file), model.resolve(file));
    }
    ModelConfig config = ModelConfig.read(model.resolve("config.json"));
    SafetensorsWriter writer = new SafetensorsWriter().metadata("format", "pt");
    Random random = new Random(11);
    config
        .expectedTensors()
        .forEach(
            (name, shape) -> {
              long n = 1;
              for (long d : shape) {
                n *= d;
              }
              float[] v = new float[Math.toIntExact(n)];
              boolean norm = name.contains("ln_") && name.endsWith(".weight");
              for (int i = 0; i < v.length; i++) {
                v[i] =
                    norm ? 1f : name.endsWith(".bias") ? 0f : (float) (random.nextGaussian() * 0.1);
              }
              writer.add(name, shape, v);
            });
    writer.write(model.resolve("model.safetensors"));
    return model;
  }
}
