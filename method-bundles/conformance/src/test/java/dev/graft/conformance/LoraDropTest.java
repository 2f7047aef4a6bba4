package dev.graft.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.model.SafetensorsReader;
import dev.graft.model.SafetensorsWriter;
import dev.graft.train.job.JobSpec;
import dev.graft.train.run.SftRun;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * LoRA-drop on a stories260K whose block {@value #LOUD} gets inputs ten times as large (its input
 * RMSNorm weight × 10): the LoRA outputs ‖s·B·A·x‖² of that block dwarf the others', so it is the
 * one block that keeps its own LoRA at ratio 0.9, and the other four share one.
 */
class LoraDropTest {
  private static final int LOUD = 3;

  @TempDir static Path dir;
  private static Path out;
  private static final List<String> LOG = new ArrayList<>();

  @BeforeAll
  static void train() throws Exception {
    Path base = Fixtures.shared("models/stories260K");
    Path model = Files.createDirectories(dir.resolve("loud"));
    for (String file : List.of("config.json", "tokenizer.json", "tokenizer_config.json")) {
      Files.copy(base.resolve(file), model.resolve(file));
    }
    String norm = "model.layers." + LOUD + ".input_layernorm.weight";
    try (SafetensorsReader reader = SafetensorsReader.open(base)) {
      SafetensorsWriter writer = new SafetensorsWriter();
      for (String name : reader.names()) {
        float[] v = reader.floats(name);
        if (name.equals(norm)) {
          for (int i = 0; i < v.length; i++) {
            v[i] *= 10;
          }
        }
        writer.add(name, reader.info(name).shape(), v);
      }
      writer.write(model.resolve("model.safetensors"));
    }
    Map<String, String> spec = Fixtures.spec(dir, "lora-drop", 2);
    spec.put("model", model.toString());
    spec.put("lora-drop.lora_drop_warmup_steps", "4");
    spec.put("lora-drop.lora_drop_samples", "2");
    out = Files.createDirectories(dir.resolve("out"));
    try (SftRun run =
        new SftRun(
            JobSpec.parse(spec, Fixtures.REGISTRY), Fixtures.REGISTRY, Fixtures.cpu(), LOG::add)) {
      run.step(0);
      run.step(1);
      run.finish(out);
    }
  }

  private static JsonNode config() throws Exception {
    return new ObjectMapper().readTree(out.resolve("adapter/adapter_config.json").toFile());
  }

  @Test
  void theBlockWithTheLargestLoraOutputIsTheOneThatKeepsItsOwnLora() throws Exception {
    JsonNode config = config();
    assertEquals("[" + LOUD + "]", config.path("lora_drop_layers").toString());
    JsonNode importances = config.path("lora_drop_importances");
    assertTrue(importances.path(Integer.toString(LOUD)).asDouble() > 0.9, importances.toString());
  }

  @Test
  void theOtherBlocksShareOneLoraPerModuleName() throws Exception {
    Set<String> keys;
    try (SafetensorsReader adapter =
        SafetensorsReader.open(out.resolve("adapter/adapter_model.safetensors"))) {
      keys = new TreeSet<>(adapter.names());
    }
    String p = "base_model.model.";
    assertEquals(
        new TreeSet<>(
            List.of(
                p + "lora_drop_shared.q_proj.lora_A.weight",
                p + "lora_drop_shared.q_proj.lora_B.weight",
                p + "lora_drop_shared.v_proj.lora_A.weight",
                p + "lora_drop_shared.v_proj.lora_B.weight",
                p + "model.layers." + LOUD + ".self_attn.q_proj.lora_A.weight",
                p + "model.layers." + LOUD + ".self_attn.q_proj.lora_B.weight",
                p + "model.layers." + LOUD + ".self_attn.v_proj.lora_A.weight",
                p + "model.layers." + LOUD + ".self_attn.v_proj.lora_B.weight")),
        keys);
  }

  @Test
  void theJobLogNamesTheChosenLayersWithTheirImportances() {
    assertTrue(
        LOG.stream()
            .anyMatch(l -> l.startsWith("LoRA-drop keeps its own LoRA on layers " + LOUD + " (")),
        LOG.toString());
  }

  @Test
  void theAdapterCarriesTheMeasurementThatLoadingReplays() {
    assertTrue(Files.isRegularFile(out.resolve("adapter/calibration.json")));
  }
}
