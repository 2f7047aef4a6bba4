package dev.graft.conformance;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.api.backend.HostTensor;
import dev.graft.api.backend.Program;
import dev.graft.api.backend.Session;
import dev.graft.api.train.JobState;
import dev.graft.graph.DType;
import dev.graft.model.ModelConfig;
import dev.graft.model.ModelGraph;
import dev.graft.model.SafetensorsReader;
import dev.graft.model.SafetensorsWriter;
import dev.graft.train.job.JobSpec;
import dev.graft.train.job.TrainingJob;
import dev.graft.train.run.Adapters;
import dev.graft.train.run.SftRun;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * LoRA on GPT-2, whose Conv1D layers store W as (in, out): PEFT's default target c_attn, {@code
 * fan_in_fan_out} in the config, and a merge that adds (B·A)ᵀ. The model is a tiny random GPT-2
 * with the real GPT-2 tokenizer.
 */
class Gpt2LoraTest {
  @TempDir Path dir;

  private Path tinyGpt2() throws Exception {
    Path model = Files.createDirectories(dir.resolve("gpt2"));
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

  private static float[] logits(ModelGraph model, Map<String, HostTensor> weights) {
    Program program =
        new Program(model.graph().toOnnx(), weights, Map.of(), Set.of(DType.FLOAT32, DType.INT64));
    try (Session session = Fixtures.cpu().open(program)) {
      long[] shape = {1, 4};
      Map<String, HostTensor> feeds = new LinkedHashMap<>();
      feeds.put("input_ids", HostTensor.ofLongs(shape, 15496, 995, 11, 314));
      feeds.put("position_ids", HostTensor.ofLongs(shape, 0, 1, 2, 3));
      feeds.put("segment_ids", HostTensor.ofLongs(shape, 1, 1, 1, 1));
      return session.run(feeds, Set.of("logits")).get("logits").floats();
    }
  }

  @Test
  void loraOnGpt2TargetsCAttnWithFanInFanOutAndMergesTransposed() throws Exception {
    Path model = tinyGpt2();
    Path data = dir.resolve("data.jsonl");
    Files.writeString(
        data,
        "{\"text\": \"Hello world, this is a test.\"}\n{\"text\": \"The cat sat on the mat.\"}\n");
    Map<String, String> spec = new LinkedHashMap<>();
    spec.put("model", model.toString());
    spec.put("data", data.toString());
    spec.put("method", "lora");
    spec.put("lora.r", "2");
    spec.put("max_steps", "3");
    spec.put("learning_rate", "0.05");
    spec.put("per_device_train_batch_size", "2");
    spec.put("max_length", "16");
    Path out = Files.createDirectories(dir.resolve("job"));
    JobSpec checked = JobSpec.parse(spec, Fixtures.REGISTRY);
    TrainingJob job =
        new TrainingJob(
            "g",
            spec,
            out,
            0,
            () -> new SftRun(checked, Fixtures.REGISTRY, Fixtures.cpu(), n -> {}),
            (t, p) -> {});
    job.run();
    assertEquals(JobState.COMPLETED, job.status().state(), job.status().message());

    JsonNode config =
        new ObjectMapper().readTree(out.resolve("adapter/adapter_config.json").toFile());
    assertEquals(true, config.get("fan_in_fan_out").asBoolean());
    assertEquals("c_attn", config.get("target_modules").get(0).asText());
    try (SafetensorsReader adapter =
        SafetensorsReader.open(out.resolve("adapter/adapter_model.safetensors"))) {
      assertEquals(4, adapter.names().size());
      assertArrayEquals(
          new long[] {2, 16},
          adapter.info("base_model.model.transformer.h.0.attn.c_attn.lora_A.weight").shape());
      assertArrayEquals(
          new long[] {48, 2},
          adapter.info("base_model.model.transformer.h.1.attn.c_attn.lora_B.weight").shape());
    }

    Adapters.Adapted loaded =
        Adapters.load(model, out.resolve("adapter"), Fixtures.REGISTRY, false);
    float[] adapted = logits(loaded.model(), loaded.weights());
    Adapters.merge(model, out.resolve("adapter"), dir.resolve("merged"), Fixtures.REGISTRY, false);
    ModelGraph plain =
        ModelGraph.build(ModelConfig.read(dir.resolve("merged/config.json")), DType.FLOAT32);
    float[] merged;
    try (SafetensorsReader reader = SafetensorsReader.open(dir.resolve("merged"))) {
      merged = logits(plain, plain.weights(reader, DType.FLOAT32));
    }
    double max = 0;
    double scale = 0;
    for (int i = 0; i < merged.length; i++) {
      max = Math.max(max, Math.abs(merged[i] - adapted[i]));
      scale = Math.max(scale, Math.abs(adapted[i]));
    }
    assertTrue(max / scale < 1e-5, "merged vs unmerged on GPT-2: " + max + " of " + scale);
  }
}
