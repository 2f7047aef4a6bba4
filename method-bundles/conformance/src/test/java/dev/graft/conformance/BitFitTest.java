package dev.graft.conformance;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.model.SafetensorsReader;
import dev.graft.train.run.Adapters;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The {@code bitfit} method: on stories260K (a Llama without biases, d = 64, 5 blocks, 4 key/value
 * heads of 8, MLP 172) it adds zero biases, trains only them and merges them as real biases; on the
 * tiny GPT-2 it trains the biases the model has. Composition with other methods is here too.
 */
class BitFitTest {
  @TempDir Path dir;

  private Map<String, String> spec(String methods, Map<String, String> options, Path model)
      throws Exception {
    Map<String, String> spec = Fixtures.spec(dir, methods, 2);
    spec.put("model", model.toString());
    spec.put("save_steps", "2");
    spec.putAll(options);
    return spec;
  }

  private Path train(String methods, Map<String, String> options, Path model) throws Exception {
    return Fixtures.train(spec(methods, options, model), dir.resolve("out"), Fixtures.REGISTRY);
  }

  /** The error the job's run gives when it is built. */
  private IllegalArgumentException refused(Map<String, String> options, Path model)
      throws Exception {
    Map<String, String> spec = spec("bitfit", options, model);
    return assertThrows(IllegalArgumentException.class, () -> MatrixRow.run(spec).close());
  }

  private static Path stories() {
    return Fixtures.shared("models/stories260K");
  }

  private static Set<String> keys(Path out) throws Exception {
    try (SafetensorsReader adapter =
        SafetensorsReader.open(out.resolve("adapter/adapter_model.safetensors"))) {
      return new TreeSet<>(adapter.names());
    }
  }

  /** q 64 + k 32 + v 32 + o 64 + gate 172 + up 172 + down 64 = 600 per block. */
  @Test
  void onLlamaEveryLinearOfEveryBlockGetsATrainedBias() throws Exception {
    Path out = train("bitfit", Map.of(), stories());
    long total = 0;
    try (SafetensorsReader adapter =
        SafetensorsReader.open(out.resolve("adapter/adapter_model.safetensors"))) {
      for (String name : adapter.names()) {
        assertTrue(name.endsWith(".bias"), name);
        total += adapter.info(name).shape()[0];
      }
      assertArrayEquals(
          new long[] {32}, adapter.info("model.layers.3.self_attn.k_proj.bias").shape());
    }
    assertEquals(5 * 600, total);
  }

  @Test
  void aSubsetTrainsOnlyItsBiases() throws Exception {
    Set<String> keys = keys(train("bitfit", Map.of("bitfit.biases", "query,mlp_out"), stories()));
    assertEquals(10, keys.size(), keys.toString());
    assertTrue(keys.contains("model.layers.0.self_attn.q_proj.bias"), keys.toString());
    assertTrue(keys.contains("model.layers.4.mlp.down_proj.bias"), keys.toString());
  }

  @Test
  void withoutAddMissingAModelWithoutBiasesIsRefusedInOneSentence() throws Exception {
    IllegalArgumentException e = refused(Map.of("bitfit.add_missing", "false"), stories());
    assertTrue(e.getMessage().startsWith("The model has no biases"), e.getMessage());
  }

  @Test
  void mergingOnLlamaWritesTheAddedBiasesAndDeclaresThemInConfigJson() throws Exception {
    Path out = train("bitfit", Map.of(), stories());
    Path merged = dir.resolve("merged");
    Adapters.merge(stories(), out.resolve("adapter"), merged, Fixtures.REGISTRY, false);
    JsonNode config = new ObjectMapper().readTree(merged.resolve("config.json").toFile());
    assertTrue(config.get("attention_bias").asBoolean());
    assertTrue(config.get("mlp_bias").asBoolean());
    try (SafetensorsReader adapter =
            SafetensorsReader.open(out.resolve("adapter/adapter_model.safetensors"));
        SafetensorsReader model = SafetensorsReader.open(merged)) {
      String bias = "model.layers.2.mlp.up_proj.bias";
      assertArrayEquals(adapter.floats(bias), model.floats(bias));
    }
  }

  @Test
  void onGpt2TheModelsOwnBiasesTrainUnderTheirOwnNames() throws Exception {
    Path gpt2 = TinyGpt2.write(Files.createDirectories(dir.resolve("gpt2")));
    Set<String> keys = keys(train("bitfit", Map.of("bitfit.biases", "all"), gpt2));
    assertTrue(keys.contains("transformer.h.0.attn.c_attn.bias"), keys.toString());
    assertTrue(keys.contains("transformer.h.0.ln_1.bias"), keys.toString());
    assertTrue(keys.stream().allMatch(k -> k.endsWith(".bias")), keys.toString());
  }

  @Test
  void onGpt2QueryAloneIsRefusedBecauseCAttnHoldsQueryKeyAndValueInOneBias() throws Exception {
    Path gpt2 = TinyGpt2.write(Files.createDirectories(dir.resolve("gpt2")));
    IllegalArgumentException e = refused(Map.of("bitfit.biases", "query"), gpt2);
    assertTrue(e.getMessage().contains("c_attn"), e.getMessage());
  }

  /** LoRA plus trained biases: PEFT's bias="all", keys prefixed as PEFT saves them. */
  @Test
  void loraWithBitfitSavesLoraAndTheBiasesInOnePeftAdapter() throws Exception {
    Path out = train("lora,bitfit", Map.of(), stories());
    Set<String> keys = keys(out);
    assertTrue(
        keys.contains("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"),
        keys.toString());
    assertTrue(keys.contains("base_model.model.model.layers.0.mlp.up_proj.bias"), keys.toString());
    JsonNode config =
        new ObjectMapper().readTree(out.resolve("adapter/adapter_config.json").toFile());
    assertEquals("LORA", config.get("peft_type").asText());
    assertEquals("all", config.get("bias").asText());
    AdapterRoundTripTest.assertRoundTrip(
        Fixtures.spec(dir, "lora,bitfit", 2), out, Fixtures.REGISTRY, stories());
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"bitfit,instruction-tuning", "adapter,instruction-tuning"})
  void composesWithInstructionTuningAndLoadsBackExactly(String methods) throws Exception {
    Path out = train(methods, Map.of(), stories());
    AdapterRoundTripTest.assertRoundTrip(
        Fixtures.spec(dir, methods, 2), out, Fixtures.REGISTRY, stories());
  }
}
