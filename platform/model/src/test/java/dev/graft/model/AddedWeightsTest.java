package dev.graft.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AddedWeightsTest {
  @TempDir Path dir;

  private Path model(String architecture) throws Exception {
    Files.writeString(
        dir.resolve("config.json"),
        "{\"architectures\": [\""
            + architecture
            + "\"], \"hidden_size\": 64, \"intermediate_size\": 128, \"num_hidden_layers\": 2,"
            + " \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"vocab_size\": 100}");
    return dir;
  }

  @Test
  void anAddedQueryBiasTurnsOnLlamasAttentionBiasAndItsSiblings() throws Exception {
    AddedWeights added =
        AddedWeights.of(model("LlamaForCausalLM"), Set.of("model.layers.1.self_attn.q_proj.bias"));
    ModelConfig config =
        ModelConfig.parse(
            "config.json",
            new com.fasterxml.jackson.databind.ObjectMapper().readTree(added.json()));
    assertTrue(config.qkvBias() && config.outputBias());
    assertFalse(config.mlpBias(), "no MLP bias was added");
    assertEquals(8, added.tensors().size(), "q, k, v, o biases of 2 blocks");
    assertArrayEquals(new long[] {32}, added.tensors().get("model.layers.0.self_attn.k_proj.bias"));
  }

  @Test
  void anAddedMlpBiasTurnsOnMlpBias() throws Exception {
    AddedWeights added =
        AddedWeights.of(model("LlamaForCausalLM"), Set.of("model.layers.0.mlp.down_proj.bias"));
    assertTrue(added.json().contains("\"mlp_bias\" : true"), added.json());
    assertEquals(6, added.tensors().size(), "gate, up, down biases of 2 blocks");
  }

  @Test
  void mistralCannotDeclareAnAddedBias() throws Exception {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                AddedWeights.of(
                    model("MistralForCausalLM"), Set.of("model.layers.0.self_attn.o_proj.bias")));
    assertTrue(
        e.getMessage().startsWith("A MistralForCausalLM checkpoint cannot hold"), e.getMessage());
  }
}
