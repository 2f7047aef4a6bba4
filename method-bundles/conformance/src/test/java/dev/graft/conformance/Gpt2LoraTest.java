package dev.graft.conformance;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.api.backend.HostTensor;
import dev.graft.api.backend.Program;
import dev.graft.api.backend.Session;
import dev.graft.graph.DType;
import dev.graft.model.ModelConfig;
import dev.graft.model.ModelGraph;
import dev.graft.model.SafetensorsReader;
import dev.graft.train.run.Adapters;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * LoRA on GPT-2, whose Conv1D layers store W as (in, out): PEFT's default target c_attn, {@code
 * fan_in_fan_out} in the config, and a merge that adds (B·A)ᵀ. The model is a tiny random GPT-2
 * with the real GPT-2 tokenizer ({@link TinyGpt2}).
 */
class Gpt2LoraTest {
  @TempDir Path dir;

  private Path tinyGpt2() throws Exception {
    return TinyGpt2.write(dir);
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

  /** A 3-step LoRA job on {@code model} over two sentences. */
  private Map<String, String> spec(Path model) throws Exception {
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
    return spec;
  }

  /** Logits of the model merged into a folder by {@link Adapters#merge}. */
  private static float[] mergedLogits(Path merged) throws Exception {
    ModelGraph plain =
        ModelGraph.build(ModelConfig.read(merged.resolve("config.json")), DType.FLOAT32);
    try (SafetensorsReader reader = SafetensorsReader.open(merged)) {
      return logits(plain, plain.weights(reader, DType.FLOAT32));
    }
  }

  /** The largest difference between two logit arrays relative to the largest of {@code b}. */
  private static double relativeDiff(float[] a, float[] b) {
    double max = 0;
    double scale = 0;
    for (int i = 0; i < a.length; i++) {
      max = Math.max(max, Math.abs(a[i] - b[i]));
      scale = Math.max(scale, Math.abs(b[i]));
    }
    return max / scale;
  }

  @Test
  void mergingAnAdapterWithTrainedBiasesKeepsTheBiases() throws Exception {
    Path model = tinyGpt2();
    Map<String, String> spec = spec(model);
    spec.put("lora.bias", "all");
    Path out = Fixtures.train(spec, dir.resolve("job"), Fixtures.REGISTRY);
    assertFalse(Files.exists(out.resolve("model")), "the adapter holds the biases, as PEFT's does");
    Adapters.Adapted loaded =
        Adapters.load(model, out.resolve("adapter"), Fixtures.REGISTRY, false);
    float[] adapted = logits(loaded.model(), loaded.weights());
    Adapters.merge(model, out.resolve("adapter"), dir.resolve("merged"), Fixtures.REGISTRY, false);
    double diff = relativeDiff(mergedLogits(dir.resolve("merged")), adapted);
    assertTrue(diff < 1e-5, "merged vs unmerged with trained biases: " + diff);
  }

  @Test
  void loraOnGpt2TargetsCAttnWithFanInFanOutAndMergesTransposed() throws Exception {
    Path model = tinyGpt2();
    Map<String, String> spec = spec(model);
    Path out = Fixtures.train(spec, dir.resolve("job"), Fixtures.REGISTRY);

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
    double diff = relativeDiff(mergedLogits(dir.resolve("merged")), adapted);
    assertTrue(diff < 1e-5, "merged vs unmerged on GPT-2: " + diff);
  }
}
