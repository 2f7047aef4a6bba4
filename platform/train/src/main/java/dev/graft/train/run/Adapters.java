package dev.graft.train.run;

import dev.graft.api.MethodRegistry;
import dev.graft.api.adapt.MethodInstance;
import dev.graft.api.adapt.WeightEditor;
import dev.graft.api.backend.HostTensor;
import dev.graft.api.progress.Progress;
import dev.graft.graph.DType;
import dev.graft.model.AddedWeights;
import dev.graft.model.AtomicFiles;
import dev.graft.model.FourBitCheckpoint;
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
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Adapter folders written by Graft or Hugging Face PEFT, read back: for generation, for more
 * training, and for merging into the base weights. {@code adapter_config.json} names the methods
 * ({@link AdapterMethods}: Graft's {@value AdapterMethods#FIELD}, else PEFT's {@code peft_type});
 * they adapt a fresh model graph in order, and the saved tensors fill it.
 */
public final class Adapters {
  /** The files besides the weights that a written model folder copies from its base. */
  static final List<String> MODEL_FILES =
      List.of(
          ModelConfig.FILE,
          "generation_config.json",
          "tokenizer.json",
          "tokenizer_config.json",
          "special_tokens_map.json",
          "vocab.json",
          "merges.txt");

  private Adapters() {}

  /**
   * A model graph with an adapter applied, all parameters frozen, and every weight's value.
   *
   * @param methods the adapter's methods, in the order they adapted the graph
   * @param fromAdapter the parameters whose values came from the adapter file
   */
  public record Adapted(
      ModelGraph model,
      Map<String, HostTensor> weights,
      List<Method> methods,
      Set<String> fromAdapter) {}

  /**
   * One method of a loaded adapter.
   *
   * @param tensors the parameters it declared or made trainable ({@link GraphAdaptation#tensorsOf})
   */
  public record Method(String name, MethodInstance instance, List<String> tensors) {}

  /**
   * Builds the model with the adapter applied and every weight frozen.
   *
   * @param withCache build the KV-cache graph for generation, else the full graph
   * @throws IllegalArgumentException naming the folder and the tensors when the adapter does not
   *     fit the model (missing or unexpected tensors, wrong shapes), naming the method to install
   *     when one is not installed, or when a method reads per-sample inputs (which only training
   *     feeds)
   */
  public static Adapted load(
      Path modelDir, Path adapterDir, MethodRegistry registry, boolean withCache) {
    return load(modelDir, adapterDir, registry, withCache, Map.of());
  }

