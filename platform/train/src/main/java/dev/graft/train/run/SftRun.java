package dev.graft.train.run;

import dev.graft.api.MethodRegistry;
import dev.graft.api.Options;
import dev.graft.api.adapt.MethodInstance;
import dev.graft.api.adapt.Objective;
import dev.graft.api.adapt.SampleFormat;
import dev.graft.api.backend.ComputeBackend;
import dev.graft.api.backend.HostTensor;
import dev.graft.graph.DType;
import dev.graft.graph.TrainingStep;
import dev.graft.model.AtomicFiles;
import dev.graft.model.ChatTemplate;
import dev.graft.model.ModelConfig;
import dev.graft.model.ModelGraph;
import dev.graft.model.SafetensorsReader;
import dev.graft.model.SafetensorsWriter;
import dev.graft.model.TensorInfo;
import dev.graft.model.Tokenizer;
import dev.graft.train.adapt.GraphAdaptation;
import dev.graft.train.data.Batches;
import dev.graft.train.data.Cuts;
import dev.graft.train.data.Encoded;
import dev.graft.train.data.Jsonl;
import dev.graft.train.data.RowLayout;
import dev.graft.train.data.Split;
import dev.graft.train.job.JobSpec;
import dev.graft.train.job.Run;
import dev.graft.train.step.Schedule;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * Fine-tuning of a Hugging Face causal LM: the job's methods adapt the model graph, the loss is the
 * job's {@link dev.graft.api.adapt.Objective} (next-token cross-entropy on the learned positions
 * unless a method sets another, such as a preference loss over paired rows) plus any method loss
 * terms, and one ONNX program per optimizer step (forward, backward, AdamW) runs on the chosen
 * backend; an objective that needs reference log-probabilities gets them from a {@link
 * ReferencePass} before each micro-step, or, with {@code precompute_ref_log_probs}, from what it
 * computed for every row before the first step. A job with validation samples ({@code eval_data} or
 * {@code validation_split}) has their loss measured on the result so far by {@link LossPass}.
 */
public final class SftRun implements Run {

  /** The file, in {@code adapter/} or {@code model/}, that records how samples were formatted. */
  public static final String SAMPLE_FORMAT = "graft_sample_format.json";

  /** Checkpoint metadata: the steps skipped as non-finite, which the step count t leaves out. */
  private static final String SKIPPED = "graft.skipped_steps";

  private final Path modelDir;
  private final ModelConfig config;
  private final SafetensorsReader checkpoint;

  /** The model's tokenizer, for the data and for methods ({@code Adaptation.encode}). */
  private final Tokenizer tokenizer;

  private final List<String> names = new ArrayList<>();
  private final List<MethodInstance> methods = new ArrayList<>();
  private final List<JobOutput.Method> outputs = new ArrayList<>();
  private final Options job;
  private final ComputeBackend backend;
  private final Batches batches;
  private final Schedule schedule;
  private final int accumulation;
  private final long seed;
  private final long totalSteps;
  private final Map<String, String> checkpointNames;
  private final Calibrator calibrator = new Calibrator();
  private final Consumer<String> log;

  /** The program training runs on: the first build, or the one rebuilt after a calibration. */
  private StepProgram program;

  private StepDriver driver;

  /** Whether the calibration phase a method asked for is still to run. */
  private boolean calibrationDue;

  /** The reference pass of an objective that needs one, or null. */
  private final ReferencePass reference;

  /** Samples held out of training (validation_split), written out for graft:eval. */
  private List<Jsonl.Line> validation = List.of();

  /**
   * The validation batches ({@code eval_data}, else the held-out samples), or null when the job has
   * none or its loss cannot be evaluated ({@link #evaluationRefused}).
   */
  private Batches evaluation;

  /** The installed methods, which load the result an evaluation writes. */
  private final MethodRegistry registry;

