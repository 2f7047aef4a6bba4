package dev.graft.train.run;

import com.fasterxml.jackson.databind.JsonNode;
import dev.graft.api.MethodInfo;
import dev.graft.api.MethodRegistry;
import dev.graft.api.OptionDescriptor;
import dev.graft.api.Options;
import dev.graft.api.adapt.MethodInstance;
import dev.graft.api.adapt.WeightEditor;
import dev.graft.api.backend.HostTensor;
import dev.graft.graph.DType;
import dev.graft.model.ModelConfig;
import dev.graft.model.ModelGraph;
import dev.graft.model.SafetensorsReader;
import dev.graft.model.SafetensorsWriter;
import dev.graft.train.adapt.GraphAdaptation;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Adapter folders written by Graft or Hugging Face PEFT, read back: for generation, for more
 * training, and for merging into the base weights. {@code peft_type} names the method (LORA →
 * lora); the config fields are the method's options, which carry PEFT's names.
 */
public final class Adapters {
  private Adapters() {}

  /** A model graph with an adapter applied, all parameters frozen, and every weight's value. */
  public record Adapted(ModelGraph model, Map<String, HostTensor> weights, MethodInstance method) {}

  /**
   * Builds the model with the adapter applied and every weight frozen.
   *
   * @param withCache build the KV-cache graph for generation, else the full graph
   * @throws IllegalArgumentException naming the folder and the tensors when the adapter does not
   *     fit the model (missing or unexpected tensors, wrong shapes) or its method is not installed
   */
  public static Adapted load(
      Path modelDir, Path adapterDir, MethodRegistry registry, boolean withCache) {
    try (SafetensorsReader base = SafetensorsReader.open(modelDir);
        SafetensorsReader adapter =
            SafetensorsReader.open(adapterDir.resolve("adapter_model.safetensors"))) {
      ModelConfig config = ModelConfig.read(modelDir.resolve(ModelConfig.FILE));
      ModelGraph model =
          withCache
              ? ModelGraph.buildWithCache(config, DType.FLOAT32)
              : ModelGraph.build(config, DType.FLOAT32);
      GraphAdaptation adaptation =
          new GraphAdaptation(new ModelGraphModel(model, base), false, DType.FLOAT32);
      MethodInstance method = method(adapterDir, registry);
      method.adapt(adaptation);
      Map<String, float[]> trained = tensors(adapterDir, adapter, model, adaptation);
      adaptation.setTrainable(p -> true, false);
      Map<String, HostTensor> weights = new LinkedHashMap<>(model.weights(base, DType.FLOAT32));
      trained.forEach(
          (name, v) ->
              weights.put(
                  name, HostTensor.ofFloats(model.graph().tensor(name).shape().sizes(), v)));
      return new Adapted(model, weights, method);
    } catch (NoSuchFileException e) {
      throw new IllegalArgumentException(
          "Adapter folder " + adapterDir + " lacks " + e.getFile() + ".");
    } catch (IOException e) {
      throw new UncheckedIOException("Could not read " + adapterDir + ": " + e.getMessage(), e);
    }
  }

  /** The method that {@code adapter_config.json} names, configured from its fields. */
  static MethodInstance method(Path adapterDir, MethodRegistry registry) throws IOException {
    JsonNode config =
        AdapterFiles.json().readTree(adapterDir.resolve("adapter_config.json").toFile());
    String peftType = config.path("peft_type").asText("");
    if (peftType.isEmpty()) {
      throw new IllegalArgumentException(
          adapterDir.resolve("adapter_config.json") + " has no peft_type.");
    }
    String name = peftType.toLowerCase(Locale.ROOT).replace('_', '-');
    MethodInfo info = registry.require(name).info();
    Map<String, String> options = new LinkedHashMap<>();
    for (OptionDescriptor o : info.options()) {
      JsonNode v = config.get(o.name());
      if (v != null && !v.isNull()) {
        options.put(o.name(), text(v));
      }
    }
    return registry.require(name).method().create(Options.parse(info, options));
  }

  /**
   * JSON as option text: lists comma-joined, maps as key=value pairs, booleans and numbers as
   * written.
   */
  private static String text(JsonNode v) {
    if (v.isArray()) {
      List<String> items = new ArrayList<>();
      v.forEach(i -> items.add(i.asText()));
      return String.join(",", items);
    }
    if (v.isObject()) {
      List<String> pairs = new ArrayList<>();
      for (Iterator<Map.Entry<String, JsonNode>> it = v.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> e = it.next();
        pairs.add(e.getKey() + "=" + e.getValue().asText());
      }
      return String.join(",", pairs);
    }
    return v.asText();
  }

