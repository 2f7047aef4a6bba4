package dev.graft.train.run;

import dev.graft.api.MethodRegistry;
import dev.graft.api.Options;
import dev.graft.api.adapt.MethodInstance;
import dev.graft.api.adapt.SampleFormat;
import dev.graft.api.backend.ComputeBackend;
import dev.graft.api.backend.HostTensor;
import dev.graft.api.backend.Program;
import dev.graft.api.backend.Session;
import dev.graft.graph.DType;
import dev.graft.graph.Graph;
import dev.graft.graph.Tensor;
import dev.graft.graph.TrainingStep;
import dev.graft.model.ChatTemplate;
import dev.graft.model.ModelConfig;
import dev.graft.model.ModelGraph;
import dev.graft.model.SafetensorsReader;
import dev.graft.model.SafetensorsWriter;
import dev.graft.model.Tokenizer;
import dev.graft.train.adapt.GraphAdaptation;
import dev.graft.train.data.Batches;
import dev.graft.train.data.Encoded;
import dev.graft.train.data.Jsonl;
import dev.graft.train.data.Sample;
import dev.graft.train.data.Split;
import dev.graft.train.job.JobSpec;
import dev.graft.train.job.Run;
import dev.graft.train.step.Schedule;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

/**
 * Supervised fine-tuning of a Hugging Face causal LM: the job's methods adapt the model graph, the
 * loss is next-token cross-entropy on the learned positions (plus any method loss terms), and one
 * ONNX program per optimizer step (forward, backward, AdamW) runs on the chosen backend.
 */
public final class SftRun implements Run {

  /** The file, in {@code adapter/} or {@code model/}, that records how samples were formatted. */
  public static final String SAMPLE_FORMAT = "graft_sample_format.json";

  private final Path modelDir;
  private final SafetensorsReader checkpoint;
  private final List<MethodInstance> methods = new ArrayList<>();
  private final GraphAdaptation adaptation;
  private final TrainingStep step;
  private final Session session;
  private final Batches batches;
  private final Schedule schedule;
  private final Map<String, Double> groupScale = new LinkedHashMap<>();
  private final int accumulation;
  private final long seed;
  private final long totalSteps;
  private final boolean fetchGradNorm;
  private final Map<String, String> checkpointNames;

  /** Samples held out of training (validation_split), written out for graft:eval. */
  private List<Sample> validation = List.of();