  /**
   * Loads the model and data and opens the step program on the backend. Every site the methods use
   * is checked here: a job that cannot honour one fails before its first step.
   *
   * @param log receives one-line notes (truncated samples, sizes, phases)
   */
  public SftRun(
      JobSpec spec, MethodRegistry registry, ComputeBackend backend, Consumer<String> log) {
    this.job = spec.job();
    this.registry = registry;
    this.backend = backend;
    this.log = log;
    this.modelDir = Path.of(job.getString("model"));
    this.seed = job.getInt("seed");
    this.accumulation = job.getInt("gradient_accumulation_steps"); // at least 1: JobSpec checked
    try {
      this.config = ModelConfig.read(modelDir.resolve(ModelConfig.FILE));
      this.checkpoint = SafetensorsReader.open(modelDir);
      config.check(checkpoint);
      this.tokenizer = Tokenizer.load(modelDir);
      ChatTemplate template = chatTemplate(modelDir);
      this.checkpointNames = ModelGraph.build(config, DType.FLOAT32).checkpointNames();
      for (Map.Entry<String, Options> m : spec.methods().entrySet()) {
        MethodRegistry.RegisteredMethod registered = registry.require(m.getKey());
        MethodInstance instance = registered.method().create(m.getValue());
        names.add(m.getKey());
        methods.add(instance);
        outputs.add(
            new JobOutput.Method(
                m.getKey(), instance, AdapterMethods.entry(registered, m.getValue())));
      }
      this.program =
          new StepProgram(config, checkpoint, names, methods, tokenizer, job, backend, seed);
      try {
        log.accept(trainableCount(program.model().graph()));
        this.calibrationDue = program.adaptation().calibrationWarmup() >= 0;
        // The data comes after the methods: a method may set how samples are formatted.
        // Virtual tokens and key/value prefixes take the first positions of every row.
        int context = (int) (config.maxPositionEmbeddings() - program.model().prefixLength());
        this.batches = batches(job, tokenizer, template, context, log);
        long perEpoch = (batches.perEpoch() + accumulation - 1) / accumulation;
        this.totalSteps =
            job.getInt("max_steps") > 0
                ? job.getInt("max_steps")
                : Math.max(1, (long) Math.ceil(job.getDouble("num_train_epochs") * perEpoch));
        this.schedule = schedule(totalSteps);
        this.reference = reference(registry);
        this.driver = trainDriver();
        if (job.has("adapter")) {
          continueFrom(Path.of(job.getString("adapter")));
        }
      } catch (RuntimeException e) {
        program.close();
        throw e;
      }
    } catch (IOException e) {
      throw new UncheckedIOException("Could not read " + e.getMessage(), e);
    }
  }

  /** "Trainable parameters: 5,800 of 292,288 (1.98 %).": what the methods train, of the graph's. */
  static String trainableCount(dev.graft.graph.Graph graph) {
    long trainable = 0;
    long all = 0;
    for (dev.graft.graph.Tensor p : graph.parameters()) {
      long n = 1;
      for (long d : p.shape().sizes()) {
        n *= d;
      }
      all += n;
      trainable += graph.isTrainable(p) ? n : 0;
    }
    return String.format(
        Locale.ROOT,
        "Trainable parameters: %,d of %,d (%.3g %%).",
        trainable,
        all,
        all == 0 ? 0.0 : 100.0 * trainable / all);
  }

  /** The job's learning-rate schedule over {@code steps} steps. */
  private Schedule schedule(long steps) {
    return new Schedule(
        Schedule.Type.valueOf(job.getString("lr_scheduler_type").toUpperCase(Locale.ROOT)),
        job.getDouble("learning_rate"),
        Schedule.warmup(job.getInt("warmup_steps"), job.getDouble("warmup_ratio"), steps),
        steps);
  }

  /**
   * The calibration phase a method asked for: warm-up steps on the first build, the methods'
   * calibration over its trained values, then the graph built again for training.
   */
  private void calibrate() {
    int warmup = program.adaptation().calibrationWarmup();
    if (warmup > 0) {
      log.accept("Calibration: " + warmup + " warm-up steps.");
      StepDriver warm =
          new StepDriver(
              "warmup",
              program,
              reference,
              batches,
              schedule(warmup),
              accumulation,
              seed,
              warmup,
              job.getInt("skip_nonfinite_steps"));
      for (long i = 0; i < warmup; i++) {
        warm.step(i);
      }
    }
    calibrator.calibrate(config, checkpoint, names, methods, program, batches, backend, seed, log);
    rebuild();
    log.accept("Calibration done; the graph was rebuilt for training.");
  }

