package dev.graft.conformance;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.api.backend.HostTensor;
import dev.graft.model.SafetensorsReader;
import dev.graft.train.run.Adapters;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * LoRA's own rows on the real stories260K model, trained on the CPU backend: its PEFT file layout,
 * merge and unmerge with chosen targets, errors of loading, continuing from an adapter. What every
 * method must do is in {@link MethodMatrixTest}.
 */
class LoraConformanceTest {
  @TempDir Path dir;

  private Map<String, String> spec() throws Exception {
    Map<String, String> spec = new LinkedHashMap<>();
    spec.put("model", Fixtures.shared("models/stories260K").toString());
    spec.put("data", GoldenCurveTest.data(dir).toString());
    spec.put("method", "lora");
    spec.put("lora.target_modules", "q_proj,v_proj,down_proj");
    spec.put("lora.r", "4");
    spec.put("lora.lora_alpha", "8");
    spec.put("seed", "3");
    spec.put("per_device_train_batch_size", "4");
    spec.put("max_length", "64");
    spec.put("learning_rate", "1e-2");
    spec.put("max_steps", "4");
    spec.put("save_steps", "2");
    return spec;
  }

  /** Trains to the end and returns the job's output folder. */
  private Path train(Map<String, String> spec, Path out) throws Exception {
    return Fixtures.train(spec, out, Fixtures.REGISTRY);
  }

  @Test
  void theAdapterHasPeftKeyNamesShapesAndConfigFields() throws Exception {
    Path out = train(spec(), dir.resolve("job"));
    try (SafetensorsReader adapter =
        SafetensorsReader.open(out.resolve("adapter/adapter_model.safetensors"))) {
      assertEquals(30, adapter.names().size(), "5 layers × 3 modules × (A, B)");
      assertArrayEquals(
          new long[] {4, 64},
          adapter.info("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight").shape());
      assertArrayEquals(
          new long[] {64, 4},
          adapter.info("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight").shape());
      // GQA: v_proj has 4 key/value heads of 8 → 32 outputs; down_proj reads the 172-wide MLP.
      assertArrayEquals(
          new long[] {32, 4},
          adapter.info("base_model.model.model.layers.4.self_attn.v_proj.lora_B.weight").shape());
      assertArrayEquals(
          new long[] {4, 172},
          adapter.info("base_model.model.model.layers.2.mlp.down_proj.lora_A.weight").shape());
      assertEquals("pt", adapter.metadata().get("format"));
    }
    JsonNode config =
        new ObjectMapper().readTree(out.resolve("adapter/adapter_config.json").toFile());
    assertEquals("LORA", config.get("peft_type").asText());
    assertEquals("CAUSAL_LM", config.get("task_type").asText());
    assertEquals(4, config.get("r").asInt());
    assertEquals(8.0, config.get("lora_alpha").asDouble());
    assertEquals(
        List.of("down_proj", "q_proj", "v_proj"),
        List.of(
            config.get("target_modules").get(0).asText(),
            config.get("target_modules").get(1).asText(),
            config.get("target_modules").get(2).asText()));
    assertEquals(false, config.get("fan_in_fan_out").asBoolean());
    assertEquals("none", config.get("bias").asText());
    assertEquals(true, config.get("inference_mode").asBoolean());
    assertEquals(
        Fixtures.shared("models/stories260K").toString(),
        config.get("base_model_name_or_path").asText());
    String text = Files.readString(out.resolve("adapter/adapter_config.json"));
    assertTrue(
        text.indexOf("\"alpha_pattern\"") < text.indexOf("\"bias\""),
        "keys are sorted, as PEFT writes them");
  }

