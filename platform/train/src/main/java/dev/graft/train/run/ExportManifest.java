package dev.graft.train.run;

import dev.graft.graph.Dim;
import dev.graft.graph.Graph;
import dev.graft.graph.Tensor;
import dev.graft.model.ModelConfig;
import dev.graft.model.ModelGraph;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The {@value #FILE} of an {@link OnnxExport}: what a program needs to run {@value
 * OnnxExport#MODEL} with ONNX Runtime alone, in the spirit of onnxruntime-genai's {@code
 * genai_config.json}: every input and output (name, dtype, shape with symbolic dimensions), the
 * key-value cache (which output feeds which input at the next run, its layout), the special token
 * ids and the model's sizes.
 */
final class ExportManifest {
  /** The manifest's file name. */
  static final String FILE = "export.json";

  private ExportManifest() {}

  /**
   * Writes the manifest of {@code model}'s exported graph into {@code folder}.
   *
   * @param adapter how an adapter was applied: {@code none}, {@code merged} or {@code in-graph}
   * @param adapterSettings the settings it was applied with (MoELoRA's {@code task}); empty for
   *     none
   * @param adapterInputs the adapter's tensors that are overridable inputs, with their values in
   *     {@value OnnxAdapterFile#FILE}; empty for none
   * @param sampleFormat the copied sample format file, or null
   */
  static void write(
      Path folder,
      ModelGraph model,
      String adapter,
      Map<String, String> adapterSettings,
      Set<String> adapterInputs,
      Path sampleFormat)
      throws IOException {
    Graph g = model.graph();
    ModelConfig c = model.config();
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("model", OnnxExport.MODEL);
    m.put("external_data", OnnxExport.DATA);
    m.put("architecture", c.architecture().hfName());
    m.put("adapter", adapter);
    if (!adapterSettings.isEmpty()) {
      m.put("adapter_settings", adapterSettings);
    }
    if (!adapterInputs.isEmpty()) {
      m.put("onnx_adapter", OnnxAdapterFile.FILE);
    }
    m.put("vocab_size", c.vocabSize());
    m.put("max_position_embeddings", c.maxPositionEmbeddings());
    m.put("prefix_length", model.prefixLength());
    m.put("num_hidden_layers", c.numHiddenLayers());
    m.put("num_key_value_heads", c.numKeyValueHeads());
    m.put("head_dim", c.headDim());
    m.put("bos_token_id", c.bosTokenId());
    m.put("eos_token_id", c.eosTokenIds());
    List<Map<String, Object>> inputs = new ArrayList<>();
    g.inputs().forEach(t -> inputs.add(value(t)));
    // The adapter's tensors: inputs whose defaults are the exported adapter's values.
    adapterInputs.forEach(name -> inputs.add(value(g.tensor(name))));
    m.put("inputs", inputs);
    List<Map<String, Object>> outputs = new ArrayList<>();
    g.outputs().values().forEach(t -> outputs.add(value(t)));
    m.put("outputs", outputs);
    Map<String, Object> cache = new LinkedHashMap<>();
    cache.put("present_to_past", model.kvCache());
    cache.put("layout", "batch, cache, num_key_value_heads, head_dim");
    cache.put(
        "usage",
        "Choose cache slots for the prompt plus the new tokens; start every past input at zeros;"
            + " feed each present output as its past input at the next run. cache_position gives"
            + " the slot of each new token, attention_mask (batch, cache) is 1 for slots holding"
            + " real tokens (0 for left padding), position_ids count each sequence's tokens from"
            + " 0, and logits are those of the last new token.");
    m.put("cache", cache);
    if (sampleFormat != null) {
      m.put("sample_format", sampleFormat.toString());
    }
    AdapterFiles.writeJson(folder, Map.of(FILE, m));
  }

  private static Map<String, Object> value(Tensor t) {
    Map<String, Object> v = new LinkedHashMap<>();
    v.put("name", t.name());
    v.put("dtype", t.dtype().name().toLowerCase(Locale.ROOT));
    v.put("shape", t.shape().dims().stream().map(ExportManifest::dim).toList());
    return v;
  }

  /** A fixed size as a number, a symbolic one as its name ({@code batch}, {@code cache}). */
  private static Object dim(Dim d) {
    return d.isFixed() ? (Object) d.size() : d.toString();
  }
}
