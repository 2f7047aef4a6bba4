package dev.graft.conformance;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.graft.api.model.GenerationSettings;
import dev.graft.api.model.ModelService;
import dev.graft.model.SafetensorsReader;
import dev.graft.model.Tokenizer;
import dev.graft.train.run.Adapters;
import dev.graft.train.service.ModelServiceImpl;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The shipped prompt-learning bundles, {@code prompt-tuning}, {@code p-tuning}, {@code
 * prefix-tuning} and {@code p-tuning-v2}, trained on stories260K (d = 64, 5 layers, 8 heads, 4
 * key/value heads of 8): the loss falls, the adapter is saved in PEFT's layout (one unprefixed
 * {@code prompt_embeddings} tensor and PEFT's config fields), loads back to the trained loss,
 * generates, and is refused for merging.
 */
@Tag("slow")
class PromptLearningMethodsTest {
  private static final ModelService SERVICE =
      new ModelServiceImpl(Fixtures.REGISTRY, Fixtures.BACKENDS);

  private static final String SAFETENSORS = "adapter_model.safetensors";

  @TempDir Path dir;

  @Test
  void promptTuningFromVocabularyEmbeddingsLearnsAndSavesPeftsPromptTable() throws Exception {
    Path out = assertLearnsAndLoads("prompt-tuning", Map.of("prompt_tuning_init", "SAMPLE_VOCAB"));
    JsonNode config = config(out);
    assertEquals("PROMPT_TUNING", config.get("peft_type").asText());
    assertEquals("SAMPLE_VOCAB", config.get("prompt_tuning_init").asText());
    assertPromptLearningFields(config, 64, 8);
    assertArrayEquals(new long[] {20, 64}, onlyTensor(out));
  }

  @Test
  void promptTuningFromTextStartsFromItsTokensRepeatedToLength() throws Exception {
    Path model = Fixtures.shared("models/stories260K");
    String text = "Once upon a time";
    Map<String, String> spec = Fixtures.spec(dir, "prompt-tuning", 1);
    spec.put("learning_rate", "0"); // the saved table is the initial one
    spec.put("prompt-tuning.prompt_tuning_init", "TEXT");
    spec.put("prompt-tuning.prompt_tuning_init_text", text);
    Path out = Fixtures.train(spec, dir.resolve("job"), Fixtures.REGISTRY);
    // PEFT's tokenizer(text)["input_ids"], BOS included, repeated to 20 rows.
    int[] ids = Tokenizer.load(model).encode(text, true);
    float[] expected = new float[20 * 64];
    try (SafetensorsReader base = SafetensorsReader.open(model)) {
      float[] table = base.floats("model.embed_tokens.weight"); // (512, 64)
      for (int row = 0; row < 20; row++) {
        System.arraycopy(table, ids[row % ids.length] * 64, expected, row * 64, 64);
      }
    }
    try (SafetensorsReader adapter =
        SafetensorsReader.open(out.resolve("adapter/adapter_model.safetensors"))) {
      assertArrayEquals(expected, adapter.floats("prompt_embeddings"));
    }
    JsonNode config = config(out);
    assertEquals(text, config.get("prompt_tuning_init_text").asText());
    assertEquals(model.toString(), config.get("tokenizer_name_or_path").asText());
  }

  @Test
  void prefixTuningLearnsAndSavesOneTableOfEveryLayersKeysAndValues() throws Exception {
    Path out = assertLearnsAndLoads("prefix-tuning", Map.of());
    JsonNode config = config(out);
    assertEquals("PREFIX_TUNING", config.get("peft_type").asText());
    assertFalse(config.get("prefix_projection").asBoolean());
    // PEFT's GQA rewrite: token_dim and heads are the key/value heads'.
    assertPromptLearningFields(config, 4 * 8, 4);
    assertArrayEquals(new long[] {20, 5 * 2 * 32}, onlyTensor(out), "(n, L·2·token_dim)");
  }

  @Test
  void prefixProjectionIsFoldedIntoTheSavedTableAndLoadsToTheTrainedLoss() throws Exception {
    Path out =
        assertLearnsAndLoads(
            "prefix-tuning", Map.of("prefix_projection", "true", "encoder_hidden_size", "16"));
    JsonNode config = config(out);
    assertTrue(config.get("prefix_projection").asBoolean());
    assertEquals(16, config.get("encoder_hidden_size").asInt());
    assertArrayEquals(new long[] {20, 5 * 2 * 32}, onlyTensor(out), "the MLP's output only");
  }

