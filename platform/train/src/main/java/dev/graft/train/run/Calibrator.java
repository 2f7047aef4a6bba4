package dev.graft.train.run;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.api.adapt.Calibration;
import dev.graft.api.adapt.MethodInstance;
import dev.graft.api.backend.ComputeBackend;
import dev.graft.api.backend.HostTensor;
import dev.graft.api.backend.Program;
import dev.graft.api.backend.Session;
import dev.graft.graph.DType;
import dev.graft.graph.Graph;
import dev.graft.graph.Tensor;
import dev.graft.model.ModelConfig;
import dev.graft.model.ModelGraph;
import dev.graft.model.SafetensorsReader;
import dev.graft.train.adapt.GraphAdaptation;
import dev.graft.train.data.Batches;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * The calibration phase: the methods' {@link MethodInstance#calibrate} over the graph as warm-up
 * training left it, run forward only (no backward, no optimizer) in a session of its own. Every
 * answer is recorded, so that a resumed job replays the same answers instead of training and
 * measuring again.
 */
final class Calibrator {
  /** The file in a checkpoint that holds the recorded answers. */
  static final String FILE = "calibration.json";

  private static final ObjectMapper JSON = new ObjectMapper();

  /** Batch count asked → the answer, in the order asked. */
  private final Map<Integer, Map<String, Double>> answers = new TreeMap<>();

  /**
   * Runs {@code calibrate} of every method over the warm-up {@code trained} program.
   *
   * @param names the methods' names, in the order of {@code methods}
   */
  void calibrate(
      ModelConfig config,
      SafetensorsReader checkpoint,
      List<String> names,
      List<MethodInstance> methods,
      StepProgram trained,
      Batches batches,
      ComputeBackend backend,
      long seed,
      java.util.function.Consumer<String> log) {
    ModelGraph model = ModelGraph.build(config, DType.FLOAT32);
    GraphAdaptation adaptation =
        new GraphAdaptation(new ModelGraphModel(model, checkpoint), false, DType.FLOAT32);
    for (int i = 0; i < methods.size(); i++) {
      adaptation.adapting(names.get(i));
      methods.get(i).adapt(adaptation);
    }
    // The warm-up's trained values enter as frozen weights of a forward-only graph.
    Map<String, HostTensor> weights =
        new LinkedHashMap<>(adaptation.methodWeights(adaptation.initialValues(seed)));
    Graph graph = model.graph();
    for (Tensor t : graph.trainables()) {
      weights.put(t.name(), trained.session().state(t.name()));
    }
    adaptation.setTrainable(p -> true, false);
    graph.removeOutput(ModelGraph.LOGITS);
    adaptation.outputs().forEach(graph::output);
    Program program =
        model.program(checkpoint, weights, Map.of(), StepProgram.dtypes(graph), false);
    Set<String> inputs = Set.copyOf(graph.inputs().stream().map(Tensor::name).toList());
    try (Session session = backend.open(program)) {
      Calibration calibration =
          new Calibration() {
            @Override
            public Map<String, Double> meanSquaredNorms(int count) {
              return measure(count, session, batches, inputs, adaptation);
            }

            @Override
            public void log(String line) {
              log.accept(line);
            }
          };
      methods.forEach(m -> m.calibrate(calibration));
    }
  }

  private Map<String, Double> measure(
      int count, Session session, Batches batches, Set<String> inputs, GraphAdaptation adaptation) {
    requirePositive(count);
    Map<String, Double> sums = new LinkedHashMap<>();
    int n = Math.min(count, batches.perEpoch());
    for (int b = 0; b < n; b++) {
      Map<String, HostTensor> feeds = new LinkedHashMap<>(batches.batch(b).feeds());
      feeds.keySet().retainAll(inputs);
      Map<String, HostTensor> out = session.run(feeds, adaptation.outputs().keySet());
      out.forEach((name, value) -> sums.merge(name, squaredNorm(value), Double::sum));
    }
    sums.replaceAll((name, sum) -> sum / n);
    answers.put(count, sums);
    return sums;
  }

  /** The recorded answers as JSON for a file beside an adapter ({@value #FILE}); empty if none. */
  Map<String, Object> json() {
    Map<String, Object> json = new LinkedHashMap<>();
    answers.forEach((count, answer) -> json.put(Integer.toString(count), answer));
    return json;
  }

  /**
   * Calls {@code calibrate} of every method with the answers recorded in checkpoint {@code dir},
   * and keeps them for the next checkpoints.
   */
  void replay(Path dir, List<MethodInstance> methods) {
    Map<Integer, Map<String, Double>> recorded;
    try {
      recorded =
          JSON.readValue(
              dir.resolve(FILE).toFile(),
              new TypeReference<TreeMap<Integer, Map<String, Double>>>() {});
    } catch (IOException e) {
      throw new UncheckedIOException(
          "Could not read " + dir.resolve(FILE) + ": " + e.getMessage(), e);
    }
    answers.putAll(recorded);
    Calibration calibration =
        count -> {
          requirePositive(count);
          Map<String, Double> answer = recorded.get(count);
          if (answer == null) {
            throw new IllegalArgumentException(
                "Checkpoint "
                    + dir
                    + " recorded calibrations over "
                    + recorded.keySet()
                    + " batches, not "
                    + count
                    + "; the method's options changed since the job started.");
          }
          return answer;
        };
    methods.forEach(m -> m.calibrate(calibration));
  }

  /** Whether checkpoint {@code dir} holds calibration answers. */
  static boolean recorded(Path dir) {
    return Files.exists(dir.resolve(FILE));
  }

  /** Writes the answers into checkpoint {@code dir}, if any calibration ran. */
  void save(Path dir) {
    if (answers.isEmpty()) {
      return;
    }
    try {
      JSON.writerWithDefaultPrettyPrinter().writeValue(dir.resolve(FILE).toFile(), answers);
    } catch (IOException e) {
      throw new UncheckedIOException(
          "Could not write " + dir.resolve(FILE) + ": " + e.getMessage(), e);
    }
  }

  private static void requirePositive(int count) {
    if (count <= 0) {
      throw new IllegalArgumentException(
          "Calibration needs at least one batch, not " + count + ".");
    }
  }

  private static double squaredNorm(HostTensor t) {
    double sum = 0;
    for (float v : t.floats()) {
      sum += (double) v * v;
    }
    return sum;
  }
}
