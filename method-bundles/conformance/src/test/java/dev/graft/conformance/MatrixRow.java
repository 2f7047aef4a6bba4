package dev.graft.conformance;

import dev.graft.api.FineTuningMethod;
import dev.graft.api.MethodFamily;
import dev.graft.api.MethodRegistry;
import dev.graft.api.adapt.MethodInstance;
import dev.graft.api.backend.HostTensor;
import dev.graft.graph.DType;
import dev.graft.model.ModelConfig;
import dev.graft.model.ModelGraph;
import dev.graft.model.SafetensorsReader;
import dev.graft.train.data.RowLayout;
import dev.graft.train.job.JobSpec;
import dev.graft.train.run.Adapters;
import dev.graft.train.run.SftRun;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

/**
 * One row of the conformance matrix ({@link MethodMatrixTest}): an installed method ({@link
 * Fixtures#METHODS}) on one tiny model. A new method bundle is covered by adding it to {@link
 * Fixtures#METHODS}; it writes no test of its own.
 *
 * @param method the method under test
 * @param companion the method it trains with, for a method that names a companion (QLoRA: every
 *     installed LoRA-family method in turn), else null
 * @param model the model it adapts
 */
record MatrixRow(FineTuningMethod method, FineTuningMethod companion, Model model) {

  /** The tiny models every method runs on. */
  enum Model {
    /** stories260K from ../shared: a real Llama, with grouped-query attention. */
    LLAMA,
    /** {@link TinyGpt2}: Conv1D layers that store W as (in, out), biases, tied embeddings. */
    GPT2
  }

  /**
   * Every installed method on every tiny model; a method that names a companion ({@link
   * FineTuningMethod#companion()}, QLoRA) once with each installed low-rank method that trains.
   */
  static Stream<MatrixRow> rows() {
    return Fixtures.METHODS.stream()
        .flatMap(m -> companions(m).map(c -> new MatrixRow(m, c, null)))
        .flatMap(r -> Stream.of(Model.values()).map(x -> new MatrixRow(r.method, r.companion, x)));
  }

  /** The companions a method's rows use: none (one null) unless the method names one. */
  private static Stream<FineTuningMethod> companions(FineTuningMethod m) {
    if (m.companion().isEmpty()) {
      return Stream.of((FineTuningMethod) null);
    }
    return Fixtures.METHODS.stream()
        .filter(c -> c.companion().isEmpty() && c.info().family() == MethodFamily.LOW_RANK)
        .filter(c -> refusal(m, c).isEmpty());
  }

  private static final Map<String, Optional<String>> REFUSALS = new ConcurrentHashMap<>();

  /**
   * Why the job {@code m,c} is refused when its graph is built (two methods replacing the same base
   * weight: QLoRA's dequantised W and PiSSA's residual), or empty when it builds; asked once per
   * pair on stories260K. {@code MethodMatrixTest} checks each refusal is one sentence naming both.
   */
  static Optional<String> refusal(FineTuningMethod m, FineTuningMethod c) {
    String job = m.info().name() + "," + c.info().name();
    return REFUSALS.computeIfAbsent(
        job,
        k -> {
          try {
            Path dir = Files.createTempDirectory("graft-compose");
            Map<String, String> spec = new MatrixRow(m, c, Model.LLAMA).spec(dir, 1);
            try (SftRun run = run(spec)) {
              return Optional.empty();
            }
          } catch (IllegalArgumentException e) {
            return Optional.of(e.getMessage());
          } catch (Exception e) {
            return Optional.empty(); // not a refusal: the rows themselves report it
          }
        });
  }

  /**
   * Every installed method on the pretrained model only: what a method learns in a few steps is
   * measured where there is language to learn; the tiny GPT-2 has random weights, on which prompt
   * and prefix tuning move the loss by a few hundredths in 12 steps.
   */
  static Stream<MatrixRow> pretrainedRows() {
    return rows().filter(r -> r.model() == Model.LLAMA);
  }

  /**
   * The job's {@code method} value: the method itself, or, for an objective method (which adds no
   * parameters and so leaves nothing to train alone), {@code lora,<method>}.
   */
  String jobMethods() {
    String name = method.info().name();
    if (companion != null) {
      return name + "," + companion.info().name();
    }
    return method.info().family() == MethodFamily.OBJECTIVE ? "lora," + name : name;
  }

  /** The model folder: stories260K, or a tiny GPT-2 written into {@code dir}. */
  Path modelDir(Path dir) throws Exception {
    return model == Model.LLAMA ? Fixtures.shared("models/stories260K") : TinyGpt2.write(dir);
  }

