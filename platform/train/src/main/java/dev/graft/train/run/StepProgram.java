package dev.graft.train.run;

import dev.graft.api.Options;
import dev.graft.api.adapt.MethodInstance;
import dev.graft.api.backend.ComputeBackend;
import dev.graft.api.backend.HostTensor;
import dev.graft.api.backend.Program;
import dev.graft.api.backend.Session;
import dev.graft.graph.DType;
import dev.graft.graph.Graph;
import dev.graft.graph.Node;
import dev.graft.graph.Tensor;
import dev.graft.graph.TrainingStep;
import dev.graft.model.ModelConfig;
import dev.graft.model.ModelGraph;
import dev.graft.model.SafetensorsReader;
import dev.graft.model.Tokenizer;
import dev.graft.train.adapt.GraphAdaptation;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One build of the job's model: a fresh model graph adapted by every method, turned into a training
 * step (loss, backward, AdamW) and opened on the backend, with its carried state set to its initial
 * values. A run builds one per phase (a calibration rebuilds the graph).
 */
final class StepProgram implements AutoCloseable {
  private final ModelGraph model;
  private final GraphAdaptation adaptation;
  private final TrainingStep step;
  private final Session session;
  private final Map<String, Double> groupScale = new LinkedHashMap<>();

  /** Output-name prefix of the objective's metrics: {@code metric.0}, {@code metric.1}, … */
  static final String METRIC = "metric.";

  private final List<String> metricNames = new java.util.ArrayList<>();
  private final long seed;

  /**
   * Adapts a fresh graph with {@code methods} (in order) and opens its training step.
   *
   * @param names the methods' names, in the order of {@code methods}, for messages
   * @param tokenizer the model's tokenizer, which methods read through {@code Adaptation.encode}
   */
  StepProgram(
      ModelConfig config,
      SafetensorsReader checkpoint,
      List<String> names,
      List<MethodInstance> methods,
      Tokenizer tokenizer,
      Options job,
      ComputeBackend backend,
      long seed) {
    this.model = ModelGraph.build(config, DType.FLOAT32);
    GraphAdaptation training =
        new GraphAdaptation(new ModelGraphModel(model, checkpoint), true, DType.FLOAT32)
            .withTokenizer(tokenizer::encode);
    // Continuing from a saved adapter: methods declare what they saved (a folded table) and train
    // it.
    this.adaptation = job.has("adapter") ? training.forSavedAdapter() : training;
    for (int i = 0; i < methods.size(); i++) {
      adaptation.adapting(names.get(i));
      methods.get(i).adapt(adaptation);
    }
    Graph graph = model.graph();
    if (graph.trainables().isEmpty()) {
      throw new IllegalArgumentException(nothingTrainable(names));
    }
    for (String p : adaptation.exposedGradients()) {
      if (!graph.isTrainable(graph.tensor(p))) {
        throw new IllegalArgumentException(
            "A method reads the gradient of \""
                + p
                + "\", which does not train; only trainables"
                + " have gradients.");
      }
    }
    if (adaptation.calibrationWarmup() >= 0 && adaptation.outputs().isEmpty()) {
      throw new IllegalArgumentException(
          "A method asked for calibration but declared no output to measure; declare one with"
              + " Adaptation.output.");
    }
    this.step = trainingStep(graph, job);
    Map<String, float[]> initial = adaptation.initialValues(seed);
    this.seed = seed;
    Program program =
        model.program(
            checkpoint,
            adaptation.methodWeights(initial),
            step.carry(),
            dtypes(step.graph()),
            true);
    this.session = backend.open(program);
    adaptation.releaseFrozenValues(); // the backend has its copy
    try {
      initialState(checkpoint, initial);
    } catch (RuntimeException e) {
      session.close();
      throw e;
    }
  }

  /**
   * Why the job cannot train: no method declared or unfroze a parameter. A method that only formats
   * samples (instruction-tuning) is named, with the combination that works.
   */
  private String nothingTrainable(List<String> names) {
    String owner = adaptation.sampleFormatOwner();
    return (names.size() == 1 ? "Method " : "Methods ")
        + String.join(", ", names)
        + " left nothing trainable"
        + (owner == null
            ? "; add an adapter method such as lora."
            : ": "
                + owner
                + " sets how samples are formatted but adds no parameters; combine it with an"
                + " adapter method or full, e.g. method=lora,"
                + owner
                + ".");
  }

  /**
   * Every element type the graph computes with, so that the backend can refuse what it lacks: the
   * types of every op's results and operands, except a Cast's operand — a tensor only stored in a
   * type (bfloat16 weights cast to float32 where they are used) needs no kernel of that type.
   */
  static Set<DType> dtypes(Graph graph) {
    Set<DType> types = EnumSet.noneOf(DType.class);
    for (Node n : graph.nodes()) {
      n.outputs().forEach(t -> types.add(t.dtype()));
      if (!n.op().equals("Cast")) {
        n.inputs().forEach(t -> types.add(t.dtype()));
      }
    }
    graph.outputs().values().forEach(t -> types.add(t.dtype()));
    return types;
  }