  /** Builds the graph again (after the methods calibrated) and trains that one. */
  private void rebuild() {
    program.close();
    program = new StepProgram(config, checkpoint, names, methods, tokenizer, job, backend, seed);
    driver = trainDriver();
    calibrationDue = false;
  }

  private StepDriver trainDriver() {
    return new StepDriver(
        "train",
        program,
        reference,
        batches,
        schedule,
        accumulation,
        seed,
        totalSteps,
        job.getInt("skip_nonfinite_steps"));
  }

  /** Trainables start from a saved PEFT adapter when a job continues an earlier one. */
  private void continueFrom(Path dir) throws IOException {
    AtomicFiles.recover(dir);
    try (SafetensorsReader values = SafetensorsReader.open(AdapterFiles.weightsFile(dir))) {
      Adapters.tensors(dir, values, program.model(), program.adaptation())
          .forEach(
              (name, v) ->
                  program
                      .session()
                      .setState(
                          name,
                          HostTensor.ofFloats(
                              program.step().graph().tensor(name).shape().sizes(), v)));
    } catch (java.nio.file.NoSuchFileException e) {
      throw new IllegalArgumentException(
          "Adapter folder "
              + dir
              + " has neither "
              + AdapterFiles.WEIGHTS
              + " nor "
              + AdapterFiles.ADAPTERHUB_WEIGHTS
              + ".");
    }
  }

  /**
   * The objective a job's methods set, or null for the default cross-entropy: the job's model graph
   * adapted by its methods, without data or a session. Tells a caller which data the job takes
   * ({@link RowLayout#of}) before it writes or picks any.
   *
   * @throws IllegalArgumentException as the methods do for a model they cannot adapt
   */
  public static Objective objective(JobSpec spec, MethodRegistry registry) {
    Path dir = Path.of(spec.job().getString("model"));
    try (SafetensorsReader checkpoint = SafetensorsReader.open(dir)) {
      ModelGraph model =
          ModelGraph.build(ModelConfig.read(dir.resolve(ModelConfig.FILE)), DType.FLOAT32);
      GraphAdaptation adaptation =
          new GraphAdaptation(new ModelGraphModel(model, checkpoint), true, DType.FLOAT32);
      for (Map.Entry<String, Options> m : spec.methods().entrySet()) {
        adaptation.adapting(m.getKey());
        registry.require(m.getKey()).method().create(m.getValue()).adapt(adaptation);
      }
      return adaptation.objective();
    } catch (IOException e) {
      throw new UncheckedIOException("Could not read " + e.getMessage(), e);
    }
  }

  /**
   * Refuses the job keys that set up the reference model ({@code ref_adapter}, {@code
   * precompute_ref_log_probs}) when the job's objective compares against none.
   *
   * @param objective the objective the job's methods set ({@link #objective}), or null
   * @throws IllegalArgumentException naming the key
   */
  public static void checkReferenceKeys(Options job, Objective objective) {
    boolean used = job.has("ref_adapter") || job.getBoolean("precompute_ref_log_probs");
    if (used && (objective == null || !objective.needsReference())) {
      throw new IllegalArgumentException(
          (job.has("ref_adapter") ? "ref_adapter" : "precompute_ref_log_probs")
              + " sets up the reference model of an objective that compares against one, and"
              + " this job's methods set none; add such a method (dpo) or remove the key.");
    }
  }

