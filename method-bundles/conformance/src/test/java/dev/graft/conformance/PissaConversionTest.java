package dev.graft.conformance;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.graft.model.SafetensorsReader;
import dev.graft.train.run.Adapters;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * PiSSA's {@code pissa_convert=true}: the same two training steps as the default (the option only
 * changes saving) saved as PEFT's plain LoRA adapter of rank 2r on the original W, which loads with
 * the trained model's logits up to float32 rounding, also as plain LoRA (PEFT's view), and merges
 * and unmerges exactly.
 */
class PissaConversionTest {
  @TempDir static Path dir;
  private static Path residual;
  private static Path converted;

  @BeforeAll
  static void train() throws Exception {
    residual = train("false");
    converted = train("true");
  }

  private static Path train(String convert) throws Exception {
    Path job = Files.createDirectories(dir.resolve("convert-" + convert));
    Map<String, String> spec = Fixtures.spec(job, "pissa", 2);
    spec.put("save_steps", "2");
    spec.put("pissa.pissa_convert", convert);
    return Fixtures.train(spec, job.resolve("out"), Fixtures.REGISTRY).resolve("adapter");
  }

  private static float[] logits(Path adapter) {
    Adapters.Adapted a =
        Adapters.load(Fixtures.shared("models/stories260K"), adapter, Fixtures.REGISTRY, false);
    return Fixtures.logits(a.model(), a.weights());
  }

  @Test
  void theConvertedAdapterIsPeftsLoraOfRankTwoRWithTheSameScale() throws Exception {
    var config = new ObjectMapper().readTree(converted.resolve("adapter_config.json").toFile());
    assertEquals(16, config.get("r").asInt(), "2 × r = 8");
    assertEquals(16.0, config.get("lora_alpha").asDouble(), "2 × lora_alpha = 8: s stays 1");
    assertEquals(true, config.get("init_lora_weights").asBoolean());
    try (SafetensorsReader adapter =
        SafetensorsReader.open(converted.resolve("adapter_model.safetensors"))) {
      assertArrayEquals(
          new long[] {16, 64},
          adapter.info("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight").shape());
      assertArrayEquals(
          new long[] {32, 16},
          adapter.info("base_model.model.model.layers.4.self_attn.v_proj.lora_B.weight").shape());
    }
  }

  /** The residual form loads bit-exact (the matrix checks it); the converted form rounds once. */
  @Test
  void theConvertedAdapterGivesTheTrainedLogitsOnTheOriginalWeights() {
    double diff = MatrixRow.relativeDiff(logits(converted), logits(residual));
    assertTrue(diff < 1e-5, "converted vs residual form: " + diff);
  }

  @Test
  void asPlainLoraWithoutGraftsRecordTheConvertedAdapterGivesTheSameLogits() throws Exception {
    Path peft = Files.createDirectories(dir.resolve("peft-view"));
    ObjectMapper json = new ObjectMapper();
    ObjectNode config =
        (ObjectNode) json.readTree(converted.resolve("adapter_config.json").toFile());
    config.remove("graft_methods");
    json.writeValue(peft.resolve("adapter_config.json").toFile(), config);
    Files.copy(
        converted.resolve("adapter_model.safetensors"), peft.resolve("adapter_model.safetensors"));
    double diff = MatrixRow.relativeDiff(logits(peft), logits(converted));
    assertTrue(diff < 1e-6, "plain LoRA vs pissa's converted form: " + diff);
  }

  @Test
  void theConvertedAdapterMergesAndUnmergesExactly() throws Exception {
    Path model = Fixtures.shared("models/stories260K");
    Path merged = dir.resolve("merged");
    Adapters.merge(model, converted, merged, Fixtures.REGISTRY, false);
    assertTrue(
        MatrixRow.relativeDiff(Fixtures.baseLogits(merged), logits(converted)) < 1e-5, "merged");
    Path unmerged = dir.resolve("unmerged");
    Adapters.merge(merged, converted, unmerged, Fixtures.REGISTRY, true);
    assertTrue(
        MatrixRow.relativeDiff(Fixtures.baseLogits(unmerged), Fixtures.baseLogits(model)) < 1e-5,
        "unmerged");
  }
}
