package dev.graft.example.quickstart;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.model.SafetensorsReader;
import dev.graft.model.SafetensorsWriter;
import dev.graft.model.TensorInfo;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Merges a Hugging Face PEFT LoRA adapter folder into a copy of its base model folder, as PEFT's
 * {@code merge_and_unload()} does, using only the files: {@code W' = W + s·B·A} for every adapted
 * linear layer, with {@code s = lora_alpha / r} ({@code lora_alpha / sqrt(r)} with rsLoRA).
 *
 * <p>The quickstart generates with the merged folder because the platform's generator opens model
 * folders, not a base model plus an adapter.
 */
final class PeftMerge {
  private static final String PREFIX = "base_model.model.";
  private static final String A = ".lora_A.weight";
  private static final String B = ".lora_B.weight";
  private static final List<String> COPIED =
      List.of(
          "config.json",
          "generation_config.json",
          "tokenizer.json",
          "tokenizer_config.json",
          "special_tokens_map.json");

  private PeftMerge() {}

  /**
   * Writes {@code target}: the base model folder's files with the adapter merged into its weights.
   *
   * @return the number of merged layers
   * @throws IllegalArgumentException for an adapter that is not plain LoRA on (out, in) weights
   */
  static int merge(Path base, Path adapter, Path target) throws IOException {
    JsonNode config = new ObjectMapper().readTree(adapter.resolve("adapter_config.json").toFile());
    if (!config.path("peft_type").asText().equals("LORA")
        || config.path("use_dora").asBoolean(false)
        || config.path("fan_in_fan_out").asBoolean(false)) {
      throw new IllegalArgumentException(
          adapter
              + " holds a "
              + config.path("peft_type").asText("?")
              + " adapter (use_dora "
              + config.path("use_dora")
              + ", fan_in_fan_out "
              + config.path("fan_in_fan_out")
              + "); only plain LoRA on (out, in) weights can be merged here.");
    }
    Files.createDirectories(target);
    int merged = 0;
    try (SafetensorsReader weights = SafetensorsReader.open(base);
        SafetensorsReader lora =
            SafetensorsReader.open(adapter.resolve("adapter_model.safetensors"))) {
      Map<String, String> modules = modules(lora);
      SafetensorsWriter out = new SafetensorsWriter();
      weights.metadata().forEach(out::metadata);
      for (String name : weights.names()) {
        TensorInfo info = weights.info(name);
        String module = name.endsWith(".weight") ? name.substring(0, name.length() - 7) : name;
        if (!modules.containsKey(module)) {
          out.add(name, info.dtype(), info.shape(), weights.bytes(name));
          continue;
        }
        modules.remove(module);
        float[] w = weights.floats(name); // (out, in)
        float[] a = lora.floats(PREFIX + module + A); // (r, in)
        float[] b = lora.floats(PREFIX + module + B); // (out, r)
        int rows = (int) info.shape()[0];
        int cols = (int) info.shape()[1];
        int r = (int) lora.info(PREFIX + module + A).shape()[0];
        double scale = scale(config, module, r);
        for (int i = 0; i < rows; i++) {
          for (int k = 0; k < r; k++) {
            double bik = scale * b[i * r + k];
            for (int j = 0; j < cols; j++) {
              w[i * cols + j] += (float) (bik * a[k * cols + j]);
            }
          }
        }
        out.add(name, info.shape(), w);
        merged++;
      }
      if (!modules.isEmpty()) {
        throw new IllegalArgumentException(
            "Adapter layers " + modules.keySet() + " have no weight in " + base + ".");
      }
      out.write(target.resolve(SafetensorsReader.SINGLE_FILE));
    }
    for (String file : COPIED) {
      if (Files.exists(base.resolve(file))) {
        Files.copy(base.resolve(file), target.resolve(file), StandardCopyOption.REPLACE_EXISTING);
      }
    }
    return merged;
  }

  /** Adapted module paths (e.g. {@code model.layers.0.self_attn.q_proj}), in file order. */
  private static Map<String, String> modules(SafetensorsReader lora) {
    Map<String, String> modules = new LinkedHashMap<>();
    for (String key : lora.names()) {
      if (!key.startsWith(PREFIX) || !(key.endsWith(A) || key.endsWith(B))) {
        throw new IllegalArgumentException(
            "Adapter tensor \"" + key + "\" is not a LoRA A or B matrix; it cannot be merged.");
      }
      String module = key.substring(PREFIX.length(), key.length() - A.length());
      modules.put(module, module);
    }
    return modules;
  }

  /**
   * {@code lora_alpha / r} or, with rsLoRA, {@code lora_alpha / sqrt(r)}; {@code alpha_pattern}
   * keys match the end of the module path as in PEFT.
   */
  private static double scale(JsonNode config, String module, int r) {
    double alpha = config.path("lora_alpha").asDouble(8);
    for (Iterator<Map.Entry<String, JsonNode>> it = config.path("alpha_pattern").fields();
        it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      if (module.matches("(.*\\.)?" + e.getKey())) {
        alpha = e.getValue().asDouble();
        break;
      }
    }
    return config.path("use_rslora").asBoolean(false) ? alpha / Math.sqrt(r) : alpha / r;
  }
}