  /**
   * The reference pass of an objective that needs one, as the job keys {@code ref_adapter} and
   * {@code precompute_ref_log_probs} set it up, or null.
   */
  private ReferencePass reference(MethodRegistry registry) throws IOException {
    Objective objective = program.adaptation().objective();
    checkReferenceKeys(job, objective);
    if (objective == null || !objective.needsReference()) {
      return null;
    }
    ReferencePass pass;
    if (job.has("ref_adapter")) {
      Path dir = Path.of(job.getString("ref_adapter"));
      AtomicFiles.recover(dir);
      pass = ReferencePass.withAdapter(modelDir, dir, registry, checkpoint, backend);
      log.accept("Reference model: the base model with the adapter " + dir + ".");
    } else {
      pass = ReferencePass.base(config, checkpoint, backend);
    }
    if (job.getBoolean("precompute_ref_log_probs")) {
      long start = System.nanoTime();
      int rows;
      try {
        rows = pass.precompute(batches);
      } catch (RuntimeException e) {
        pass.close();
        throw e;
      }
      log.accept(
          String.format(
              Locale.ROOT,
              "Reference log-probabilities of %,d rows precomputed in %.1f s; the reference"
                  + " session is closed.",
              rows,
              (System.nanoTime() - start) / 1e9));
    }
    return pass;
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
   * {@code max_length}, or to the model's {@code context} when that is shorter. Sets the validation
   * batches as well ({@link #evaluation}).
   */
  private Batches batches(
      Options job, Tokenizer tokenizer, ChatTemplate template, int context, Consumer<String> log) {
    // The methods' extra inputs are integer fields of the data, read (or missed) here at job start.
    List<String> columns = List.copyOf(program.adaptation().inputs().keySet());
    List<Jsonl.Line> samples = lines(Path.of(job.getString("data")), job.getInt("max_samples"));
    Split<Jsonl.Line> split = Split.of(samples, job.getDouble("validation_split"), seed);
    validation = split.validation();
    Encoded.Settings settings =
        new Encoded.Settings(
            job.getInt("max_length"),
            job.getBoolean("completion_only_loss"),
            job.getBoolean("assistant_only_loss"),
            job.getString("truncation").equals("fail"),
            maxPromptLength(job),
            job.getString("truncation_mode").equals("keep_end"));
    if (settings.maxLength() > context) {
      log.accept(
          "max_length "
              + settings.maxLength()
              + " is more than the model's context ("
              + (context == config.maxPositionEmbeddings()
                  ? "max_position_embeddings " + context
                  : context
                      + " of max_position_embeddings "
                      + config.maxPositionEmbeddings()
                      + " after the virtual or prefix positions")
              + "); samples are cut to "
              + context
              + ".");
      settings = settings.within(context);
    }
    RowLayout layout = RowLayout.of(program.adaptation().objective());
    Batches.Sizes sizes =
        new Batches.Sizes(
            job.getInt("per_device_train_batch_size"),
            settings.maxLength(),
            job.getBoolean("packing"));
    int pad = Batches.padId(tokenizer);
    List<Jsonl.Line> held =
        job.has("eval_data") ? lines(Path.of(job.getString("eval_data")), 0) : validation;
    if (!held.isEmpty()) {
      String refused = evaluationRefused(columns);
      if (refused.isEmpty()) {
        Cuts cuts = new Cuts();
        List<List<Encoded>> encoded = encode(held, tokenizer, template, layout, settings, cuts);
        cuts.sentence(encoded.size(), "validation samples", settings.maxLength()).ifPresent(log);
        // One sequence per row: packing would change nothing in a mean over learned tokens.
        evaluation =
            new Batches(
                encoded,
                layout,
                columns,
                new Batches.Sizes(sizes.batchSize(), settings.maxLength(), false),
                seed,
                pad);
        log.accept(
            "Validation: "
                + held.size()
                + " samples, evaluated "
                + (job.getInt("eval_steps") > 0
                    ? "every " + job.getInt("eval_steps") + " steps and at the end."
                    : "at the end."));
      } else if (job.getInt("eval_steps") > 0
          || job.getBoolean("save_best")
          || job.getInt("early_stopping_patience") > 0) {
        throw new IllegalArgumentException(
            "eval_steps, save_best and early_stopping_patience need a validation loss, but "
                + refused
                + "; remove them.");
      } else {
        log.accept("Validation is skipped: " + refused + ".");
      }
    }
    Cuts cuts = new Cuts();
    List<List<Encoded>> encoded =
        encode(split.train(), tokenizer, template, layout, settings, cuts);
    cuts.sentence(
            encoded.size() * layout.sequences(),
            layout == RowLayout.PAIRS ? "sequences" : "samples",
            settings.maxLength())
        .ifPresent(log);
    return new Batches(encoded, layout, columns, sizes, seed, pad);
  }

  /** The samples of a data file, as the job's format and columns read them. */
  private List<Jsonl.Line> lines(Path file, int maxSamples) {
    return Jsonl.lines(
        file,
        Jsonl.Format.parse(job.getString("data_format")),
        job.getMap("data_columns"),
        maxSamples,
        program.adaptation().inputLabels());
  }

  /** Each sample's sequences, encoded; {@code truncated} hears of each one cut. */
  private List<List<Encoded>> encode(
      List<Jsonl.Line> lines,
      Tokenizer tokenizer,
      ChatTemplate template,
      RowLayout layout,
      Encoded.Settings settings,
      Consumer<String> truncated) {
    List<List<Encoded>> encoded = new ArrayList<>();
    for (int i = 0; i < lines.size(); i++) {
      encoded.add(
          Encoded.rows(
              lines.get(i),
              i,
              tokenizer,
              template,
              program.adaptation().sampleFormat(),
              layout,
              settings,
              truncated));
    }
    return encoded;
  }

  /**
   * Why this job's validation loss cannot be evaluated, or empty when it can: the loss is the mean
   * token cross-entropy of the result so far, loaded as {@code graft:eval} loads it, which neither
   * a pairwise objective (whose loss needs the reference model and pairs) nor a method that reads a
   * per-sample input (which only training feeds) allows.
   */
  private String evaluationRefused(List<String> columns) {
    Objective objective = program.adaptation().objective();
    if (objective != null && objective.pairwise()) {
      return "the pairwise objective "
          + objective
          + " has no token cross-entropy to validate with (graft:eval evaluates its pairs)";
    }
    if (!columns.isEmpty()) {
      return "the methods read the per-sample inputs " + columns + ", which only training feeds";
    }
    return "";
  }

  /** The job's {@code max_prompt_length}: 0 or more. */
  private static int maxPromptLength(Options job) {
    int n = job.getInt("max_prompt_length");
    if (n < 0) {
      throw new IllegalArgumentException(
          "max_prompt_length must be 0 (keep whole prompts) or more, not " + n + ".");
    }
    return n;
  }

  @Override
  public List<String> metricNames() {
    return List.copyOf(program.metricNames());
  }

  @Override
  public long totalSteps() {
    return totalSteps;
  }

  @Override
  public StepResult step(long index) {
    calibrateNow();
    return driver.step(index);
  }

  /**
   * Runs the calibration phase now if a method asked for one and it has not run (the first {@link
   * #step} runs it otherwise); {@link #finish} then writes the rebuilt graph at its initial values,
   * where training starts.
   */
  public void calibrateNow() {
    if (calibrationDue) {
      calibrate();
    }
  }

  /**
   * Writes every carried value of the step (trainables, moments, accumulators, method state) in its
   * own dtype, and the calibration's answers if one ran.
   */
  @Override
  public void saveCheckpoint(Path dir, long stepsDone) {
    SafetensorsWriter writer =
        new SafetensorsWriter()
            .metadata("format", "pt")
            .metadata("graft.steps", Long.toString(stepsDone))
            .metadata(SKIPPED, Long.toString(driver.skipped()));
    for (String input : program.step().carry().values()) {
      HostTensor t = program.session().state(input);
      writer.add(input, dev.graft.model.DType.of(t.dtype()), t.shape(), t.data());
    }
    try {
      writer.write(dir.resolve("state.safetensors"));
    } catch (IOException e) {
      throw new UncheckedIOException(
          "Could not write " + dir.resolve("state.safetensors") + ": " + e.getMessage(), e);
    }
    calibrator.save(dir);
  }

  /**
   * Restores a checkpoint: a job that calibrated replays the recorded answers and rebuilds its
   * graph first, so that the calibration phase does not run again.
   */
  @Override
  public long restore(Path dir) {
    if (calibrationDue && Calibrator.recorded(dir)) {
      calibrator.replay(dir, methods);
      rebuild();
    }
    try (SafetensorsReader state = SafetensorsReader.open(dir.resolve("state.safetensors"))) {
      for (String input : program.step().carry().values()) {
        if (!state.contains(input)) {
          throw new IllegalArgumentException(
              "Checkpoint "
                  + dir
                  + " lacks \""
                  + input
                  + "\"; it was written by a job with other methods or options.");
        }
        TensorInfo info = state.info(input);
        program
            .session()
            .setState(
                input, new HostTensor(info.dtype().graphType(), info.shape(), state.bytes(input)));
      }
      driver.skipped(Long.parseLong(state.metadata().getOrDefault(SKIPPED, "0")));
      return Long.parseLong(state.metadata().get("graft.steps"));
    } catch (IOException e) {
      throw new UncheckedIOException("Could not read checkpoint " + dir + ": " + e.getMessage(), e);
    }
  }

  /**
   * Writes what the job trained ({@link JobOutput}: {@code adapter/}, {@code model/} or both) and
   * the held-out samples as {@code validation.jsonl}.
   */
  @Override
  public void finish(Path outputDir) {
    if (!validation.isEmpty()) {
      try {
        Jsonl.writeLines(outputDir.resolve("validation.jsonl"), validation);
      } catch (IOException e) {
        throw new UncheckedIOException(
            "Could not write " + outputDir.resolve("validation.jsonl") + ": " + e.getMessage(), e);
      }
    }
    writeResult(outputDir);
  }

  @Override
  public boolean evaluates() {
    return evaluation != null;
  }

  /**
   * Writes the result so far into {@code dir} and returns the mean token cross-entropy of the
   * validation samples under it, computed as {@code graft:eval} computes it ({@link LossPass}) in a
   * session of its own, so that nothing the training carries changes. Opening that session each
   * time costs what {@code graft:eval} costs; for full fine-tuning that includes writing {@code
   * model/}.
   */
  @Override
  public double evaluate(Path dir) {
    if (evaluation == null) {
      throw new IllegalStateException("The job has no validation samples to evaluate.");
    }
    writeResult(dir);
    Path model = dir.resolve("model");
    Path adapter = dir.resolve("adapter");
    try (LossPass pass =
        new LossPass(
            backend,
            Files.isDirectory(model) ? model : modelDir,
            Files.isDirectory(adapter) ? adapter : null,
            registry,
            Map.of())) {
      return pass.mean(evaluation).loss();
    } catch (IOException e) {
      throw new UncheckedIOException("Could not read " + dir + ": " + e.getMessage(), e);
    }
  }

  /** Writes what the job trained so far ({@link JobOutput}) into {@code outputDir}. */
  private void writeResult(Path outputDir) {
    TrainingStep step = program.step();
    Set<String> carried = Set.copyOf(step.carry().values());
    // A frozen declared parameter keeps its initial value: all of them drawn once, on first need.
    Map<String, float[]> initial = new LinkedHashMap<>();
    Function<String, float[]> values =
        p -> {
          if (carried.contains(p)) {
            return program.session().state(p).floats();
          }
          if (initial.isEmpty()) {
            initial.putAll(program.adaptation().initialValues(seed));
          }
          return initial.get(p);
        };
    JobOutput.write(
        outputDir,
        modelDir,
        step.graph(),
        program.adaptation(),
        outputs,
        values,
        checkpointNames,
        extras());
  }

  /**
   * Files saved beside the weights: {@value #SAMPLE_FORMAT} with the settings of the method that
   * formatted the samples ({@code method} names it), so that generation and evaluation can build
   * prompts the same way; PEFT and transformers ignore it.
   */
  private Map<String, Map<String, Object>> extras() {
    GraphAdaptation adaptation = program.adaptation();
    SampleFormat format = adaptation.sampleFormat();
    Map<String, Map<String, Object>> extras = new LinkedHashMap<>();
    if (format != null && !format.settings().isEmpty()) {
      Map<String, Object> settings = new LinkedHashMap<>(format.settings());
      settings.put("method", adaptation.sampleFormatOwner());
      extras.put(SAMPLE_FORMAT, settings);
    }
    // The calibration's answers, which loading the adapter replays (LoRA-drop's sharing).
    if (!calibrator.json().isEmpty()) {
      extras.put(Calibrator.FILE, calibrator.json());
    }
    return extras;
  }

  @Override
  public void close() {
    if (reference != null) {
      reference.close();
    }
    program.close();
    try {
      checkpoint.close();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
