package dev.graft.train.run;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.graft.api.adapt.AdapterWriter;
import dev.graft.api.adapt.MethodInstance;
import dev.graft.model.AtomicFiles;
import dev.graft.model.SafetensorsWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * Writes an adapter folder: {@code adapter_config.json} (indent 2, sorted keys, as PEFT writes it)
 * and {@code adapter_model.safetensors} (metadata {@code format=pt}). A PEFT adapter's keys are
 * prefixed {@code base_model.model.}, the layout Hugging Face PEFT loads; an adapter without {@code
 * peft_type} keeps Graft parameter names, and an AdapterHub one writes {@code adapter.safetensors}
 * (platform/train/ADAPTERS.md). The folder is written under a temporary name and renamed into
 * place.
 */
final class AdapterFiles {
  /** The prefix PEFT gives tuner-method keys (PeftModel → LoraModel → the HF model). */
  static final String PREFIX = "base_model.model.";

  /**
   * PEFT's prompt-learning types, whose one tensor {@code prompt_embeddings} PEFT saves without
   * prefix (the prompt encoder is no module of the wrapped model).
   */
  static final Set<String> PROMPT_LEARNING =
      Set.of("PROMPT_TUNING", "PREFIX_TUNING", "P_TUNING", "MULTITASK_PROMPT_TUNING");

  /** The tensors of a PEFT or Graft adapter. */
  static final String WEIGHTS = "adapter_model.safetensors";

  /**
   * The tensors of an AdapterHub adapter ({@code adapters}' {@code SAFE_WEIGHTS_NAME}): one whose
   * config has AdapterHub's {@code version} ({@code "adapters.…"}) and no {@code peft_type}.
   */
  static final String ADAPTERHUB_WEIGHTS = "adapter.safetensors";

  private AdapterFiles() {}

  /** The tensors file an adapter with this {@code adapter_config.json} content is written to. */
  static String weightsFile(Map<String, Object> config) {
    return config.get("peft_type") == null
            && config.get("version") instanceof String v
            && v.startsWith("adapters.")
        ? ADAPTERHUB_WEIGHTS
        : WEIGHTS;
  }

  /**
   * The tensors file of an adapter folder: {@value #WEIGHTS}, or AdapterHub's {@value
   * #ADAPTERHUB_WEIGHTS} when only that exists.
   */
  static Path weightsFile(Path folder) {
    Path peft = folder.resolve(WEIGHTS);
    Path hub = folder.resolve(ADAPTERHUB_WEIGHTS);
    return !Files.exists(peft) && Files.exists(hub) ? hub : peft;
  }

  /**
   * The graph parameter an adapter key holds, or null: PEFT's {@value #PREFIX} goes, and a wrapped
   * layer's {@code .base_layer.} part maps back to the layer's own parameter.
   */
  static String parameterOf(String key, Set<String> parameters) {
    String name = key.startsWith(PREFIX) ? key.substring(PREFIX.length()) : key;
    if (!parameters.contains(name)) {
      name = name.replace(".base_layer.", ".");
    }
    return parameters.contains(name) ? name : null;
  }

  /**
   * Collects what the methods write, one method at a time, under the names they give (Graft names);
   * {@link #write} adds PEFT's prefix for PEFT adapters.
   */
  static final class Collector implements AdapterWriter {
    private final Function<String, long[]> shapes;
    private final Function<String, float[]> values;
    private final Predicate<String> trainable;
    private List<String> tensors = List.of();
    final Map<String, long[]> writtenShapes = new LinkedHashMap<>();
    final Map<String, float[]> written = new LinkedHashMap<>();

    /**
     * @param shapes a parameter's shape
     * @param values a parameter's value after training
     * @param trainable whether a parameter trained
     */
    Collector(
        Function<String, long[]> shapes,
        Function<String, float[]> values,
        Predicate<String> trainable) {
      this.shapes = shapes;
      this.values = values;
      this.trainable = trainable;
    }

    /** Lets one method write, with {@code tensors} as its {@link #tensors()}. */
    void save(MethodInstance method, List<String> tensors) {
      this.tensors = List.copyOf(tensors);
      method.save(this);
    }

    @Override
    public List<String> tensors() {
      return tensors;
    }

    @Override
    public List<String> trainables() {
      return tensors.stream().filter(trainable).toList();
    }

    @Override
    public long[] shape(String parameter) {
      return shapes.apply(parameter);
    }

    @Override
    public float[] values(String parameter) {
      return values.apply(parameter);
    }

    @Override
    public void write(String name, long[] shape, float[] data) {
      long n = 1;
      for (long d : shape) {
        n *= d;
      }
      if (n != data.length) {
        throw new IllegalArgumentException(
            "Adapter tensor \""
                + name
                + "\" has "
                + data.length
                + " values for shape "
                + java.util.Arrays.toString(shape)
                + ".");
      }
      if (written.putIfAbsent(name, data) != null) {
        throw new IllegalArgumentException("Adapter tensor \"" + name + "\" is written twice.");
      }
      writtenShapes.put(name, shape.clone());
    }
  }

  /**
   * Writes the folder: with PEFT key names ({@value #PREFIX} + Graft name) when {@code config} has
   * a {@code peft_type}, with Graft names otherwise and for {@link #PROMPT_LEARNING} types.
   *
   * @param extras further JSON files by file name, e.g. {@value SftRun#SAMPLE_FORMAT}, which PEFT
   *     ignores
   */
  static void write(
      Path folder,
      Map<String, Object> config,
      Collector tensors,
      Map<String, Map<String, Object>> extras) {
    try {
      AtomicFiles.replaceFolder(
          folder,
          temp -> {
            SafetensorsWriter writer = new SafetensorsWriter().metadata("format", "pt");
            Object peftType = config.get("peft_type");
            String prefix =
                peftType == null || PROMPT_LEARNING.contains(peftType.toString()) ? "" : PREFIX;
            tensors.written.forEach(
                (name, v) -> writer.add(prefix + name, tensors.writtenShapes.get(name), v));
            writer.write(temp.resolve(weightsFile(config)));
            json().writeValue(temp.resolve("adapter_config.json").toFile(), new TreeMap<>(config));
            writeJson(temp, extras);
          });
    } catch (IOException e) {
      throw new UncheckedIOException(
          "Could not write the adapter to " + folder + ": " + e.getMessage(), e);
    }
  }

  /** Writes each map as {@code folder/<name>}, indented with sorted keys. */
  static void writeJson(Path folder, Map<String, Map<String, Object>> files) throws IOException {
    for (Map.Entry<String, Map<String, Object>> f : files.entrySet()) {
      json().writeValue(folder.resolve(f.getKey()).toFile(), new TreeMap<>(f.getValue()));
    }
  }

  static ObjectMapper json() {
    return new ObjectMapper()
        .enable(SerializationFeature.INDENT_OUTPUT)
        .enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS);
  }

  static void deleteTree(Path path) throws IOException {
    AtomicFiles.deleteTree(path);
  }
}
