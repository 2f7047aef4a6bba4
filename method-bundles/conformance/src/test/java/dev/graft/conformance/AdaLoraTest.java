package dev.graft.conformance;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.model.SafetensorsReader;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An AdaLoRA job on stories260K saves PEFT's ADALORA adapter: the rank pattern of the last
 * allocation and the tensors sliced to it, with as many singular values kept as PEFT's cubic budget
 * allows at the last step.
 */
class AdaLoraTest {
  @TempDir Path dir;

  @Test
  void fourStepsSaveTheRankPatternOfTheCubicBudgetAndTensorsSlicedToIt() throws Exception {
    Map<String, String> spec = Fixtures.spec(dir, "adalora", 4);
    Path out = Fixtures.train(spec, dir.resolve("job"), Fixtures.REGISTRY);
    JsonNode config =
        new ObjectMapper().readTree(out.resolve("adapter/adapter_config.json").toFile());
    assertEquals("ADALORA", config.get("peft_type").asText());
    assertEquals(4, config.get("total_step").asInt(), "total_step defaults to the job's steps");
    // q_proj and v_proj of 5 blocks at init_r 12: 120 singular values, target 8 × 10 = 80.
    // The last hook is PEFT's global_step 3: int(40 · (1 − 3/4)³ + 80) = 80.
    int budget = (int) (40 * Math.pow(1 - 3 / 4.0, 3) + 80);
    JsonNode pattern = config.get("rank_pattern");
    assertEquals(10, pattern.size());
    int kept = 0;
    try (SafetensorsReader adapter =
        SafetensorsReader.open(out.resolve("adapter/adapter_model.safetensors"))) {
      for (Iterator<Map.Entry<String, JsonNode>> it = pattern.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> layer = it.next();
        assertEquals(12, layer.getValue().size(), layer.getKey());
        int rank = 0;
        for (JsonNode k : layer.getValue()) {
          rank += k.asBoolean() ? 1 : 0;
        }
        kept += rank;
        String module = "base_model.model." + layer.getKey().replace(".lora_E", "");
        assertArrayEquals(new long[] {rank, 64}, adapter.info(module + ".lora_A").shape());
        assertArrayEquals(new long[] {rank, 1}, adapter.info(module + ".lora_E").shape());
        long out0 = adapter.info(module + ".lora_B").shape()[0];
        assertArrayEquals(new long[] {out0, rank}, adapter.info(module + ".lora_B").shape());
      }
    }
    assertEquals(budget, kept, "singular values kept after the last allocation");
  }
}