  /**
   * Loss = the objective (mean cross-entropy over learned positions unless a method set one) + Σ
   * weight · method term; then backward and AdamW, with the methods' parameter groups, carried
   * state and exposed gradients.
   */
  private TrainingStep trainingStep(Graph graph, Options job) {
    Objectives.Built objective = Objectives.build(graph, model.logits(), adaptation.objective());
    Tensor loss = objective.loss();
    objective
        .metrics()
        .forEach(
            (name, value) -> {
              graph.output(METRIC + metricNames.size(), value);
              metricNames.add(name);
            });
    graph.removeOutput(ModelGraph.LOGITS); // a step fetches the loss, not (batch, seq, vocab)
    for (GraphAdaptation.LossTerm term : adaptation.losses()) {
      loss = graph.add(loss, graph.mul(term.term(), term.weight()));
    }
    adaptation.outputs().forEach(graph::output);
    int accumulation = job.getInt("gradient_accumulation_steps");
    TrainingStep.Builder builder =
        TrainingStep.builder(graph, loss)
            .weightDecay(job.getDouble("weight_decay"))
            .betas(job.getDouble("adam_beta1"), job.getDouble("adam_beta2"))
            .eps(job.getDouble("adam_epsilon"))
            .accumulationSteps(accumulation);
    if (job.getDouble("max_grad_norm") > 0) {
      builder.maxGradNorm(job.getDouble("max_grad_norm"));
    }
    if (job.getInt("skip_nonfinite_steps") > 0) {
      builder.skipNonFinite();
    }
    Set<Tensor> grouped = new HashSet<>();
    for (GraphAdaptation.Group g : adaptation.groups()) {
      Tensor[] members =
          graph.trainables().stream()
              .filter(t -> g.members().test(t.name()) && grouped.add(t))
              .toArray(Tensor[]::new);
      if (members.length > 0) {
        builder.group(g.name(), g.weightDecay(), members);
        groupScale.put(g.name(), g.learningRateScale());
      }
    }
    groupScale.put("default", 1.0);
    adaptation.stateTensors().keySet().forEach(s -> builder.state(graph.tensor(s)));
    adaptation.exposedGradients().forEach(p -> builder.exposeGradient(graph.tensor(p)));
    return builder.build();
  }

  /**
   * Trainables start from their methods' initialisation (or the checkpoint's values, for base
   * weights made trainable), declared state from its initial value; the AdamW moments and
   * accumulators start at 0.
   */
  private void initialState(SafetensorsReader checkpoint, Map<String, float[]> initial) {
    // Moments and accumulators start at 0: views of one zero buffer, as long as the largest.
    // Checkpoint values are read through one scratch buffer, so that no mapping of the file
    // stays resident after the session has copied them in.
    ByteBuffer zeros = null;
    ByteBuffer scratch = null;
    Map<String, HostTensor> state = adaptation.stateTensors();
    for (String input : step.carry().values()) {
      Tensor t = step.graph().tensor(input);
      long[] shape = t.shape().sizes();
      HostTensor value;
      if (state.containsKey(input)) {
        value = state.get(input);
      } else if (initial.containsKey(input)) {
        value = HostTensor.ofFloats(shape, initial.get(input));
      } else if (step.graph().parameters().contains(t)) {
        if (scratch == null) {
          scratch = ByteBuffer.allocateDirect(largestState()).order(ByteOrder.LITTLE_ENDIAN);
        }
        value = model.weight(checkpoint, input, DType.FLOAT32, scratch);
      } else {
        int bytes = Math.toIntExact(HostTensor.elements(shape) * Float.BYTES);
        if (zeros == null || zeros.capacity() < bytes) {
          zeros = ByteBuffer.allocateDirect(largestState()).order(ByteOrder.LITTLE_ENDIAN);
        }
        value = new HostTensor(DType.FLOAT32, shape, zeros.slice(0, bytes));
      }
      session.setState(input, value);
    }
  }

  /** The byte size of the largest carried value. */
  private int largestState() {
    long largest = 0;
    for (String input : step.carry().values()) {
      Tensor t = step.graph().tensor(input);
      largest = Math.max(largest, t.shape().numel().size() * t.dtype().byteSize());
    }
    return Math.toIntExact(largest);
  }

  /** The objective's metric names; metric i is the step's output {@value #METRIC}i. */
  List<String> metricNames() {
    return metricNames;
  }

  ModelGraph model() {
    return model;
  }

  GraphAdaptation adaptation() {
    return adaptation;
  }

  TrainingStep step() {
    return step;
  }

  Session session() {
    return session;
  }

  /** Learning-rate factor of each parameter group, {@code default} included. */
  Map<String, Double> groupScale() {
    return groupScale;
  }

  /**
   * The value of a parameter a method declared, as its initialisation gives it (a frozen one keeps
   * it), or null for any other name. Computed anew on each call: nothing is kept on the host.
   */
  float[] declaredValue(String name) {
    return adaptation.declared().contains(name) ? adaptation.initialValues(seed).get(name) : null;
  }

  @Override
  public void close() {
    session.close();
  }
}