  /**
   * {@link Fixtures#spec} on this row's model with this row's methods, {@code steps} steps and a
   * checkpoint at the last one.
   */
  Map<String, String> spec(Path dir, int steps) throws Exception {
    Map<String, String> spec = Fixtures.spec(dir, jobMethods(), steps);
    spec.put("model", modelDir(dir).toString());
    // A pairwise objective (DPO) trains on preference pairs made from the same stories.
    if (RowLayout.of(SftRun.objective(JobSpec.parse(spec, Fixtures.REGISTRY), Fixtures.REGISTRY))
        == RowLayout.PAIRS) {
      spec.put("data", GoldenCurveTest.pairs(dir).toString());
    }
    spec.put("save_steps", Integer.toString(steps));
    return spec;
  }

  /** A run of {@code spec} on one CPU thread, stepped by the caller. */
  static SftRun run(Map<String, String> spec) {
    return new SftRun(
        JobSpec.parse(spec, Fixtures.REGISTRY), Fixtures.REGISTRY, Fixtures.cpu(), n -> {});
  }

  /** The job's methods, configured with the job's options, in order. */
  static List<MethodInstance> instances(Map<String, String> spec) {
    return JobSpec.parse(spec, Fixtures.REGISTRY).methods().entrySet().stream()
        .map(m -> Fixtures.REGISTRY.require(m.getKey()).method().create(m.getValue()))
        .toList();
  }

  /**
   * The job's training graph at a checkpoint, frozen ({@link Adapters#atCheckpoint}): what the
   * session computed after that step.
   */
  static Adapters.Adapted atCheckpoint(
      Map<String, String> spec, MethodRegistry registry, Path modelDir, Path checkpoint) {
    JobSpec job = JobSpec.parse(spec, registry);
    Map<String, MethodInstance> methods = new LinkedHashMap<>();
    job.methods()
        .forEach((name, o) -> methods.put(name, registry.require(name).method().create(o)));
    return Adapters.atCheckpoint(modelDir, methods, checkpoint, job.job().getInt("seed"));
  }

  /**
   * Of the tensors a saved adapter holds, those that are no parameter of the training graph: a
   * folded encoder's output (prefix tuning's projection, P-tuning's prompt encoder), computed at
   * save from trained parameters that the adapter does not hold.
   */
  static Set<String> folded(Set<String> adapterTensors, Adapters.Adapted training) {
    Set<String> folded = new TreeSet<>(adapterTensors);
    training.model().graph().parameters().forEach(p -> folded.remove(p.name()));
    return folded;
  }

  /**
   * A job's output as {@code graft:generate --adapter} loads it: {@code model/} if the job wrote
   * one, else the base model; {@code adapter/} on it if there is one.
   *
   * @param model the graph
   * @param weights every weight of the graph, by graph name
   * @param fromAdapter the weights whose values came from the adapter file
   */
  record Loaded(ModelGraph model, Map<String, HostTensor> weights, Set<String> fromAdapter) {
    /** The logits for {@link Fixtures#logits}' fixed prompt. */
    float[] logits() {
      return Fixtures.logits(model, weights);
    }
  }

  /** Loads the output folder {@code out} of a job on {@code base}. */
  static Loaded load(Path out, Path base) throws Exception {
    Path modelDir = Files.isDirectory(out.resolve("model")) ? out.resolve("model") : base;
    if (Files.isDirectory(out.resolve("adapter"))) {
      Adapters.Adapted adapted =
          Adapters.load(modelDir, out.resolve("adapter"), Fixtures.REGISTRY, false);
      return new Loaded(adapted.model(), adapted.weights(), adapted.fromAdapter());
    }
    ModelGraph graph =
        ModelGraph.build(ModelConfig.read(modelDir.resolve("config.json")), DType.FLOAT32);
    Map<String, HostTensor> weights = new LinkedHashMap<>();
    try (SafetensorsReader reader = SafetensorsReader.open(modelDir)) {
      graph
          .weights(reader, DType.FLOAT32)
          .forEach((name, t) -> weights.put(name, HostTensor.ofFloats(t.shape(), t.floats())));
    }
    return new Loaded(graph, weights, Set.of());
  }

  /** The largest difference of {@code a} from {@code b}, relative to the largest |b|. */
  static double relativeDiff(float[] a, float[] b) {
    double max = 0;
    double scale = 0;
    for (int i = 0; i < a.length; i++) {
      max = Math.max(max, Math.abs(a[i] - b[i]));
      scale = Math.max(scale, Math.abs(b[i]));
    }
    return max / scale;
  }

  /** The losses a finished job wrote to {@code metrics.csv}, as text, one per step. */
  static List<String> losses(Path out) throws Exception {
    return Files.readAllLines(out.resolve("metrics.csv")).stream()
        .skip(1)
        .map(l -> l.split(",")[1])
        .toList();
  }

  @Override
  public String toString() {
    return jobMethods() + " on " + model.name().toLowerCase(java.util.Locale.ROOT);
  }
}