  /**
   * Loads the model and data and opens the step program on the backend.
   *
   * @param log receives one-line notes (truncated samples, sizes)
   */
  public SftRun(
      JobSpec spec, MethodRegistry registry, ComputeBackend backend, Consumer<String> log) {
    Options job = spec.job();
    this.modelDir = Path.of(job.getString("model"));
    this.seed = job.getInt("seed");
    this.accumulation = job.getInt("gradient_accumulation_steps");
    if (accumulation < 1) {
      throw new IllegalArgumentException(
          "gradient_accumulation_steps must be at least 1, not " + accumulation + ".");
    }
    try {
      ModelConfig config = ModelConfig.read(modelDir.resolve(ModelConfig.FILE));
      this.checkpoint = SafetensorsReader.open(modelDir);
      config.check(checkpoint);
      Tokenizer tokenizer = Tokenizer.load(modelDir);
      ChatTemplate template = chatTemplate(modelDir);

      ModelGraph model = ModelGraph.build(config, DType.FLOAT32);
      this.checkpointNames = model.checkpointNames();
      this.adaptation =
          new GraphAdaptation(new ModelGraphModel(model, checkpoint), true, DType.FLOAT32);
      for (Map.Entry<String, Options> m : spec.methods().entrySet()) {
        MethodInstance instance = registry.require(m.getKey()).method().create(m.getValue());
        adaptation.adapting(m.getKey());
        instance.adapt(adaptation);
        methods.add(instance);
      }
      if (adaptation.objective() != null) {
        throw new IllegalArgumentException(
            "Method "
                + String.join(", ", spec.methods().keySet())
                + " sets its own objective, which supervised"
                + " fine-tuning does not run.");
      }
      if (!adaptation.inputs().isEmpty()) {
        throw new IllegalArgumentException(
            "The methods need per-sample inputs "
                + adaptation.inputs().keySet()
                + " that this data does not supply.");
      }
      Graph graph = model.graph();
      if (graph.trainables().isEmpty()) {
        throw new IllegalArgumentException(nothingTrainable(spec.methods().keySet()));
      }
      // The data comes after the methods: a method may set how samples are formatted.
      this.batches = batches(job, tokenizer, template, config.maxPositionEmbeddings(), log);
      long perEpoch = (batches.perEpoch() + accumulation - 1) / accumulation;
      this.totalSteps =
          job.getInt("max_steps") > 0
              ? job.getInt("max_steps")
              : Math.max(1, (long) Math.ceil(job.getDouble("num_train_epochs") * perEpoch));
      this.schedule =
          new Schedule(
              Schedule.Type.valueOf(job.getString("lr_scheduler_type").toUpperCase(Locale.ROOT)),
              job.getDouble("learning_rate"),
              Schedule.warmup(
                  job.getInt("warmup_steps"), job.getDouble("warmup_ratio"), totalSteps),
              totalSteps);
      this.step = trainingStep(graph, model, job);
      this.fetchGradNorm = step.graph().outputs().containsKey("grad_norm");
      Program program =
          model.program(
              checkpoint, step.carry(), Set.of(DType.FLOAT32, DType.INT64, DType.BOOL), true);
      this.session = backend.open(program);
      try {
        initialState(model, job.has("adapter") ? job.getString("adapter") : "");
      } catch (RuntimeException e) {
        session.close();
        throw e;
      }
    } catch (IOException e) {
      throw new UncheckedIOException("Could not read " + e.getMessage(), e);
    }
  }