  @Test
  void saveLoadGivesIdenticalLogitsAndMergedEqualsUnmerged() throws Exception {
    Path out = train(spec(), dir.resolve("job"));
    Path model = Fixtures.shared("models/stories260K");
    // The trained values straight from the final checkpoint, applied to a fresh graph …
    Adapters.Adapted loaded =
        Adapters.load(model, out.resolve("adapter"), Fixtures.REGISTRY, false);
    Map<String, HostTensor> fromCheckpoint = new LinkedHashMap<>(loaded.weights());
    try (SafetensorsReader state =
        SafetensorsReader.open(out.resolve("checkpoint-4/state.safetensors"))) {
      for (String name : state.names()) {
        if (loaded.weights().containsKey(name) && name.contains("lora_")) {
          fromCheckpoint.put(
              name, HostTensor.ofFloats(state.info(name).shape(), state.floats(name)));
        }
      }
    }
    float[] saved = Fixtures.logits(loaded.model(), loaded.weights());
    assertArrayEquals(
        Fixtures.logits(loaded.model(), fromCheckpoint), saved, "save → load is exact");
    float[] base = Fixtures.baseLogits(model);
    assertTrue(
        maxDiff(base, saved) > 1e-3, "the adapter changes the model: " + maxDiff(base, saved));

    Adapters.merge(model, out.resolve("adapter"), dir.resolve("merged"), Fixtures.REGISTRY, false);
    float[] merged = Fixtures.baseLogits(dir.resolve("merged"));
    // float32: merging rounds W + s·B·A once, so compare relative to the logits' scale.
    double scale = maxDiff(saved, new float[saved.length]);
    assertTrue(
        maxDiff(saved, merged) / scale < 1e-5,
        "merged vs unmerged: " + maxDiff(saved, merged) + " of " + scale);

    Adapters.merge(
        dir.resolve("merged"),
        out.resolve("adapter"),
        dir.resolve("unmerged"),
        Fixtures.REGISTRY,
        true);
    float[] unmerged = Fixtures.baseLogits(dir.resolve("unmerged"));
    assertTrue(
        maxDiff(base, unmerged) / scale < 1e-5,
        "unmerge restores the base model: " + maxDiff(base, unmerged) + " of " + scale);
  }

  @Test
  void anAdapterThatDoesNotFitIsReportedByTensorName() throws Exception {
    Path out = train(spec(), dir.resolve("job"));
    Path broken = Files.createDirectories(dir.resolve("broken"));
    Files.copy(out.resolve("adapter/adapter_config.json"), broken.resolve("adapter_config.json"));
    try (SafetensorsReader adapter =
        SafetensorsReader.open(out.resolve("adapter/adapter_model.safetensors"))) {
      dev.graft.model.SafetensorsWriter writer = new dev.graft.model.SafetensorsWriter();
      for (String name : adapter.names()) {
        if (!name.equals("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight")) {
          writer.add(
              name.replace("layers.4.mlp", "layers.9.mlp"),
              adapter.info(name).shape(),
              adapter.floats(name));
        }
      }
      writer.write(broken.resolve("adapter_model.safetensors"));
    }
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                Adapters.load(
                    Fixtures.shared("models/stories260K"), broken, Fixtures.REGISTRY, false));
    assertTrue(
        e.getMessage()
            .contains(
                "missing [model.layers.0.self_attn.q_proj.lora_A.weight, model.layers.4.mlp.down_proj.lora_A.weight"),
        e.getMessage());
    assertTrue(
        e.getMessage()
            .contains("unexpected [base_model.model.model.layers.9.mlp.down_proj.lora_A.weight"),
        e.getMessage());
  }

  @Test
  void aJobCanContinueFromASavedAdapter() throws Exception {
    Path first = train(spec(), dir.resolve("first"));
    Map<String, String> again = spec();
    again.put("adapter", first.resolve("adapter").toString());
    again.put("learning_rate", "0");
    again.put("weight_decay", "0");
    again.put("max_steps", "1");
    Path second = train(again, dir.resolve("second"));
    try (SafetensorsReader in =
            SafetensorsReader.open(first.resolve("adapter/adapter_model.safetensors"));
        SafetensorsReader out =
            SafetensorsReader.open(second.resolve("adapter/adapter_model.safetensors"))) {
      assertEquals(in.names(), out.names());
      for (String name : in.names()) {
        assertArrayEquals(
            in.floats(name),
            out.floats(name),
            name + " starts from the saved adapter and, at lr 0, stays");
      }
    }
    assertTrue(
        !MatrixRow.losses(second).get(0).equals(MatrixRow.losses(dir.resolve("first")).get(0)),
        "the continued job does not start from the base model");
  }

  private static double maxDiff(float[] a, float[] b) {
    double max = 0;
    for (int i = 0; i < a.length; i++) {
      max = Math.max(max, Math.abs(a[i] - b[i]));
    }
    return max;
  }
}
