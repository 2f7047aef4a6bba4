package dev.graft.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelConfigTest {

  @TempDir Path dir;

  private static final String GPT2 =
      "{\"architectures\": [\"GPT2LMHeadModel\"], \"model_type\": \"gpt2\", \"n_embd\": 8,"
          + " \"n_layer\": 2, \"n_head\": 2, \"n_positions\": 16, \"n_inner\": null,"
          + " \"vocab_size\": 10, \"activation_function\": \"gelu_new\","
          + " \"layer_norm_epsilon\": 1e-05}";

  private ModelConfig config(String json) throws IOException {
    Files.writeString(dir.resolve("config.json"), json);
    return ModelConfig.read(dir);
  }

  @Test
  void readsTheStoriesLlamaConfig() throws IOException {
    ModelConfig c = ModelConfig.read(Shared.path("models/stories260K"));
    assertEquals(Architecture.LLAMA, c.architecture());
    assertEquals("llama", c.modelType());
    assertEquals(64, c.hiddenSize());
    assertEquals(172, c.intermediateSize());
    assertEquals(5, c.numHiddenLayers());
    assertEquals(8, c.numAttentionHeads());
    assertEquals(4, c.numKeyValueHeads());
    assertEquals(8, c.headDim());
    assertEquals(512, c.vocabSize());
    assertEquals(512, c.maxPositionEmbeddings());
    assertEquals(1e-5, c.normEps());
    assertEquals(10000.0, c.ropeTheta());
    assertNull(c.ropeScaling());
    assertTrue(c.tieWordEmbeddings());
    assertEquals("silu", c.hiddenAct());
    assertFalse(c.qkvBias());
    assertEquals(1, c.bosTokenId());
    assertEquals(List.of(2), c.eosTokenIds());
  }

  @Test
  void mapsGpt2NamesAndDefaultsTheInnerWidth() throws IOException {
    ModelConfig c = config(GPT2);
    assertEquals(Architecture.GPT2, c.architecture());
    assertEquals(8, c.hiddenSize());
    assertEquals(32, c.intermediateSize());
    assertEquals(2, c.numKeyValueHeads());
    assertEquals(4, c.headDim());
    assertEquals(16, c.maxPositionEmbeddings());
    assertEquals("gelu_new", c.hiddenAct());
    assertTrue(c.tieWordEmbeddings());
    assertEquals(List.of(50256), c.eosTokenIds());
    assertArrayEquals(
        new long[] {8, 24}, c.expectedTensors().get("transformer.h.1.attn.c_attn.weight"));
    assertArrayEquals(
        new long[] {32, 8}, c.expectedTensors().get("transformer.h.0.mlp.c_proj.weight"));
  }

  @Test
  void acceptsGpt2CheckpointsWithoutPrefixAndWithAttentionBuffers() throws IOException {
    ModelConfig c = config(GPT2);
    SafetensorsWriter w = new SafetensorsWriter();
    c.expectedTensors()
        .forEach(
            (name, shape) ->
                w.add(
                    name.substring("transformer.".length()),
                    shape,
                    new float[(int) java.util.Arrays.stream(shape).reduce(1, (a, b) -> a * b)]));
    w.add("h.0.attn.bias", new long[] {1, 1, 16, 16}, new float[256]);
    Path file = dir.resolve("model.safetensors");
    w.write(file);
    try (SafetensorsReader r = SafetensorsReader.open(file)) {
      c.check(r);
      assertEquals("wte.weight", c.nameIn(r, "transformer.wte.weight"));
    }
  }

  @Test
  void readsLlama3RopeScalingAndQwen2Biases() throws IOException {
    ModelConfig llama =
        config(
            "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 64,"
                + " \"intermediate_size\": 128, \"num_hidden_layers\": 1, \"num_attention_heads\": 4,"
                + " \"num_key_value_heads\": 2, \"vocab_size\": 100, \"rope_theta\": 500000.0,"
                + " \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 32.0,"
                + " \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0,"
                + " \"original_max_position_embeddings\": 8192}, \"eos_token_id\": [128001, 128009]}");
    assertEquals(new ModelConfig.RopeScaling("llama3", 32.0, 1.0, 4.0, 8192), llama.ropeScaling());
    assertEquals(List.of(128001, 128009), llama.eosTokenIds());
    assertTrue(llama.expectedTensors().containsKey("lm_head.weight"));
    ModelConfig qwen =
        config(
            "{\"architectures\": [\"Qwen2ForCausalLM\"], \"hidden_size\": 64,"
                + " \"intermediate_size\": 128, \"num_hidden_layers\": 1, \"num_attention_heads\": 4,"
                + " \"num_key_value_heads\": 2, \"vocab_size\": 100, \"tie_word_embeddings\": true}");
    Map<String, long[]> t = qwen.expectedTensors();
    assertArrayEquals(new long[] {32}, t.get("model.layers.0.self_attn.k_proj.bias"));
    assertFalse(t.containsKey("model.layers.0.self_attn.o_proj.bias"));
    assertFalse(t.containsKey("lm_head.weight"));
  }

  @Test
  void anUnknownArchitectureListsTheSupportedOnes() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> config("{\"architectures\": [\"BertForMaskedLM\"], \"hidden_size\": 8}"));
    assertEquals(
        "config.json: Unsupported architecture \"BertForMaskedLM\". Supported: LlamaForCausalLM,"
            + " MistralForCausalLM, Qwen2ForCausalLM, GPT2LMHeadModel.",
        e.getMessage());
  }

  @Test
  void aMissingRequiredFieldIsNamed() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> config("{\"architectures\": [\"MistralForCausalLM\"], \"hidden_size\": 8}"));
    assertEquals(
        "config.json: \"num_attention_heads\" is required for MistralForCausalLM but missing.",
        e.getMessage());
  }

  @Test
  void aMissingTensorIsNamedWithItsExpectedShape() throws IOException {
    Path stories = Shared.path("models/stories260K");
    Path file = dir.resolve("model.safetensors");
    try (SafetensorsReader r = SafetensorsReader.open(stories)) {
      SafetensorsWriter w = new SafetensorsWriter();
      r.names().stream()
          .filter(n -> !n.equals("model.norm.weight"))
          .forEach(n -> w.add(n, r.info(n).dtype(), r.info(n).shape(), r.bytes(n)));
      w.write(file);
    }
    ModelConfig c = ModelConfig.read(stories);
    try (SafetensorsReader r = SafetensorsReader.open(file)) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> c.check(r));
      assertEquals(
          "model.safetensors: tensor \"model.norm.weight\" is missing; config.json expects it"
              + " with shape [64].",
          e.getMessage());
    }
  }

  @Test
  void aShapeDisagreeingWithConfigIsNamed() throws IOException {
    String json =
        Files.readString(Shared.path("models/stories260K").resolve("config.json"))
            .replace("\"intermediate_size\": 172", "\"intermediate_size\": 171");
    ModelConfig c = config(json);
    try (SafetensorsReader r = SafetensorsReader.open(Shared.path("models/stories260K"))) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> c.check(r));
      assertEquals(
          "model.safetensors: tensor \"model.layers.0.mlp.gate_proj.weight\" has shape [172, 64]"
              + " but config.json implies [171, 64].",
          e.getMessage());
    }
  }
}