  /**
   * Builds the model with the adapter applied, as {@link #load(Path, Path, MethodRegistry,
   * boolean)} does, with {@code settings} set on the adapter's methods that have those options
   * (MoELoRA's {@code task}: the task that the graph serves).
   *
   * @throws IllegalArgumentException as that method does, or when no method of the adapter has the
   *     option of a setting
   */
  public static Adapted load(
      Path modelDir,
      Path adapterDir,
      MethodRegistry registry,
      boolean withCache,
      Map<String, String> settings) {
    Path configFile = adapterDir.resolve("adapter_config.json");
    requireTrainedBase(modelDir, adapterDir);
    try (SafetensorsReader base = SafetensorsReader.open(modelDir);
        SafetensorsReader adapter = SafetensorsReader.open(AdapterFiles.weightsFile(adapterDir))) {
      List<AdapterMethods.Resolved> resolved =
          AdapterMethods.resolve(
              configFile,
              AdapterFiles.json().readTree(Files.readAllBytes(configFile)),
              registry,
              settings);
      ModelConfig config = ModelConfig.read(modelDir.resolve(ModelConfig.FILE));
      ModelGraph model =
          withCache
              ? ModelGraph.buildWithCache(config, DType.FLOAT32)
              : ModelGraph.build(config, DType.FLOAT32);
      GraphAdaptation adaptation =
          new GraphAdaptation(new ModelGraphModel(model, base), false, DType.FLOAT32)
              .forSavedAdapter(p -> savedShape(adapter, p));
      if (Calibrator.recorded(adapterDir)) {
        // Methods that chose their sites from data choose again from the job's answers.
        new Calibrator()
            .replay(adapterDir, resolved.stream().map(AdapterMethods.Resolved::instance).toList());
      }
      for (AdapterMethods.Resolved r : resolved) {
        adaptation.adapting(r.name());
        r.instance().adapt(adaptation);
      }
      List<Method> methods =
          resolved.stream()
              .map(r -> new Method(r.name(), r.instance(), adaptation.tensorsOf(r.name())))
              .toList();
      if (!adaptation.inputs().isEmpty()) {
        throw new IllegalArgumentException(
            "The methods of "
                + adapterDir
                + " read the per-sample inputs "
                + adaptation.inputs().keySet()
                + ", which evaluation and generation do not supply yet.");
      }
      Map<String, float[]> trained = tensors(adapterDir, adapter, model, adaptation);
      adaptation.setTrainable(p -> true, false);
      Map<String, HostTensor> weights = new LinkedHashMap<>(model.weights(base, DType.FLOAT32));
      // Tensors the methods computed (codes, residuals, state), unless the adapter saved them.
      weights.putAll(adaptation.frozenTensors());
      trained.forEach(
          (name, v) ->
              weights.put(
                  name, HostTensor.ofFloats(model.graph().tensor(name).shape().sizes(), v)));
      return new Adapted(model, weights, methods, Set.copyOf(trained.keySet()));
    } catch (NoSuchFileException e) {
      throw new IllegalArgumentException(
          "Adapter folder " + adapterDir + " lacks " + e.getFile() + ".");
    } catch (IOException e) {
      throw new UncheckedIOException("Could not read " + adapterDir + ": " + e.getMessage(), e);
    }
  }

  /** The shape of a parameter's tensor in an adapter file (PEFT key or Graft name), or null. */
  private static long[] savedShape(SafetensorsReader adapter, String parameter) {
    for (String key : List.of(AdapterFiles.PREFIX + parameter, parameter)) {
      if (adapter.names().contains(key)) {
        return adapter.info(key).shape();
      }
    }
    return null;
  }

  /**
   * The model as a job's training graph computes it at a checkpoint, frozen: the methods adapt a
   * fresh graph as in training (reparameterising encoders included, dropout off), the declared
   * parameters start from their initial values for {@code seed}, and every parameter the
   * checkpoint's {@code state.safetensors} holds takes its value from there. A saved adapter whose
   * method folded an encoder (prefix tuning's projection, P-tuning's prompt encoder) computes the
   * same up to the rounding of the fold; this is what it is compared against.
   *
   * @param methods the job's methods by name, configured, in the order they adapt the graph
   * @param fromAdapter here: the parameters whose values came from the checkpoint
   */
  public static Adapted atCheckpoint(
      Path modelDir, Map<String, MethodInstance> methods, Path checkpointDir, long seed) {
    try (SafetensorsReader base = SafetensorsReader.open(modelDir);
        SafetensorsReader state =
            SafetensorsReader.open(checkpointDir.resolve("state.safetensors"))) {
      ModelGraph model =
          ModelGraph.build(ModelConfig.read(modelDir.resolve(ModelConfig.FILE)), DType.FLOAT32);
      GraphAdaptation adaptation =
          new GraphAdaptation(new ModelGraphModel(model, base), false, DType.FLOAT32);
      if (Calibrator.recorded(checkpointDir)) {
        // The graph the job trained after its calibration (LoRA-drop's shared layers).
        new Calibrator().replay(checkpointDir, List.copyOf(methods.values()));
      }
      methods.forEach(
          (name, instance) -> {
            adaptation.adapting(name);
            instance.adapt(adaptation);
          });
      adaptation.setTrainable(p -> true, false);
      Map<String, HostTensor> weights = new LinkedHashMap<>(model.weights(base, DType.FLOAT32));
      weights.putAll(adaptation.frozenTensors());
      adaptation
          .initialValues(seed)
          .forEach((name, v) -> weights.put(name, HostTensor.ofFloats(shapeOf(model, name), v)));
      Set<String> trained = new LinkedHashSet<>();
      for (String name : state.names()) {
        if (weights.containsKey(name)) {
          weights.put(name, HostTensor.ofFloats(shapeOf(model, name), state.floats(name)));
          trained.add(name);
        }
      }
      List<Method> list = new ArrayList<>();
      methods.forEach((name, m) -> list.add(new Method(name, m, adaptation.tensorsOf(name))));
      return new Adapted(model, weights, list, Set.copyOf(trained));
    } catch (IOException e) {
      throw new UncheckedIOException(
          "Could not read " + modelDir + " or " + checkpointDir + ": " + e.getMessage(), e);
    }
  }