  @Test
  void aPeftMadeProjectedPrefixAdapterLoadsThroughItsPeftTypeAlone() throws Exception {
    Map<String, String> spec = Fixtures.spec(dir, "prefix-tuning", 2);
    spec.put("prefix-tuning.prefix_projection", "true");
    Path adapter = Fixtures.train(spec, dir.resolve("job"), Fixtures.REGISTRY).resolve("adapter");
    Path model = Fixtures.shared("models/stories260K");
    Path data = Path.of(spec.get("data"));
    double graft = VirtualTokensAndPrefixesTest.evaluate(SERVICE, model, adapter, data);
    // As PEFT writes it: no graft_methods, so peft_type PREFIX_TUNING picks the method.
    ObjectNode config = (ObjectNode) config(adapter.getParent());
    config.remove("graft_methods");
    new ObjectMapper().writeValue(adapter.resolve("adapter_config.json").toFile(), config);
    assertEquals(graft, VirtualTokensAndPrefixesTest.evaluate(SERVICE, model, adapter, data), 0);
  }

  @Test
  void pTuningWithItsMlpEncoderSavesTheEncodersOutputAsPeftsPromptTable() throws Exception {
    Path out = assertLearnsAndLoads("p-tuning", Map.of());
    JsonNode config = config(out);
    assertEquals("P_TUNING", config.get("peft_type").asText());
    assertEquals("MLP", config.get("encoder_reparameterization_type").asText());
    assertEquals(64, config.get("encoder_hidden_size").asInt(), "token_dim by default");
    assertEquals(2, config.get("encoder_num_layers").asInt());
    assertEquals(0.0, config.get("encoder_dropout").asDouble());
    assertPromptLearningFields(config, 64, 8);
    assertArrayEquals(new long[] {20, 64}, onlyTensor(out), "the encoder's output only");
  }

  @Test
  void pTuningWithItsBidirectionalLstmEncoderLearnsAndLoadsToTheTrainedLoss() throws Exception {
    Path out =
        assertLearnsAndLoads(
            "p-tuning",
            Map.of("encoder_reparameterization_type", "LSTM", "encoder_hidden_size", "16"));
    assertEquals("LSTM", config(out).get("encoder_reparameterization_type").asText());
    assertArrayEquals(new long[] {20, 64}, onlyTensor(out), "the encoder's output only");
  }

  @Test
  void aPeftMadePTuningAdapterLoadsThroughItsPeftTypeAlone() throws Exception {
    Map<String, String> spec = Fixtures.spec(dir, "p-tuning", 2);
    Path adapter = Fixtures.train(spec, dir.resolve("job"), Fixtures.REGISTRY).resolve("adapter");
    Path model = Fixtures.shared("models/stories260K");
    Path data = Path.of(spec.get("data"));
    double graft = VirtualTokensAndPrefixesTest.evaluate(SERVICE, model, adapter, data);
    // As PEFT writes it: no graft_methods, so peft_type P_TUNING picks the method.
    ObjectNode config = (ObjectNode) config(adapter.getParent());
    config.remove("graft_methods");
    new ObjectMapper().writeValue(adapter.resolve("adapter_config.json").toFile(), config);
    assertEquals(graft, VirtualTokensAndPrefixesTest.evaluate(SERVICE, model, adapter, data), 0);
  }

  @Test
  void aSavedPTuningAdapterTrainsOnAsItsPlainTable() throws Exception {
    Map<String, String> spec = Fixtures.spec(dir, "p-tuning", 2);
    Path first = Fixtures.train(spec, dir.resolve("first"), Fixtures.REGISTRY).resolve("adapter");
    Map<String, String> more = Fixtures.spec(dir, "p-tuning", 2);
    more.put("adapter", first.toString());
    more.put("learning_rate", "3e-2");
    Path out = Fixtures.train(more, dir.resolve("more"), Fixtures.REGISTRY);
    try (SafetensorsReader before = SafetensorsReader.open(first.resolve(SAFETENSORS));
        SafetensorsReader after =
            SafetensorsReader.open(out.resolve("adapter").resolve(SAFETENSORS))) {
      assertEquals(List.of("prompt_embeddings"), List.copyOf(after.names()));
      assertFalse(
          java.util.Arrays.equals(
              before.floats("prompt_embeddings"), after.floats("prompt_embeddings")),
          "the table trained on");
    }
  }

