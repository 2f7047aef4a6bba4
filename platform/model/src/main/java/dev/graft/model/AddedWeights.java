package dev.graft.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * A model folder's {@code config.json} changed so that its checkpoint holds weights the
 * architecture leaves out by default: the biases a method added (BitFit on Llama), which Hugging
 * Face's Llama declares with {@code attention_bias} (q, k, v and o projections) and {@code
 * mlp_bias} (gate, up and down projections). Other architectures fix their biases in code (Mistral
 * none, Qwen2 q/k/v only, GPT-2 all), so their config cannot add any.
 *
 * @param json the new {@code config.json} text
 * @param tensors every tensor the new config expects beyond the old one, by name, with its shape:
 *     the added weights and their siblings under the same flag (zero unless given)
 */
public record AddedWeights(String json, Map<String, long[]> tensors) {
  private static final Pattern ATTENTION = Pattern.compile(".*\\.self_attn\\.[qkvo]_proj\\.bias");
  private static final Pattern MLP = Pattern.compile(".*\\.mlp\\.(gate|up|down)_proj\\.bias");

  /**
   * The config of {@code modelDir} with the flags that declare {@code added}.
   *
   * @throws IllegalArgumentException naming a tensor that no flag of the architecture declares
   */
  public static AddedWeights of(Path modelDir, Set<String> added) throws IOException {
    Path file = modelDir.resolve(ModelConfig.FILE);
    ObjectMapper mapper = new ObjectMapper();
    ObjectNode root = (ObjectNode) mapper.readTree(Files.readString(file));
    ModelConfig before = ModelConfig.parse(ModelConfig.FILE, root.deepCopy());
    if (before.architecture() == Architecture.LLAMA) {
      if (added.stream().anyMatch(n -> ATTENTION.matcher(n).matches())) {
        root.put("attention_bias", true);
      }
      if (added.stream().anyMatch(n -> MLP.matcher(n).matches())) {
        root.put("mlp_bias", true);
      }
    }
    Map<String, long[]> expected = ModelConfig.parse(ModelConfig.FILE, root).expectedTensors();
    for (String name : added) {
      if (!expected.containsKey(name)) {
        throw new IllegalArgumentException(
            "A "
                + before.architecture().hfName()
                + " checkpoint cannot hold \""
                + name
                + "\" (its config.json has no setting that declares it); load the adapter with"
                + " --adapter instead of merging.");
      }
    }
    Map<String, long[]> tensors = new LinkedHashMap<>(expected);
    tensors.keySet().removeAll(before.expectedTensors().keySet());
    String json =
        mapper.copy().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(root) + "\n";
    return new AddedWeights(json, tensors);
  }
}
