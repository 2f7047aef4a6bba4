package dev.graft.train.run;

import dev.graft.api.MethodRegistry;
import dev.graft.api.backend.HostTensor;
import dev.graft.api.progress.Progress;
import dev.graft.graph.DType;
import dev.graft.graph.ExternalData;
import dev.graft.graph.Graph;
import dev.graft.graph.Tensor;
import dev.graft.model.AtomicFiles;
import dev.graft.model.ModelConfig;
import dev.graft.model.ModelGraph;
import dev.graft.model.SafetensorsReader;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Function;

/**
 * Writes a model's generation graph ({@link ModelGraph#buildWithCache}) as an ONNX model that plain
 * ONNX Runtime runs: {@value #MODEL} with every weight in {@value #DATA} (ONNX external data, so
 * that no 2 GB protobuf limit applies), {@value ExportManifest#FILE} ({@link ExportManifest}), the
 * tokenizer and configuration files, and the saved sample format. An adapter whose methods all
 * merge is merged into the weights ({@link Adapters#merge}); any other keeps its rewrite of the
 * graph with its tensors as weights. The folder is written under a temporary name and renamed, so
 * it holds the complete export or nothing.
 */
public final class OnnxExport {
  /** The model file. */
  public static final String MODEL = "model.onnx";

  /** The weights file, beside the model file. */
  public static final String DATA = MODEL + ".data";

  /** Where each weight starts in {@value #DATA}: a multiple of this many bytes. */
  private static final int ALIGNMENT = 64;

  private OnnxExport() {}

  /**
   * Exports the model, with the adapter applied, into {@code outDir}, replacing it.
   *
   * @param adapterDir an adapter folder, or null for the model alone
   * @param onnxAdapter keep the adapter in the graph, its tensors overridable inputs whose values
   *     {@value OnnxAdapterFile#FILE} holds, so that a server swaps adapters of the same shape
   *     (ONNX Runtime's multi-LoRA); only with an adapter
   * @param settings set on the adapter's methods as {@link Adapters#load(Path, Path,
   *     MethodRegistry, boolean, Map)} sets them (MoELoRA's {@code task}), for the merge too; empty
   *     for none
   * @throws IllegalArgumentException as {@link Adapters#load} does
   */
  public static void write(
      Path modelDir,
      Path adapterDir,
      Path outDir,
      MethodRegistry registry,
      boolean onnxAdapter,
      Map<String, String> settings) {
    try {
      AtomicFiles.replaceFolder(
          outDir, temp -> writeFiles(modelDir, adapterDir, temp, registry, onnxAdapter, settings));
    } catch (IOException e) {
      throw new UncheckedIOException(
          "Could not write the export to " + outDir + ": " + e.getMessage(), e);
    }
  }

  private static void writeFiles(
      Path modelDir,
      Path adapterDir,
      Path temp,
      MethodRegistry registry,
      boolean onnxAdapter,
      Map<String, String> settings)
      throws IOException {
    Set<String> swapped = Set.of();
    String applied;
    ModelGraph model;
    if (adapterDir == null) {
      applied = "none";
      model = writeBase(modelDir, temp);
      copyModelFiles(modelDir, temp);
    } else {
      Adapters.Adapted adapted = Adapters.load(modelDir, adapterDir, registry, true, settings);
      if (!onnxAdapter && Adapters.mergeable(adapted)) {
        applied = "merged";
        Path merged = temp.resolve(".merged");
        Adapters.merge(modelDir, adapterDir, merged, registry, false, settings);
        model = writeBase(merged, temp);
        copyModelFiles(merged, temp); // with the config.json flags of weights a method added
        AtomicFiles.deleteTree(merged);
      } else {
        applied = "in-graph";
        model = adapted.model();
        if (onnxAdapter) {
          swapped = new TreeSet<>(adapted.fromAdapter());
          Map<String, HostTensor> tensors = new LinkedHashMap<>();
          swapped.forEach(name -> tensors.put(name, adapted.weights().get(name)));
          Files.write(temp.resolve(OnnxAdapterFile.FILE), OnnxAdapterFile.of(tensors));
        }
        writeGraph(model.graph(), adapted.weights()::get, swapped, temp);
        copyModelFiles(modelDir, temp);
      }
    }
    Path format = SavedFormat.file(modelDir, adapterDir).orElse(null);
    if (format != null) {
      Files.copy(format, temp.resolve(format.getFileName()));
    }
    ExportManifest.write(
        temp, model, applied, settings, swapped, format == null ? null : format.getFileName());
  }

  /** Copies the tokenizer and configuration files of a model folder. */
  private static void copyModelFiles(Path modelDir, Path temp) throws IOException {
    for (String file : Adapters.MODEL_FILES) {
      if (Files.exists(modelDir.resolve(file))) {
        Files.copy(modelDir.resolve(file), temp.resolve(file));
      }
    }
  }

  /** Writes the generation graph of a model folder without an adapter; returns that graph. */
  private static ModelGraph writeBase(Path modelDir, Path temp) throws IOException {
    ModelGraph model =
        ModelGraph.buildWithCache(
            ModelConfig.read(modelDir.resolve(ModelConfig.FILE)), DType.FLOAT32);
    try (SafetensorsReader reader = SafetensorsReader.open(modelDir)) {
      model.config().check(reader);
      // One weight at a time: a checkpoint in another dtype is never converted whole in memory.
      writeGraph(model.graph(), p -> model.weight(reader, p, DType.FLOAT32), Set.of(), temp);
    }
    return model;
  }

  /**
   * Writes {@value #DATA} with every frozen parameter's bytes, one after another, each at a
   * multiple of {@value #ALIGNMENT}, then {@value #MODEL} declaring them there.
   */
  private static void writeGraph(
      Graph graph, Function<String, HostTensor> weights, Set<String> overridable, Path temp)
      throws IOException {
    Map<String, ExternalData> files = new LinkedHashMap<>();
    List<Tensor> frozen = graph.parameters().stream().filter(p -> !graph.isTrainable(p)).toList();
    try (FileChannel out =
            FileChannel.open(
                temp.resolve(DATA), StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
        Progress.Task task = Progress.start("writing " + DATA, frozen.size(), "tensors")) {
      long offset = 0;
      for (Tensor p : frozen) {
        HostTensor t = weights.apply(p.name());
        if (t == null || t.dtype() != p.dtype()) {
          throw new IllegalStateException(
              "Weight \"" + p.name() + "\" is missing or not " + p.dtype() + "; cannot export.");
        }
        offset = (offset + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
        ByteBuffer bytes = t.data();
        long length = bytes.remaining();
        for (long at = offset; bytes.hasRemaining(); ) {
          at += out.write(bytes, at);
        }
        files.put(p.name(), new ExternalData(DATA, offset, length));
        offset += length;
        task.advance(1);
      }
    }
    Files.write(temp.resolve(MODEL), graph.toOnnx(files, overridable));
  }
}