  private static long[] shapeOf(ModelGraph model, String parameter) {
    return model.graph().tensor(parameter).shape().sizes();
  }

  /**
   * A job that trained base weights and added modules saved {@code model/} beside {@code adapter/}
   * ({@link JobOutput}); that adapter belongs on {@code model/}, not on the untrained base.
   */
  private static void requireTrainedBase(Path modelDir, Path adapterDir) {
    Path trained = adapterDir.toAbsolutePath().normalize().resolveSibling("model");
    if (Files.isRegularFile(trained.resolve(ModelConfig.FILE))
        && !modelDir.toAbsolutePath().normalize().equals(trained)) {
      throw new IllegalArgumentException(
          "The adapter in "
              + adapterDir
              + " was trained together with the model weights in "
              + trained
              + "; use that folder as the model.");
    }
  }

  /**
   * The adapter's tensors by graph parameter name ({@link AdapterFiles#parameterOf}: PEFT keys and
   * Graft names alike).
   *
   * @throws IllegalArgumentException listing the declared parameters the file lacks and the keys
   *     that are no parameter of the adapted model, or naming a tensor of the wrong shape
   */
  static Map<String, float[]> tensors(
      Path dir, SafetensorsReader adapter, ModelGraph model, GraphAdaptation adaptation) {
    Set<String> parameters = new LinkedHashSet<>();
    model.graph().parameters().forEach(p -> parameters.add(p.name()));
    Map<String, float[]> values = new LinkedHashMap<>();
    Set<String> unexpected = new TreeSet<>();
    for (String key : adapter.names()) {
      String name = AdapterFiles.parameterOf(key, parameters);
      if (name == null) {
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
   * Why a method that is not {@link MethodInstance#mergeable} refuses: the message of the {@link
   * IllegalStateException} its {@link MethodInstance#merge} throws, given weights it cannot touch.
   */
  private static String refusal(MethodInstance method) {
    WeightEditor untouchable =
        new WeightEditor() {
          @Override
          public float[] read(String parameter) {
            throw new IllegalStateException("It cannot fold its tensors into them.");
          }

          @Override
          public long[] shape(String parameter) {
            throw new IllegalStateException("It cannot fold its tensors into them.");
          }

          @Override
          public void write(String parameter, float[] values) {
            throw new IllegalStateException("It cannot fold its tensors into them.");
          }
        };
    try {
      method.merge(untouchable);
    } catch (IllegalStateException e) {
      return e.getMessage();
    }
    return "It cannot fold its tensors into them.";
  }

  /**
   * Merges an adapter into the base weights and writes a Hugging Face model folder (written under a
   * temporary name, then renamed), with the {@link SavedFormat} that applies to the result: on
   * merge the adapter's, else the model's; on unmerge the model's unless the adapter brought it.
   * Each method that has tensors merges them, in order (unmerging: in reverse order), and so does a
   * method without tensors that changes the base weights (QLoRA writes them dequantised); the
   * model's own weights that the adapter holds (trained biases) are written as they are, and
   * weights a method added (BitFit's biases on Llama) join the checkpoint with the config.json
   * flags that declare them ({@link AddedWeights}). A 4-bit base ({@link FourBitCheckpoint}) gives
   * a float folder: its weights dequantised (the model the adapter was trained on), their codes and
   * scales and the config's quantization_config dropped.
   *
   * @param subtract unmerge instead: take the adapter back out of weights it was merged into
   * @throws IllegalArgumentException naming the method when one with tensors cannot be merged or
   *     unmerged (DoRA: the merged rows do not keep the norms they were divided by), when unmerging
   *     an adapter that holds trained model weights (their originals are not in it), or when the
   *     architecture's config cannot declare an added weight
   */
  public static void merge(
      Path modelDir, Path adapterDir, Path outDir, MethodRegistry registry, boolean subtract) {
    merge(modelDir, adapterDir, outDir, registry, subtract, Map.of());
  }

  /**
   * Merges as {@link #merge(Path, Path, Path, MethodRegistry, boolean)} does, with {@code settings}
   * set on the adapter's methods as {@link #load(Path, Path, MethodRegistry, boolean, Map)} sets
   * them (MoELoRA merges the weights of one task).
   */
  public static void merge(
      Path modelDir,
      Path adapterDir,
      Path outDir,
      MethodRegistry registry,
      boolean subtract,
      Map<String, String> settings) {
    Adapted adapted = load(modelDir, adapterDir, registry, false, settings);
    List<Method> merging = new ArrayList<>(merging(adapted));
    for (Method m : merging) {
      if (!m.instance().mergeable()) {
        throw new IllegalArgumentException(
            "The adapter in "
                + adapterDir
                + " cannot be merged into the base weights (method "
                + m.name()
                + "): "
                + refusal(m.instance()));
      }
    }
    Map<String, String> checkpointNames = adapted.model().checkpointNames();
    if (subtract) {
      Set<String> replaced = new TreeSet<>(adapted.fromAdapter());
      replaced.retainAll(checkpointNames.keySet());
      if (!replaced.isEmpty()) {
        throw new IllegalArgumentException(
            "The adapter in "
                + adapterDir
                + " holds trained model weights "
                + replaced
                + " that replace the originals, which it does not keep, so unmerging cannot"
                + " restore them; use the base model folder instead.");
      }
    }
    Map<String, float[]> values = new LinkedHashMap<>();
    Map<String, float[]> changed = new LinkedHashMap<>();
    if (!subtract) {
      adapted.fromAdapter().stream()
          .filter(checkpointNames::containsKey)
          .forEach(p -> changed.put(p, weightOf(adapted, p)));
    }
    WeightEditor editor =
        new WeightEditor() {
          @Override
          public float[] read(String parameter) {
            return values
                .computeIfAbsent(parameter, p -> weightOf(adapted, p, modelDir, checkpointNames))
                .clone();
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
    try (Progress.Task task =
        Progress.start(subtract ? "unmerging" : "merging", merging.size(), "methods")) {
      if (subtract) {
        Collections.reverse(merging);
        for (Method m : merging) {
          try {
            m.instance().unmerge(editor);
          } catch (IllegalStateException e) {
            throw new IllegalArgumentException(
                "The adapter in "
                    + adapterDir
                    + " cannot be taken back out of merged weights (method "
                    + m.name()
                    + "): "
                    + e.getMessage(),
                e);
          }
          task.advance(1);
        }
      } else {
        for (Method m : merging) {
          m.instance().merge(editor);
          task.advance(1);
        }
      }
    }
    SavedFormat fromAdapter = SavedFormat.read(adapterDir, null);
    SavedFormat format =
        fromAdapter.isNone()
            ? SavedFormat.read(modelDir, null)
            : subtract ? SavedFormat.NONE : fromAdapter;
    writeModel(
        modelDir,
        outDir,
        checkpointNames,
        changed,
        format.isNone() ? Map.of() : Map.of(SftRun.SAMPLE_FORMAT, format.settings()));
  }

  /**
   * Whether {@link #merge} can fold this adapter into the base weights: every method that has
   * tensors, or changes the base weights, is {@link MethodInstance#mergeable}.
   */
  public static boolean mergeable(Adapted adapted) {
    return merging(adapted).stream().allMatch(m -> m.instance().mergeable());
  }

  /** The methods that a merge folds in, in order: those with tensors or that are mergeable. */
  private static List<Method> merging(Adapted adapted) {
    return adapted.methods().stream()
        .filter(m -> !m.tensors().isEmpty() || m.instance().mergeable())
        .toList();
  }

  private static long elements(long[] shape) {
    long n = 1;
    for (long d : shape) {
      n *= d;
    }
    return n;
  }

  private static float[] weightOf(Adapted adapted, String parameter) {
    HostTensor t = adapted.weights().get(parameter);
    if (t == null) {
      throw new IllegalArgumentException("\"" + parameter + "\" is not a weight of this model.");
    }
    return t.floats();
  }

  /**
   * A weight as the adapted graph holds it, or, for a base weight that a method replaced in the
   * graph (QLoRA's dequantisation), as the checkpoint holds it.
   */
  private static float[] weightOf(
      Adapted adapted, String parameter, Path modelDir, Map<String, String> checkpointNames) {
    if (adapted.weights().containsKey(parameter) || !checkpointNames.containsKey(parameter)) {
      return weightOf(adapted, parameter);
    }
    try (SafetensorsReader reader = SafetensorsReader.open(modelDir)) {
      return FourBitCheckpoint.floats(reader, checkpointNames.get(parameter));
    } catch (IOException e) {
      throw new UncheckedIOException("Could not read " + e.getMessage(), e);
    }
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
    try (SafetensorsReader base = SafetensorsReader.open(modelDir)) {
      AtomicFiles.replaceFolder(
          outDir, temp -> writeModelFiles(modelDir, base, temp, byCheckpointName, extras));
    } catch (IOException e) {
      throw new UncheckedIOException(
          "Could not write the model to " + outDir + ": " + e.getMessage(), e);
    }
  }

  /** The files of {@link #writeModel}, into the folder {@code temp}. */
  private static void writeModelFiles(
      Path modelDir,
      SafetensorsReader base,
      Path temp,
      Map<String, float[]> byCheckpointName,
      Map<String, Map<String, Object>> extras)
      throws IOException {
    {
      SafetensorsWriter writer = new SafetensorsWriter().metadata("format", "pt");
      // A 4-bit base is written as floats: its weights dequantised, their codes and scales dropped.
      Set<String> layouts = new HashSet<>();
      for (String name : base.names()) {
        if (FourBitCheckpoint.isQuantised(base, name)) {
          layouts.addAll(FourBitCheckpoint.describe(base, name).tensors());
        }
      }
      if (!layouts.isEmpty()) {
        Files.writeString(temp.resolve(ModelConfig.FILE), FourBitCheckpoint.floatConfig(modelDir));
      }
      for (String name : base.names()) {
        float[] v = byCheckpointName.get(name);
        boolean quantised = FourBitCheckpoint.isQuantised(base, name);
        if (layouts.contains(name) && !quantised) {
          continue;
        }
        if (quantised) {
          writer.add(
              name,
              FourBitCheckpoint.describe(base, name).shape(),
              v != null ? v : FourBitCheckpoint.floats(base, name));
        } else if (v != null) {
          writer.add(name, base.info(name).shape(), v);
        } else {
          writer.add(name, base.info(name).dtype(), base.info(name).shape(), base.bytes(name));
        }
      }
      Set<String> unknown = new TreeSet<>(byCheckpointName.keySet());
      unknown.removeAll(base.names());
      if (!unknown.isEmpty()) {
        // Weights a method added (BitFit's biases on Llama) join the checkpoint, with the
        // config.json flags that declare them and zeros for the siblings those flags declare too.
        AddedWeights added = AddedWeights.of(modelDir, unknown);
        added
            .tensors()
            .forEach(
                (name, shape) ->
                    writer.add(
                        name,
                        shape,
                        byCheckpointName.getOrDefault(
                            name, new float[Math.toIntExact(elements(shape))])));
        Files.writeString(temp.resolve(ModelConfig.FILE), added.json());
      }
      writer.write(temp.resolve(SafetensorsReader.SINGLE_FILE));
      for (String file : MODEL_FILES) {
        if (Files.exists(modelDir.resolve(file)) && !Files.exists(temp.resolve(file))) {
          Files.copy(modelDir.resolve(file), temp.resolve(file));
        }
      }
      AdapterFiles.writeJson(temp, extras);
    }
  }
}