  @Test
  void pTuningV2SavesPeftsPrefixTuningAdapterAndLoadsBackAsItself() throws Exception {
    Path out = assertLearnsAndLoads("p-tuning-v2", Map.of());
    JsonNode config = config(out);
    assertEquals("PREFIX_TUNING", config.get("peft_type").asText());
    assertFalse(config.get("prefix_projection").asBoolean(), "no reparameterisation by default");
    assertPromptLearningFields(config, 4 * 8, 4);
    assertEquals("p-tuning-v2", config.get("graft_methods").get(0).get("name").asText());
    assertArrayEquals(new long[] {20, 5 * 2 * 32}, onlyTensor(out), "(n, L·2·token_dim)");
  }

  @Test
  void aPromptTuningAdapterIsRefusedForMergingWithTheReason() throws Exception {
    Path out =
        Fixtures.train(
            Fixtures.spec(dir, "prompt-tuning", 1), dir.resolve("job"), Fixtures.REGISTRY);
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                Adapters.merge(
                    Fixtures.shared("models/stories260K"),
                    out.resolve("adapter"),
                    dir.resolve("merged"),
                    Fixtures.REGISTRY,
                    false));
    assertTrue(
        e.getMessage()
            .endsWith(
                "(method prompt-tuning): Prompt tuning cannot be merged: its virtual tokens"
                    + " lengthen the input, which no change of the model's weights reproduces; load"
                    + " the adapter with --adapter instead."),
        e.getMessage());
  }

  /**
   * Twelve steps on one batch of all eight stories at prompt tuning's learning rate: the loss falls
   * by more than 0.2, the saved adapter evaluates to the loss after the twelfth update, and greedy
   * generation with it (KV cache) runs. Returns the job's output folder.
   */
  private Path assertLearnsAndLoads(String method, Map<String, String> options) throws Exception {
    Map<String, String> spec = Fixtures.spec(dir, method, 12);
    spec.put("per_device_train_batch_size", "8");
    spec.put("learning_rate", "3e-2");
    options.forEach((k, v) -> spec.put(method + "." + k, v));
    List<Double> losses = GoldenCurveTest.losses(spec, 13);
    assertTrue(losses.get(12) < losses.get(0) - 0.2, "losses " + losses);

    Path out = Fixtures.train(spec, dir.resolve("job"), Fixtures.REGISTRY);
    Path model = Fixtures.shared("models/stories260K");
    Path adapter = out.resolve("adapter");
    double loss =
        VirtualTokensAndPrefixesTest.evaluate(SERVICE, model, adapter, Path.of(spec.get("data")));
    assertEquals(losses.get(12), loss, 1e-4);
    String completion =
        SERVICE.generate(model, adapter, "Once upon a time", GenerationSettings.greedy(20));
    assertFalse(completion.isBlank(), completion);
    return out;
  }

  /** PEFT's PromptLearningConfig fields, auto-filled from the model. */
  private static void assertPromptLearningFields(JsonNode config, int tokenDim, int heads) {
    assertEquals("CAUSAL_LM", config.get("task_type").asText());
    assertEquals(20, config.get("num_virtual_tokens").asInt());
    assertEquals(tokenDim, config.get("token_dim").asInt());
    assertEquals(1, config.get("num_transformer_submodules").asInt());
    assertEquals(heads, config.get("num_attention_heads").asInt());
    assertEquals(5, config.get("num_layers").asInt());
    assertTrue(config.get("inference_mode").asBoolean());
  }

  /** The shape of the adapter's one tensor, which must be PEFT's unprefixed prompt_embeddings. */
  private static long[] onlyTensor(Path out) throws Exception {
    try (SafetensorsReader adapter =
        SafetensorsReader.open(out.resolve("adapter/adapter_model.safetensors"))) {
      assertEquals(List.of("prompt_embeddings"), List.copyOf(adapter.names()));
      return adapter.info("prompt_embeddings").shape();
    }
  }

  private static JsonNode config(Path out) throws Exception {
    return new ObjectMapper().readTree(out.resolve("adapter/adapter_config.json").toFile());
  }
}