  /**
   * Why the job cannot train: no method declared or unfroze a parameter. A method that only formats
   * samples (instruction-tuning) is named, with the combination that works.
   */
  private String nothingTrainable(Set<String> names) {
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

  private static ChatTemplate chatTemplate(Path dir) throws IOException {
    try {
      return ChatTemplate.load(dir);
    } catch (IllegalArgumentException noTemplate) {
      return null;
    }
  }

  /**
   * The training batches: samples read, the validation split held out, the rest encoded and cut to
   * {@code max_length}, or to the model's {@code context} when that is shorter.
   */
  private Batches batches(
      Options job, Tokenizer tokenizer, ChatTemplate template, int context, Consumer<String> log) {
    List<Sample> samples =
        Jsonl.read(
            Path.of(job.getString("data")),
            Jsonl.Format.parse(job.getString("data_format")),
            job.getMap("data_columns"),
            job.getInt("max_samples"));
    Split split = Split.of(samples, job.getDouble("validation_split"), seed);
    validation = split.validation();
    Encoded.Settings settings =
        new Encoded.Settings(
            job.getInt("max_length"),
            job.getBoolean("completion_only_loss"),
            job.getBoolean("assistant_only_loss"),
            job.getString("truncation").equals("fail"));
    if (settings.maxLength() > context) {
      log.accept(
          "max_length "
              + settings.maxLength()
              + " is more than the model's context (max_position_embeddings "
              + context
              + "); samples are cut to "
              + context
              + ".");
      settings = settings.within(context);
    }
    List<Encoded> encoded = new ArrayList<>();
    int[] truncated = {0};
    for (int i = 0; i < split.train().size(); i++) {
      encoded.add(
          Encoded.of(
              split.train().get(i),
              i,
              tokenizer,
              template,
              adaptation.sampleFormat(),
              settings,
              w -> truncated[0]++));
    }
    if (truncated[0] > 0) {
      log.accept(
          truncated[0]
              + " of "
              + encoded.size()
              + " samples were cut to max_length "
              + settings.maxLength()
              + ".");
    }
    int pad = Batches.padId(tokenizer);
    return new Batches(
        encoded,
        job.getInt("per_device_train_batch_size"),
        settings.maxLength(),
        job.getBoolean("packing"),
        seed,
        pad);
  }

  /**
   * Loss = mean cross-entropy over learned positions + Σ weight · method term; then backward and
   * AdamW.
   */
  private TrainingStep trainingStep(Graph graph, ModelGraph model, Options job) {
    Tensor loss = Batches.loss(graph, model.logits());
    graph.removeOutput(ModelGraph.LOGITS); // a step fetches the loss, not (batch, seq, vocab)
    for (GraphAdaptation.LossTerm term : adaptation.losses()) {
      loss = graph.add(loss, graph.mul(term.term(), term.weight()));
    }
    TrainingStep.Builder builder =
        TrainingStep.builder(graph, loss)
            .weightDecay(job.getDouble("weight_decay"))
            .betas(job.getDouble("adam_beta1"), job.getDouble("adam_beta2"))
            .eps(job.getDouble("adam_epsilon"))
            .accumulationSteps(accumulation);
    if (job.getDouble("max_grad_norm") > 0) {
      builder.maxGradNorm(job.getDouble("max_grad_norm"));
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
    return builder.build();
  }

  /**
   * Trainables start from their methods' initialisation, or from {@code adapter} when a job
   * continues an earlier one; the AdamW moments and accumulators start at 0.
   */
  private void initialState(ModelGraph model, String adapter) throws IOException {
    Map<String, float[]> declared = adaptation.initialValues(seed);
    if (!adapter.isEmpty()) {
      Path dir = Path.of(adapter);
      try (SafetensorsReader values =
          SafetensorsReader.open(dir.resolve("adapter_model.safetensors"))) {
        declared.putAll(Adapters.tensors(dir, values, model, adaptation));
      } catch (java.nio.file.NoSuchFileException e) {
        throw new IllegalArgumentException(
            "Adapter folder " + dir + " has no adapter_model.safetensors.");
      }
    }
    // Moments and accumulators start at 0: views of one zero buffer, as long as the largest.
    // Checkpoint values are read through one scratch buffer, so that no mapping of the file
    // stays resident after the session has copied them in.
    ByteBuffer zeros = null;
    ByteBuffer scratch = null;
    for (String input : step.carry().values()) {
      Tensor t = step.graph().tensor(input);
      long[] shape = t.shape().sizes();
      HostTensor value;
      if (declared.containsKey(input)) {
        value = HostTensor.ofFloats(shape, declared.get(input));
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
      largest = Math.max(largest, step.graph().tensor(input).shape().numel().size());
    }
    return Math.toIntExact(largest * Float.BYTES);
  }

  @Override
  public long totalSteps() {
    return totalSteps;
  }

  @Override
  public StepResult step(long index) {
    double lossSum = 0;
    long tokens = 0;
    double gradNorm = Double.NaN;
    double lr = schedule.at(index);
    for (int micro = 0; micro < accumulation; micro++) {
      Batches.Batch b = batches.batch(index * accumulation + micro);
      Map<String, HostTensor> feeds = new LinkedHashMap<>(b.feeds());
      feeds.put("step", HostTensor.ofFloats(new long[0], index + 1));
      groupScale.forEach(
          (group, scale) ->
              feeds.put("lr." + group, HostTensor.ofFloats(new long[0], (float) (lr * scale))));
      if (accumulation > 1) {
        ByteBuffer flag = ByteBuffer.allocateDirect(1).order(ByteOrder.LITTLE_ENDIAN);
        flag.put(0, (byte) (micro == accumulation - 1 ? 1 : 0));
        feeds.put("apply", new HostTensor(DType.BOOL, new long[0], flag));
      }
      if (adaptation.usesDropout()) {
        feeds.put(
            GraphAdaptation.DROPOUT_SEED,
            HostTensor.ofLongs(new long[0], seed * 1_000_003L + index * accumulation + micro));
      }
      Set<String> fetch =
          fetchGradNorm && micro == accumulation - 1 ? Set.of("loss", "grad_norm") : Set.of("loss");
      Map<String, HostTensor> out = session.run(feeds, fetch);
      lossSum += out.get("loss").floats()[0];
      if (out.containsKey("grad_norm")) {
        gradNorm = out.get("grad_norm").floats()[0];
      }
      tokens += b.tokens();
    }
    return new StepResult(lossSum / accumulation, lr, gradNorm, tokens);
  }

  @Override
  public void saveCheckpoint(Path dir, long stepsDone) {
    SafetensorsWriter writer =
        new SafetensorsWriter()
            .metadata("format", "pt")
            .metadata("graft.steps", Long.toString(stepsDone));
    for (String input : step.carry().values()) {
      HostTensor t = session.state(input);
      writer.add(input, t.shape(), t.floats());
    }
    try {
      writer.write(dir.resolve("state.safetensors"));
    } catch (IOException e) {
      throw new UncheckedIOException(
          "Could not write " + dir.resolve("state.safetensors") + ": " + e.getMessage(), e);
    }
  }

  @Override
  public long restore(Path dir) {
    try (SafetensorsReader state = SafetensorsReader.open(dir.resolve("state.safetensors"))) {
      for (String input : step.carry().values()) {
        if (!state.contains(input)) {
          throw new IllegalArgumentException(
              "Checkpoint "
                  + dir
                  + " lacks \""
                  + input
                  + "\"; it was written by a job with other methods or options.");
        }
        session.setState(
            input, HostTensor.ofFloats(state.info(input).shape(), state.floats(input)));
      }
      return Long.parseLong(state.metadata().get("graft.steps"));
    } catch (IOException e) {
      throw new UncheckedIOException("Could not read checkpoint " + dir + ": " + e.getMessage(), e);
    }
  }

  /**
   * Writes the PEFT adapter folder {@code adapter/}, or, when no method is a PEFT adapter (full
   * fine-tuning), a Hugging Face model folder {@code model/} with the trained weights; and the
   * held-out samples as {@code validation.jsonl}.
   */
  @Override
  public void finish(Path outputDir) {
    if (!validation.isEmpty()) {
      try {
        Jsonl.write(outputDir.resolve("validation.jsonl"), validation);
      } catch (IOException e) {
        throw new UncheckedIOException(
            "Could not write " + outputDir.resolve("validation.jsonl") + ": " + e.getMessage(), e);
      }
    }
    List<String> trainables = step.graph().trainables().stream().map(Tensor::name).toList();
    Map<String, Object> config = new LinkedHashMap<>();
    for (MethodInstance m : methods) {
      config.putAll(m.adapterConfig());
    }
    if (!config.containsKey("peft_type")) {
      writeModel(outputDir.resolve("model"), trainables);
      return;
    }
    AdapterFiles.Collector collector =
        new AdapterFiles.Collector(
            trainables,
            p -> step.graph().tensor(p).shape().sizes(),
            p -> session.state(p).floats());
    for (MethodInstance m : methods) {
      m.save(collector);
    }
    config.put("base_model_name_or_path", modelDir.toAbsolutePath().toString());
    config.put("inference_mode", true);
    AdapterFiles.write(outputDir.resolve("adapter"), config, collector, extras());
  }

  private void writeModel(Path folder, List<String> trainables) {
    Map<String, float[]> trained = new LinkedHashMap<>();
    trainables.forEach(t -> trained.put(t, session.state(t).floats()));
    Adapters.writeModel(modelDir, folder, checkpointNames, trained, extras());
  }

  /**
   * Files saved beside the weights: {@value #SAMPLE_FORMAT} with the settings of the method that
   * formatted the samples ({@code method} names it), so that generation and evaluation can build
   * prompts the same way; PEFT and transformers ignore it.
   */
  private Map<String, Map<String, Object>> extras() {
    SampleFormat format = adaptation.sampleFormat();
    if (format == null || format.settings().isEmpty()) {
      return Map.of();
    }
    Map<String, Object> settings = new LinkedHashMap<>(format.settings());
    settings.put("method", adaptation.sampleFormatOwner());
    return Map.of(SAMPLE_FORMAT, settings);
  }

  @Override
  public void close() {
    session.close();
    try {
      checkpoint.close();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
