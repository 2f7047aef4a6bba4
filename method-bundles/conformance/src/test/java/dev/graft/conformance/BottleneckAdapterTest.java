package dev.graft.conformance;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.model.SafetensorsReader;
import dev.graft.train.run.Adapters;
import dev.graft.train.run.SftRun;
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
 * The {@code adapter} method on stories260K (d = 64, 5 blocks): AdapterHub's parameter count, key
 * names and config, its inits against the base model, and Pfeiffer's placement. The matrix rows
 * (save → load, only trainables change, merge refused, GPT-2) come from {@link MethodMatrixTest}.
 */
class BottleneckAdapterTest {
  @TempDir Path dir;

  /** The adapter folder of a job of {@code steps} steps with these adapter options. */
  private Path adapter(int steps, Map<String, String> options) throws Exception {
    Map<String, String> spec = Fixtures.spec(dir, "adapter", steps);
    options.forEach((k, v) -> spec.put("adapter." + k, v));
    Path out = Files.createDirectories(dir.resolve("out"));
    if (steps == 0) {
      spec.put("max_steps", "1");
      try (SftRun run = MatrixRow.run(spec)) {
        run.finish(out);
      }
      return out;
    }
    return Fixtures.train(spec, out, Fixtures.REGISTRY);
  }

  /** The logits at init relative to the base model's: the largest difference over the largest. */
  private double differenceAtInit(String init) throws Exception {
    Path out = adapter(0, Map.of("init_weights", init));
    Path base = Fixtures.shared("models/stories260K");
    return MatrixRow.relativeDiff(MatrixRow.load(out, base).logits(), Fixtures.baseLogits(base));
  }

  /** Houlsby: 2 adapters × 5 blocks × (2·d·m + m + d) with m = d/16 = 4: 10 · (512 + 68). */
  @Test
  void houlsbyAtReduction16TrainsTwoLTimesTwoDMPlusMPlusDParameters() throws Exception {
    Path out = adapter(1, Map.of());
    long total = 0;
    try (SafetensorsReader weights =
        SafetensorsReader.open(out.resolve("adapter/adapter.safetensors"))) {
      for (String name : weights.names()) {
        long n = 1;
        for (long d : weights.info(name).shape()) {
          n *= d;
        }
        total += n;
      }
    }
    int d = 64;
    int layers = 5;
    assertEquals(2L * layers * (2L * d * d / 16 + d / 16 + d), total);
  }

  @Test
  void theAdapterIsSavedUnderAdapterHubsKeyNames() throws Exception {
    Path out = adapter(1, Map.of());
    try (SafetensorsReader weights =
        SafetensorsReader.open(out.resolve("adapter/adapter.safetensors"))) {
      String p = "model.layers.4.attention_adapters.adapters.default.";
      assertArrayEquals(new long[] {4, 64}, weights.info(p + "adapter_down.0.weight").shape());
      assertArrayEquals(new long[] {4}, weights.info(p + "adapter_down.0.bias").shape());
      assertArrayEquals(new long[] {64, 4}, weights.info(p + "adapter_up.weight").shape());
      assertArrayEquals(
          new long[] {64},
          weights.info("model.layers.0.output_adapters.adapters.default.adapter_up.bias").shape());
      assertEquals(40, weights.names().size(), "5 blocks × 2 adapters × 4 tensors");
    }
  }

  @Test
  void theConfigIsAdapterHubsDoubleSeqBn() throws Exception {
    Path out = adapter(1, Map.of());
    JsonNode config =
        new ObjectMapper().readTree(out.resolve("adapter/adapter_config.json").toFile());
    JsonNode bn = config.get("config");
    assertEquals("bottleneck", bn.get("architecture").asText());
    assertTrue(bn.get("mh_adapter").asBoolean());
    assertTrue(bn.get("output_adapter").asBoolean());
    assertEquals(16.0, bn.get("reduction_factor").asDouble());
    assertEquals("swish", bn.get("non_linearity").asText());
    assertEquals("bert", bn.get("init_weights").asText());
    assertEquals("llama", config.get("model_type").asText());
    assertEquals(64, config.get("hidden_size").asInt());
    assertEquals("default", config.get("name").asText());
    assertTrue(config.get("version").asText().startsWith("adapters."));
  }

  @Test
  void mamAdapterInitStartsExactlyAtTheBaseModel() throws Exception {
    assertTrue(differenceAtInit("mam_adapter") < 1e-6);
  }

  /** AdapterHub's houlsby init is near-identity, not identity: its up projection is not zero. */
  @Test
  void houlsbyInitStartsWithinAPercentOfTheBaseModel() throws Exception {
    double diff = differenceAtInit("houlsby");
    assertTrue(diff > 1e-6 && diff < 1e-2, "relative difference " + diff);
  }

  @Test
  void pfeifferPutsOneAdapterAfterEachMlpOnly() throws Exception {
    Path out = adapter(1, Map.of("config", "pfeiffer", "leave_out", "0,1"));
    Set<String> names;
    try (SafetensorsReader weights =
        SafetensorsReader.open(out.resolve("adapter/adapter.safetensors"))) {
      names = new TreeSet<>(weights.names());
    }
    assertEquals(12, names.size(), "3 blocks × 4 tensors: " + names);
    assertTrue(names.stream().allMatch(n -> n.contains(".output_adapters.")), names.toString());
    assertTrue(names.stream().noneMatch(n -> n.startsWith("model.layers.0.")), names.toString());
    JsonNode bn =
        new ObjectMapper()
            .readTree(out.resolve("adapter/adapter_config.json").toFile())
            .get("config");
    assertEquals("relu", bn.get("non_linearity").asText());
    assertTrue(bn.get("original_ln_before").asBoolean());
    assertEquals("[0,1]", bn.get("leave_out").toString());
  }

  /**
   * tools/bottleneck_reference.py computes stories260K with AdapterHub's placement in plain PyTorch
   * and writes the adapter it drew (AdapterHub's layout) and the logits it got.
   */
  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"houlsby", "pfeiffer"})
  void theAdaptedLogitsMatchAnIndependentPyTorchReference(String config) throws Exception {
    Path adapter = Path.of(getClass().getResource("/bottleneck/" + config).toURI());
    Adapters.Adapted adapted =
        Adapters.load(Fixtures.shared("models/stories260K"), adapter, Fixtures.REGISTRY, false);
    float[] logits = Fixtures.logits(adapted.model(), adapted.weights());
    JsonNode expected = new ObjectMapper().readTree(adapter.resolve("logits.json").toFile());
    assertEquals(expected.size(), logits.length);
    for (int i = 0; i < logits.length; i++) {
      assertEquals(expected.get(i).asDouble(), logits[i], 1e-4, "logit " + i);
    }
  }

  @Test
  void trainLayerNormsSavesTheNormWeightsBesideTheAdapters() throws Exception {
    Path out = adapter(1, Map.of("train_layer_norms", "true"));
    try (SafetensorsReader weights =
        SafetensorsReader.open(out.resolve("adapter/adapter.safetensors"))) {
      assertTrue(weights.names().contains("model.layers.2.post_attention_layernorm.weight"));
      assertTrue(weights.names().contains("model.norm.weight"));
    }
  }
}