  /**
   * The adapter's tensors by graph parameter name: PEFT's {@code base_model.model.} prefix goes,
   * and a wrapped layer's {@code .base_layer.} part maps back to the layer's own parameter.
   */
  static Map<String, float[]> tensors(
      Path dir, SafetensorsReader adapter, ModelGraph model, GraphAdaptation adaptation) {
    Set<String> parameters = new LinkedHashSet<>();
    model.graph().parameters().forEach(p -> parameters.add(p.name()));
    Map<String, float[]> values = new LinkedHashMap<>();
    Set<String> unexpected = new TreeSet<>();
    for (String key : adapter.names()) {
      String name =
          key.startsWith(AdapterFiles.PREFIX) ? key.substring(AdapterFiles.PREFIX.length()) : key;
      if (!parameters.contains(name)) {
        name = name.replace(".base_layer.", ".");
      }
      if (!parameters.contains(name)) {
        unexpected.add(key);
        continue;
      }
      long[] expected = model.graph().tensor(name).shape().sizes();
      if (!java.util.Arrays.equals(expected, adapter.info(key).shape())) {
        throw new IllegalArgumentException(
            dir
                + ": tensor \""
                + key
                + "\" has shape "
                + java.util.Arrays.toString(adapter.info(key).shape())
                + " but the model needs "
                + java.util.Arrays.toString(expected)
                + ".");
      }
      values.put(name, adapter.floats(key));
    }
    Set<String> missing = new TreeSet<>(adaptation.declared());
    missing.removeAll(values.keySet());
    if (!missing.isEmpty() || !unexpected.isEmpty()) {
      throw new IllegalArgumentException(
          dir
              + " does not fit this model: "
              + (missing.isEmpty() ? "" : "missing " + missing + (unexpected.isEmpty() ? "" : "; "))
              + (unexpected.isEmpty() ? "" : "unexpected " + unexpected)
              + ".");
    }
    return values;
  }

  /**
   * Merges an adapter into the base weights and writes a Hugging Face model folder (written under a
   * temporary name, then renamed), with the {@link SavedFormat} that applies to the result: on
   * merge the adapter's, else the model's; on unmerge the model's unless the adapter brought it.
   *
   * @param subtract unmerge instead: take the adapter back out of weights it was merged into
   */
  public static void merge(
      Path modelDir, Path adapterDir, Path outDir, MethodRegistry registry, boolean subtract) {
    Adapted adapted = load(modelDir, adapterDir, registry, false);
    if (!adapted.method().mergeable()) {
      throw new IllegalArgumentException(
          "The adapter in " + adapterDir + " cannot be merged into the base weights.");
    }
    Map<String, float[]> values = new LinkedHashMap<>();
    Map<String, float[]> changed = new LinkedHashMap<>();
    WeightEditor editor =
        new WeightEditor() {
          @Override
          public float[] read(String parameter) {
            return values.computeIfAbsent(parameter, p -> weightOf(adapted, p)).clone();
          }

          @Override
          public long[] shape(String parameter) {
            return adapted.model().graph().tensor(parameter).shape().sizes();
          }

          @Override
          public void write(String parameter, float[] v) {
            values.put(parameter, v.clone());
            changed.put(parameter, v.clone());
          }
        };
    if (subtract) {
      adapted.method().unmerge(editor);
    } else {
      adapted.method().merge(editor);
    }
    SavedFormat fromAdapter = SavedFormat.read(adapterDir, null);
    SavedFormat format =
        fromAdapter.isNone()
            ? SavedFormat.read(modelDir, null)
            : subtract ? SavedFormat.NONE : fromAdapter;
    writeModel(
        modelDir,
        outDir,
        adapted.model().checkpointNames(),
        changed,
        format.isNone() ? Map.of() : Map.of(SftRun.SAMPLE_FORMAT, format.settings()));
  }

  private static float[] weightOf(Adapted adapted, String parameter) {
    HostTensor t = adapted.weights().get(parameter);
    if (t == null) {
      throw new IllegalArgumentException("\"" + parameter + "\" is not a weight of this model.");
    }
    return t.floats();
  }

  /**
   * Copies a model folder, replacing the given weights (by graph name) in its checkpoint, and adds
   * {@code extras} (file name → JSON content).
   */
  static void writeModel(
      Path modelDir,
      Path outDir,
      Map<String, String> checkpointNames,
      Map<String, float[]> replaced,
      Map<String, Map<String, Object>> extras) {
    Map<String, float[]> byCheckpointName = new LinkedHashMap<>();
    replaced.forEach(
        (name, v) -> byCheckpointName.put(checkpointNames.getOrDefault(name, name), v));
    Path temp = outDir.resolveSibling("." + outDir.getFileName() + ".tmp");
    try (SafetensorsReader base = SafetensorsReader.open(modelDir)) {
      AdapterFiles.deleteTree(temp);
      Files.createDirectories(temp);
      SafetensorsWriter writer = new SafetensorsWriter().metadata("format", "pt");
      for (String name : base.names()) {
        float[] v = byCheckpointName.get(name);
        if (v != null) {
          writer.add(name, base.info(name).shape(), v);
        } else {
          writer.add(name, base.info(name).dtype(), base.info(name).shape(), base.bytes(name));
        }
      }
      writer.write(temp.resolve(SafetensorsReader.SINGLE_FILE));
      for (String file :
          List.of(
              ModelConfig.FILE,
              "generation_config.json",
              "tokenizer.json",
              "tokenizer_config.json",
              "special_tokens_map.json",
              "vocab.json",
              "merges.txt")) {
        if (Files.exists(modelDir.resolve(file))) {
          Files.copy(modelDir.resolve(file), temp.resolve(file));
        }
      }
      AdapterFiles.writeJson(temp, extras);
      AdapterFiles.deleteTree(outDir);
      Files.move(temp, outDir, StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException e) {
      throw new UncheckedIOException(
          "Could not write the model to " + outDir + ": " + e.getMessage(), e);
    }
  }
}
