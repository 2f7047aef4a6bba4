package dev.graft.conformance;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.api.MethodRegistry;
import dev.graft.api.backend.HostTensor;
import dev.graft.graph.DType;
import dev.graft.model.ModelConfig;
import dev.graft.model.ModelGraph;
import dev.graft.model.SafetensorsReader;
import dev.graft.model.SafetensorsWriter;
import dev.graft.train.job.JobSpec;
import dev.graft.train.registry.FixedMethodRegistry;
import dev.graft.train.run.Adapters;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Save → load of a test-only method with no PEFT type, and the errors of loading: a 2-step job on
 * stories260K saves, the loading path reads it back, every tensor the job trained is in the saved
 * files and loads bit-exact, and the loaded model's logits equal those of the trained weights
 * ({@link #assertRoundTrip}, which {@link MethodMatrixTest} holds every installed method to).
 */
class AdapterRoundTripTest {
  private static final MethodRegistry WITH_BOTTLENECK =
      new FixedMethodRegistry(
          Stream.concat(Fixtures.METHODS.stream(), Stream.of(new BottleneckMethod())).toList());

  @TempDir Path dir;

  @Test
  void aMethodWithoutPeftTypeIsSavedInGraftLayoutAndLoadsBack() throws Exception {
    Map<String, String> spec = spec(BottleneckMethod.NAME);
    Path out = Fixtures.train(spec, dir.resolve("job"), WITH_BOTTLENECK);
    assertFalse(Files.exists(out.resolve("model")), "no base weight trained: no model folder");
    JsonNode config = config(out);
    assertFalse(config.has("peft_type"), config.toString());
    assertEquals(4, config.get("graft_test_bottleneck_size").asInt(), "the method's own field");
    try (SafetensorsReader adapter =
        SafetensorsReader.open(out.resolve("adapter/adapter_model.safetensors"))) {
      assertEquals(10, adapter.names().size(), "5 blocks × (down, up)");
      assertArrayEquals(
          new long[] {4, 64}, adapter.info("model.layers.0.mlp_adapter.down.weight").shape());
    }
    assertRoundTrip(spec, out, WITH_BOTTLENECK, Fixtures.shared("models/stories260K"));
  }

  @Test
  void fullFineTuningWithAnInsertedModuleSavesTheModelAndAnAdapterOnIt() throws Exception {
    Map<String, String> spec = spec("full," + BottleneckMethod.NAME);
    Path out = Fixtures.train(spec, dir.resolve("job"), WITH_BOTTLENECK);
    assertTrue(Files.exists(out.resolve("model/model.safetensors")));
    assertEquals(
        out.resolve("model").toAbsolutePath().toString(),
        config(out).get("base_model_name_or_path").asText(),
        "the adapter applies to the trained model");
    assertRoundTrip(spec, out, WITH_BOTTLENECK, Fixtures.shared("models/stories260K"));
  }

  @Test
  void anAdapterTrainedWithTheModelWeightsIsRefusedOnTheUntrainedBase() throws Exception {
    Path out =
        Fixtures.train(spec("full," + BottleneckMethod.NAME), dir.resolve("job"), WITH_BOTTLENECK);
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                Adapters.load(
                    Fixtures.shared("models/stories260K"),
                    out.resolve("adapter"),
                    WITH_BOTTLENECK,
                    false));
    assertTrue(e.getMessage().endsWith("; use that folder as the model."), e.getMessage());
  }

  @Test
  void aGraftAdapterThatLacksATensorIsRefusedByName() throws Exception {
    Path out = Fixtures.train(spec(BottleneckMethod.NAME), dir.resolve("job"), WITH_BOTTLENECK);
    Path broken = Files.createDirectories(dir.resolve("broken"));
    Files.copy(out.resolve("adapter/adapter_config.json"), broken.resolve("adapter_config.json"));
    try (SafetensorsReader adapter =
        SafetensorsReader.open(out.resolve("adapter/adapter_model.safetensors"))) {
      SafetensorsWriter writer = new SafetensorsWriter();
      for (String name : adapter.names()) {
        if (!name.equals("model.layers.3.mlp_adapter.up.weight")) {
          writer.add(name, adapter.info(name).shape(), adapter.floats(name));
        }
      }
      writer.write(broken.resolve("adapter_model.safetensors"));
    }
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                Adapters.load(
                    Fixtures.shared("models/stories260K"), broken, WITH_BOTTLENECK, false));
    assertTrue(
        e.getMessage().contains("missing [model.layers.3.mlp_adapter.up.weight]"), e.getMessage());
  }

  @Test
  void anAdapterWhoseMethodIsNotInstalledNamesTheMethodToInstall() throws Exception {
    Path out = Fixtures.train(spec(BottleneckMethod.NAME), dir.resolve("job"), WITH_BOTTLENECK);
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                Adapters.load(
                    Fixtures.shared("models/stories260K"),
                    out.resolve("adapter"),
                    Fixtures.REGISTRY,
                    false));
    assertTrue(
        e.getMessage().contains("\"" + BottleneckMethod.NAME + "\" loads; it is not installed"),
        e.getMessage());
  }

  private Map<String, String> spec(String methods) throws Exception {
    Map<String, String> spec = Fixtures.spec(dir, methods, 2);
    spec.put("save_steps", "2");
    return spec;
  }

  private static JsonNode config(Path out) throws Exception {
    return new ObjectMapper().readTree(out.resolve("adapter/adapter_config.json").toFile());
  }

  /**
   * Loads the job's output as {@code graft:generate --adapter} would ({@code model/} if the job
   * wrote one, else the base model; {@code adapter/} on it if there is one) and checks it against
   * the job's last checkpoint ({@code checkpoint-<max_steps>}), which holds every trained tensor as
   * the session had it. Returns the loaded model's logits.
   *
   * @param base the job's model folder
   */
  static float[] assertRoundTrip(
      Map<String, String> spec, Path out, MethodRegistry registry, Path base) throws Exception {
    Path modelDir = Files.isDirectory(out.resolve("model")) ? out.resolve("model") : base;
    ModelGraph graph;
    Map<String, HostTensor> loaded = new LinkedHashMap<>();
    Set<String> saved = new HashSet<>();
    if (Files.isDirectory(out.resolve("adapter"))) {
      assertMethodsRecorded(spec, out, registry);
      Adapters.Adapted adapted = Adapters.load(modelDir, out.resolve("adapter"), registry, false);
      graph = adapted.model();
      adapted.weights().forEach((name, t) -> loaded.put(name, copy(t)));
      saved.addAll(adapted.fromAdapter());
    } else {
      graph = ModelGraph.build(ModelConfig.read(modelDir.resolve("config.json")), DType.FLOAT32);
      try (SafetensorsReader reader = SafetensorsReader.open(modelDir)) {
        graph.weights(reader, DType.FLOAT32).forEach((name, t) -> loaded.put(name, copy(t)));
      }
    }
    if (!modelDir.equals(base)) {
      saved.addAll(graph.checkpointNames().keySet());
    }

    // The trained weights as the job had them: the base model's, then every trained tensor.
    Map<String, HostTensor> trained = new LinkedHashMap<>(loaded);
    try (SafetensorsReader reader = SafetensorsReader.open(base)) {
      graph.weights(reader, DType.FLOAT32).forEach((name, t) -> trained.put(name, copy(t)));
    }
    List<String> trainedNames = new ArrayList<>();
    Map<String, HostTensor> reshaped = new LinkedHashMap<>();
    Path checkpointState =
        out.resolve("checkpoint-" + spec.get("max_steps") + "/state.safetensors");
    try (SafetensorsReader state = SafetensorsReader.open(checkpointState)) {
      for (String name : state.names()) {
        if (loaded.containsKey(name)) {
          trainedNames.add(name);
          HostTensor t = HostTensor.ofFloats(state.info(name).shape(), state.floats(name));
          if (java.util.Arrays.equals(t.shape(), loaded.get(name).shape())) {
            trained.put(name, t);
          } else {
            reshaped.put(name, t);
          }
        }
      }
    }
    Path checkpoint = out.resolve("checkpoint-" + spec.get("max_steps"));
    Adapters.Adapted training = MatrixRow.atCheckpoint(spec, registry, modelDir, checkpoint);
    Set<String> folded = MatrixRow.folded(saved, training);
    assertFalse(
        trainedNames.isEmpty() && folded.isEmpty(),
        "the checkpoint holds the trained tensors, or the adapter their folded output");
    for (String name : trainedNames) {
      assertTrue(saved.contains(name), name + " trained but the job did not save it");
    }
    for (String name : trained.keySet()) {
      assertEquals(trained.get(name).data(), loaded.get(name).data(), name + " loads bit-exact");
    }
    float[] logits = Fixtures.logits(graph, loaded);
    if (reshaped.isEmpty()) {
      assertArrayEquals(Fixtures.logits(graph, trained), logits, "logits of the loaded model");
    } else {
      assertSameModel(out, modelDir, registry, reshaped, logits);
    }
    if (!folded.isEmpty()) {
      // The fold (double precision) against the training graph's encoder (float32).
      assertArrayEquals(
          Fixtures.logits(training.model(), training.weights()),
          logits,
          1e-4f,
          "logits of the loaded model with " + folded + " folded at save");
    }
    return logits;
  }

  /**
   * A method that saves a tensor in another shape than it trained it (AdaLoRA leaves pruned ranks
   * out, as PEFT does) is held to the model, not to the tensor: the adapter rewritten with the
   * trained values at their own shapes must load to the same logits within float32 rounding (the
   * sums run over other lengths).
   */
  private static void assertSameModel(
      Path out,
      Path modelDir,
      MethodRegistry registry,
      Map<String, HostTensor> trained,
      float[] logits)
      throws Exception {
    Path whole = Files.createDirectories(out.resolve("adapter-as-trained"));
    Files.copy(out.resolve("adapter/adapter_config.json"), whole.resolve("adapter_config.json"));
    SafetensorsWriter writer = new SafetensorsWriter();
    try (SafetensorsReader adapter =
        SafetensorsReader.open(out.resolve("adapter/adapter_model.safetensors"))) {
      for (String key : adapter.names()) {
        String name = key.startsWith("base_model.model.") ? key.substring(17) : key;
        HostTensor t = trained.get(name);
        writer.add(
            key,
            t == null ? adapter.info(key).shape() : t.shape(),
            t == null ? adapter.floats(key) : t.floats());
      }
    }
    writer.write(whole.resolve("adapter_model.safetensors"));
    Adapters.Adapted asTrained = Adapters.load(modelDir, whole, registry, false);
    float[] expected = Fixtures.logits(asTrained.model(), asTrained.weights());
    double diff = MatrixRow.relativeDiff(logits, expected);
    assertTrue(diff < 1e-5, "logits of the loaded model vs the trained one: " + diff);
  }

  /** {@code graft_methods} lists the job's methods in order, each with the job's options. */
  private static void assertMethodsRecorded(
      Map<String, String> spec, Path out, MethodRegistry registry) throws Exception {
    ObjectMapper json = new ObjectMapper();
    JobSpec job = JobSpec.parse(spec, registry);
    JsonNode recorded = config(out).get("graft_methods");
    assertEquals(job.methods().size(), recorded.size(), recorded.toString());
    int i = 0;
    for (Map.Entry<String, dev.graft.api.Options> m : job.methods().entrySet()) {
      Map<String, Object> options = new LinkedHashMap<>(m.getValue().asMap());
      options.values().removeIf(v -> v == null);
      assertEquals(m.getKey(), recorded.get(i).get("name").asText());
      assertEquals(registry.require(m.getKey()).version(), recorded.get(i).get("version").asText());
      assertEquals(json.valueToTree(options), recorded.get(i).get("options"));
      i++;
    }
  }

  /** A copy of {@code t}'s bytes (float32 weights, and the integer codes a method computed). */
  private static HostTensor copy(HostTensor t) {
    ByteBuffer data = t.data().duplicate().rewind();
    ByteBuffer copy = ByteBuffer.allocate(data.remaining()).order(data.order());
    copy.put(data).flip();
    return new HostTensor(t.dtype(), t.shape(), copy);
  }
}
