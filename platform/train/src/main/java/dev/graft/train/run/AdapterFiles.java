package dev.graft.train.run;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.graft.api.adapt.AdapterWriter;
import dev.graft.model.SafetensorsWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Function;

/**
 * Writes an adapter folder in the layout Hugging Face PEFT loads: {@code adapter_config.json}
 * (indent 2, sorted keys, as PEFT writes it) and {@code adapter_model.safetensors} (metadata {@code
 * format=pt}, keys prefixed {@code base_model.model.}). The folder is written under a temporary
 * name and renamed into place.
 */
final class AdapterFiles {
  /** The prefix PEFT gives tuner-method keys (PeftModel → LoraModel → the HF model). */
  static final String PREFIX = "base_model.model.";

  private AdapterFiles() {}

  /** Collects what a method writes, with PEFT key names. */
  static final class Collector implements AdapterWriter {
    private final List<String> trainables;
    private final Function<String, long[]> shapes;
    private final Function<String, float[]> values;
    final Map<String, long[]> writtenShapes = new LinkedHashMap<>();
    final Map<String, float[]> written = new LinkedHashMap<>();

    Collector(
        List<String> trainables,
        Function<String, long[]> shapes,
        Function<String, float[]> values) {
      this.trainables = trainables;
      this.shapes = shapes;
      this.values = values;
    }

    @Override
    public List<String> trainables() {
      return trainables;
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
      if (written.putIfAbsent(PREFIX + name, data) != null) {
        throw new IllegalArgumentException("Adapter tensor \"" + name + "\" is written twice.");
      }
      writtenShapes.put(PREFIX + name, shape.clone());
    }
  }

  /**
   * Writes the folder.
   *
   * @param extras further JSON files by file name, e.g. {@value SftRun#SAMPLE_FORMAT}, which PEFT
   *     ignores
   */
  static void write(
      Path folder,
      Map<String, Object> config,
      Collector tensors,
      Map<String, Map<String, Object>> extras) {
    Path temp = folder.resolveSibling("." + folder.getFileName() + ".tmp");
    try {
      deleteTree(temp);
      Files.createDirectories(temp);
      SafetensorsWriter writer = new SafetensorsWriter().metadata("format", "pt");
      tensors.written.forEach((name, v) -> writer.add(name, tensors.writtenShapes.get(name), v));
      writer.write(temp.resolve("adapter_model.safetensors"));
      json().writeValue(temp.resolve("adapter_config.json").toFile(), new TreeMap<>(config));
      writeJson(temp, extras);
      deleteTree(folder);
      Files.move(temp, folder, StandardCopyOption.ATOMIC_MOVE);
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
    if (!Files.exists(path)) {
      return;
    }
    try (var walk = Files.walk(path)) {
      for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
        Files.delete(p);
      }
    }
  }
}
