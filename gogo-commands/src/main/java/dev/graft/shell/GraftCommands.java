package dev.graft.shell;

import static dev.graft.shell.Completes.Kind.BACKEND;
import static dev.graft.shell.Completes.Kind.COMMAND;
import static dev.graft.shell.Completes.Kind.DIRECTORY;
import static dev.graft.shell.Completes.Kind.FILE;
import static dev.graft.shell.Completes.Kind.JOB;
import static dev.graft.shell.Completes.Kind.METHOD;
import static dev.graft.shell.Completes.Kind.SETTING;

import dev.graft.api.MethodInfo;
import dev.graft.api.MethodRegistry;
import dev.graft.api.MethodRegistry.RegisteredMethod;
import dev.graft.api.OptionDescriptor;
import dev.graft.api.OptionType;
import dev.graft.api.Options;
import dev.graft.api.Suggestions;
import dev.graft.api.backend.BackendRegistry;
import dev.graft.api.backend.ComputeBackend;
import dev.graft.api.model.Evaluation;
import dev.graft.api.model.EvaluationSettings;
import dev.graft.api.model.GenerationSettings;
import dev.graft.api.model.ModelService;
import dev.graft.api.model.ModelSummary;
import dev.graft.api.model.PreferenceEvaluation;
import dev.graft.api.train.Job;
import dev.graft.api.train.JobStatus;
import dev.graft.api.train.TrainingService;
import java.lang.reflect.Method;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Stream;
import org.apache.felix.service.command.Descriptor;
import org.apache.felix.service.command.Parameter;
import org.osgi.framework.BundleContext;
import org.osgi.framework.InvalidSyntaxException;
import org.osgi.framework.ServiceReference;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

/** The {@code graft} Gogo scope: thin commands over the platform registries and services. */
@Component(
    service = GraftCommands.class,
    property = {
      "osgi.command.scope=graft",
      "osgi.command.function=methods",
      "osgi.command.function=method",
      "osgi.command.function=backends",
      "osgi.command.function=help",
      "osgi.command.function=train",
      "osgi.command.function=jobs",
      "osgi.command.function=job",
      "osgi.command.function=cancel",
      "osgi.command.function=resume",
      "osgi.command.function=generate",
      "osgi.command.function=inspect",
      "osgi.command.function=merge",
      "osgi.command.function=export",
      "osgi.command.function=quantize",
      "osgi.command.function=eval"
    })
public final class GraftCommands {
  static final String SCOPE = "graft";

  /** graft:eval's --data-columns, parsed as the job key of that name is. */
  private static final OptionDescriptor DATA_COLUMNS =
      OptionDescriptor.of("data_columns", OptionType.MAP, "", "field renames");

  private static final String PREFIX = SCOPE + ":";

  @Reference MethodRegistry methods;
  @Reference BackendRegistry backends;
  @Reference TrainingService training;
  @Reference ModelService models;

  /** Where the other bundles' graft commands are found; null without a framework. */
  private BundleContext context;

  @Activate
  void activate(BundleContext context) {
    this.context = context;
  }

  @Descriptor(
      "list the installed fine-tuning methods: name, family, bundle, version, state"
          + "\nExample: graft:methods")
  public String methods() {
    Table table = new Table("NAME", "FAMILY", "BUNDLE", "VERSION", "STATE");
    for (RegisteredMethod m : methods.methods()) {
      table.row(m.info().name(), m.info().family().label(), m.bundle(), m.version(), m.state());
    }
    StringBuilder out =
        new StringBuilder(
            table.isEmpty()
                ? "No fine-tuning methods are installed. Copy a method bundle into deploy/ to add one.\n"
                : table.render());
    List<MethodRegistry.Rejection> rejected = methods.rejected();
    if (!rejected.isEmpty()) {
      out.append("\nNot in service:\n");
      for (MethodRegistry.Rejection r : rejected) {
        out.append("  ")
            .append(r.name().isEmpty() ? "(unnamed)" : r.name())
            .append(" from ")
            .append(r.bundle())
            .append(": ")
            .append(r.reason())
            .append('\n');
      }
    }
    return out.toString();
  }

  @Descriptor(
      "show one method: family, paper, bundle and its options with type, default and help"
          + "\nExample: graft:method dora")
  public String method(
      @Descriptor("the method's name, as listed by graft:methods") @Completes(METHOD) String name) {
    RegisteredMethod m = methods.require(name);
    MethodInfo info = m.info();
    StringBuilder out = new StringBuilder();
    out.append(info.name())
        .append(" - ")
        .append(info.title())
        .append(" (")
        .append(info.family().label())
        .append(")\n");
    info.paperReference().ifPresent(p -> out.append("Paper:  ").append(p).append('\n'));
    out.append("Bundle: ")
        .append(m.bundle())
        .append(' ')
        .append(m.version())
        .append(" (")
        .append(m.state())
        .append(")\n\n");
    if (info.options().isEmpty()) {
      return out.append("It has no options.\n").toString();
    }
    Table table = new Table("OPTION", "TYPE", "DEFAULT", "HELP");
    for (OptionDescriptor o : info.options()) {
      String type = o.choices().isEmpty() ? o.type().label() : String.join("|", o.choices());
      table.row(o.name(), type, o.defaultValue().isEmpty() ? "-" : o.defaultValue(), o.help());
    }
    return out.append(table.render()).toString();
  }

  @Descriptor(
      "list the compute backends: name, device, ONNX Runtime sessions open now, and whether each"
          + " is available (and if not, why)"
          + "\nExample: graft:backends")
  public String backends() {
    Table table = new Table("NAME", "DEVICE", "SESSIONS", "STATUS");
    for (ComputeBackend b : backends.backends()) {
      var a = b.availability();
      int open = b.openSessions();
      table.row(
          b.name(),
          b.device(),
          open < 0 ? "-" : Integer.toString(open),
          a.available() ? "available" : "unavailable: " + a.reason());
    }
    return table.isEmpty() ? "No compute backends are installed.\n" : table.render();
  }

  @Descriptor(
      "train: submit a job file (.properties, .yaml, .json) with key=value overrides, and follow it;"
          + " Ctrl-C stops it after its current step with a checkpoint"
          + "\nExample: graft:train job.yaml learning_rate=1e-4 lora.r=16"
          + "\nExample: graft:train --detach job.yaml")
  public String train(
      @Descriptor("run the job in a background process (log: job.log in its folder) and return")
          @Parameter(names = "--detach", presentValue = "true", absentValue = "false")
          boolean detach,
      @Descriptor("the job file; keys are listed by 'graft:help train'") @Completes(FILE)
          String jobFile,
      @Descriptor("key=value settings that override the file, e.g. learning_rate=1e-4 lora.r=16")
          @Completes(SETTING)
          String... overrides) {
    Map<String, String> settings = new LinkedHashMap<>();
    for (String o : overrides) {
      int eq = o.indexOf('=');
      if (eq <= 0) {
        throw new IllegalArgumentException(
            "Override \"" + o + "\" is not key=value; write it like learning_rate=1e-4.");
      }
      settings.put(o.substring(0, eq).trim(), o.substring(eq + 1).trim());
    }
    if (detach) {
      Job job = training.submitInBackground(Path.of(jobFile), settings);
      return "Submitted job "
          + job.id()
          + " (output in "
          + job.outputDirectory()
          + "); follow it with 'graft:job "
          + job.id()
          + " --follow'.\n";
    }
    return follow(training.submit(Path.of(jobFile), settings), true);
  }

  @Descriptor("list the training jobs, newest first" + "\nExample: graft:jobs")
  public String jobs() {
    Table table = new Table("ID", "STATE", "STEP", "LOSS", "OUTPUT");
    for (Job j : training.jobs()) {
      JobStatus s = j.status();
      table.row(
          j.id(),
          s.state().name().toLowerCase(Locale.ROOT),
          s.step() + "/" + s.totalSteps(),
          Progress.loss(s.loss()),
          j.outputDirectory().toString());
    }
    return table.isEmpty()
        ? "No jobs yet. Start one with 'graft:train <job-file>'.\n"
        : table.render();
  }

  @Descriptor(
      "show one job: state, steps done, loss, the notes of its run (such as samples cut), output"
          + " folder"
          + "\nExample: graft:job --follow 20261205-082306-1")
  public String job(
      @Descriptor("keep printing progress until the job ends")
          @Parameter(names = "--follow", presentValue = "true", absentValue = "false")
          boolean follow,
      @Descriptor("the job's id, as listed by graft:jobs") @Completes(JOB) String id) {
    Job job = require(id);
    return follow ? follow(job, false) : Progress.details(job);
  }

  @Descriptor(
      "cancel a job, in this process or another: it stops after the current step and writes a"
          + " checkpoint"
          + "\nExample: graft:cancel 20261205-082306-1")
  public String cancel(
      @Descriptor("the job's id, as listed by graft:jobs") @Completes(JOB) String id) {
    Job job = require(id);
    JobStatus s = job.status();
    if (s.state().isFinal()) {
      throw new IllegalStateException(
          "Job "
              + id
              + " has already ended ("
              + Progress.state(s)
              + "); there is nothing to cancel.");
    }
    job.cancel();
    return "Cancelling job "
        + id
        + " after its current step; resume it with 'graft:resume "
        + id
        + "'.\n";
  }

  @Descriptor(
      "resume a cancelled or failed job from its last checkpoint, and follow it"
          + "\nExample: graft:resume --detach 20261205-082306-1")
  public String resume(
      @Descriptor("run the job in a background process (log: job.log in its folder) and return")
          @Parameter(names = "--detach", presentValue = "true", absentValue = "false")
          boolean detach,
      @Descriptor("the job's id, as listed by graft:jobs") @Completes(JOB) String id) {
    if (detach) {
      Job job = training.resumeInBackground(id);
      return "Resumed job " + id + "; follow it with 'graft:job " + id + " --follow'.\n";
    }
    return follow(training.resume(id), true);
  }

  private Job require(String id) {
    return training
        .job(id)
        .orElseThrow(
            () ->
                new IllegalArgumentException(
                    Suggestions.unknown(
                        "job",
                        id,
                        training.jobs().stream().map(Job::id).toList(),
                        "Known",
                        "See 'graft:jobs'.")));
  }

  /**
   * Prints progress until the job ends and returns its summary; see {@link Follow}. {@code owned}:
   * whether Ctrl-C cancels the job (this command started it) or only stops following it.
   */
  private static String follow(Job job, boolean owned) {
    return new Follow(job, System.out, System.err, ProgressLine.isTerminal("out")).run(owned);
  }

  @Descriptor(
      "complete a prompt with a model, optionally with an adapter; prints prompt and completion"
          + "\nExample: graft:generate --adapter .graft/jobs/<id>/adapter ../shared/models/stories260K \"Once upon a time\"")
  public String generate(
      @Descriptor("the most tokens to generate")
          @Parameter(names = "--max-tokens", absentValue = "128")
          int maxTokens,
      @Descriptor("0 for greedy decoding, else sample with this temperature")
          @Parameter(names = "--temperature", absentValue = "0")
          double temperature,
      @Descriptor("when sampling, only among the likeliest tokens that reach this probability")
          @Parameter(names = "--top-p", absentValue = "1")
          double topP,
      @Descriptor("when sampling, only among the k likeliest tokens; 0 for all")
          @Parameter(names = "--top-k", absentValue = "50")
          int topK,
      @Descriptor("penalise tokens already in the text by this factor; 1 for none")
          @Parameter(names = "--repetition-penalty", absentValue = "1")
          double repetitionPenalty,
      @Descriptor("seed of the sampling, to repeat a sampled completion")
          @Parameter(names = "--seed", absentValue = "0")
          long seed,
      @Descriptor("an adapter folder to apply, such as a job's adapter/")
          @Parameter(names = "--adapter", absentValue = "")
          @Completes(DIRECTORY)
          String adapter,
      @Descriptor("the compute backend, see graft:backends")
          @Parameter(names = "--backend", absentValue = "cpu")
          @Completes(BACKEND)
          String backend,
      @Descriptor(
              "send the prompt as given, not in the sample format saved with the adapter or model")
          @Parameter(names = "--raw", presentValue = "true", absentValue = "false")
          boolean raw,
      @Descriptor("the task of an adapter trained for several (MoELoRA), e.g. --task qa")
          @Parameter(names = "--task", absentValue = "")
          String task,
      @Descriptor("a Hugging Face model folder") @Completes(DIRECTORY) String modelDir,
      @Descriptor("the text to complete") String prompt) {
    GenerationSettings settings =
        new GenerationSettings(
            maxTokens, temperature, topK, topP, repetitionPenalty, seed, backend, raw, task);
    noteFormat(Path.of(modelDir), folder(adapter), raw, "the prompt is put");
    return prompt
        + ProgressLine.showing(
            () -> models.generate(Path.of(modelDir), folder(adapter), prompt, settings))
        + "\n";
  }

  /** Says on stderr that the saved sample format applies (unless {@code raw}), and where it is. */
  private void noteFormat(Path modelDir, Path adapterDir, boolean raw, String what) {
    if (!raw) {
      models
          .sampleFormat(modelDir, adapterDir)
          .ifPresent(
              f ->
                  System.err.println(
                      "graft: "
                          + what
                          + " in the sample format saved in "
                          + f
                          + "; --raw skips it."));
    }
  }

  @Descriptor(
      "describe a model folder: architecture, parameters, dtypes, vocabulary, context, shape"
          + "\nExample: graft:inspect ../shared/models/stories260K")
  public String inspect(
      @Descriptor("a Hugging Face model folder") @Completes(DIRECTORY) String modelDir) {
    ModelSummary s = models.inspect(Path.of(modelDir));
    List<String> dtypes = new ArrayList<>();
    s.dtypes()
        .forEach(
            (dtype, c) ->
                dtypes.add(
                    dtype
                        + ": "
                        + count(c.parameters())
                        + " in "
                        + c.tensors()
                        + (c.tensors() == 1 ? " tensor" : " tensors")));
    return new Table("PROPERTY", "VALUE")
        .row("architecture", s.architecture() + " (" + s.modelType() + ")")
        .row("parameters", count(s.parameters()))
        .row("dtypes", String.join(", ", dtypes))
        .row("vocabulary", count(s.vocabularySize()))
        .row("context length", count(s.contextLength()))
        .row("layers", Integer.toString(s.layers()))
        .row("hidden", Integer.toString(s.hiddenSize()))
        .row("heads", Integer.toString(s.attentionHeads()))
        .row("kv heads", Integer.toString(s.keyValueHeads()))
        .row("tied embeddings", s.tiedEmbeddings() ? "yes" : "no")
        .row("chat template", s.chatTemplate() ? "yes" : "no")
        .render();
  }

  @Descriptor(
      "merge an adapter into a model's weights and write a model folder (or take it out)"
          + "\nExample: graft:merge ../shared/models/stories260K .graft/jobs/<id>/adapter merged/")
  public String merge(
      @Descriptor("take the adapter back out of a model it was merged into")
          @Parameter(names = "--unmerge", presentValue = "true", absentValue = "false")
          boolean unmerge,
      @Descriptor("merge the weights of this task of an adapter trained for several (MoELoRA)")
          @Parameter(names = "--task", absentValue = "")
          String task,
      @Descriptor("a Hugging Face model folder") @Completes(DIRECTORY) String modelDir,
      @Descriptor("an adapter folder, such as a job's adapter/") @Completes(DIRECTORY)
          String adapterDir,
      @Descriptor("the model folder to write; must be new, empty or a model folder")
          @Completes(DIRECTORY)
          String outDir) {
    Path model = Path.of(modelDir);
    Path adapter = Path.of(adapterDir);
    Path out =
        ProgressLine.showing(
            () ->
                unmerge
                    ? models.unmerge(model, adapter, Path.of(outDir), task)
                    : models.merge(model, adapter, Path.of(outDir), task));
    return (unmerge
            ? "Took adapter " + adapter + " out of "
            : "Merged adapter " + adapter + " into ")
        + models
            .quantisation(model)
            .map(type -> "the dequantised " + type + " weights of ")
            .orElse("")
        + model
        + "; wrote "
        + out
        + models
            .sampleFormat(out, null)
            .map(
                f ->
                    ", with the sample format " + f.getFileName() + " that generate and eval apply")
            .orElse("")
        + ".\n";
  }

  @Descriptor(
      "export a model (optionally with an adapter) for ONNX Runtime: model.onnx with its weights"
          + " as external data, a key-value cache, export.json and the tokenizer"
          + "\nExample: graft:export --adapter .graft/jobs/<id>/adapter ../shared/models/stories260K exported/")
  public String export(
      @Descriptor("an adapter folder, merged into the weights or else kept in the graph")
          @Parameter(names = "--adapter", absentValue = "")
          @Completes(DIRECTORY)
          String adapter,
      @Descriptor(
              "keep the adapter in the graph and write its tensors as adapter.onnx_adapter, ONNX"
                  + " Runtime's LoRA adapter file, to swap adapters of the same shape")
          @Parameter(names = "--onnx-adapter", presentValue = "true", absentValue = "false")
          boolean onnxAdapter,
      @Descriptor("export this task of an adapter trained for several (MoELoRA), e.g. --task qa")
          @Parameter(names = "--task", absentValue = "")
          String task,
      @Descriptor("a Hugging Face model folder") @Completes(DIRECTORY) String modelDir,
      @Descriptor("the folder to write; must be new or empty, outside the model folder")
          @Completes(DIRECTORY)
          String outDir) {
    Path out =
        ProgressLine.showing(
            () ->
                models.export(
                    Path.of(modelDir), folder(adapter), Path.of(outDir), onnxAdapter, task));
    return "Exported "
        + modelDir
        + (adapter.isEmpty() ? "" : " with adapter " + adapter)
        + (task.isEmpty() ? "" : " for task " + task)
        + " to "
        + out
        + "; export.json describes the inputs, outputs and cache of model.onnx.\n";
  }

  @Descriptor(
      "write a copy of a model folder with its linear weights quantised to 4 bits (bitsandbytes"
          + " layout), which jobs train with method=qlora,<lora method>"
          + "\nExample: graft:quantize ../shared/models/stories260K stories260K-nf4")
  public String quantize(
      @Descriptor("the 4-bit type: nf4 or fp4")
          @Parameter(names = "--quant-type", absentValue = "nf4")
          String quantType,
      @Descriptor("quantise the block scales to 8 bits too: true or false")
          @Parameter(names = "--double-quant", absentValue = "true")
          String doubleQuant,
      @Descriptor(
              "linear layers to quantise, comma-separated names or suffixes (default: all but the head)")
          @Parameter(names = "--modules", absentValue = "")
          String modules,
      @Descriptor("a Hugging Face model folder of float weights") @Completes(DIRECTORY)
          String modelDir,
      @Descriptor("the model folder to write; must be new, empty or a model folder")
          @Completes(DIRECTORY)
          String outDir) {
    if (!doubleQuant.equals("true") && !doubleQuant.equals("false")) {
      throw new IllegalArgumentException(
          "--double-quant is \"" + doubleQuant + "\"; use true or false.");
    }
    List<String> list =
        modules.isBlank()
            ? List.of()
            : Stream.of(modules.split(",")).map(String::trim).filter(m -> !m.isEmpty()).toList();
    Path out =
        ProgressLine.showing(
            () ->
                models.quantize(
                    Path.of(modelDir),
                    Path.of(outDir),
                    quantType,
                    Boolean.parseBoolean(doubleQuant),
                    list));
    return "Quantised the linear weights of "
        + modelDir
        + " to "
        + quantType
        + (doubleQuant.equals("true") ? " with double-quantised scales" : "")
        + "; wrote "
        + out
        + ". Train it with method=qlora,<lora method>.\n";
  }

  @Descriptor(
      "evaluate a model (optionally with an adapter) on JSONL data: loss, perplexity, exact match;"
          + " on preference pairs, DPO's loss and rewards of the adapter against the base model"
          + "\nExample: graft:eval --adapter .graft/jobs/<id>/adapter ../shared/models/stories260K validation.jsonl")
  public String eval(
      @Descriptor("an adapter folder to apply, such as a job's adapter/")
          @Parameter(names = "--adapter", absentValue = "")
          @Completes(DIRECTORY)
          String adapter,
      @Descriptor("evaluate at most this many samples; 0 for all")
          @Parameter(names = "--max-samples", absentValue = "0")
          int maxSamples,
      @Descriptor("tokens per sample; longer samples are cut (to the model's context at most)")
          @Parameter(names = "--max-length", absentValue = "1024")
          int maxLength,
      @Descriptor("samples per forward run") @Parameter(names = "--batch-size", absentValue = "8")
          int batchSize,
      @Descriptor("auto, text, prompt_completion, instruction or messages (job key data_format)")
          @Parameter(names = "--data-format", absentValue = "auto")
          String dataFormat,
      @Descriptor(
              "rename fields for the format, e.g. prompt=question,completion=answer (job key"
                  + " data_columns)")
          @Parameter(names = "--data-columns", absentValue = "")
          String dataColumns,
      @Descriptor("the compute backend, see graft:backends")
          @Parameter(names = "--backend", absentValue = "cpu")
          @Completes(BACKEND)
          String backend,
      @Descriptor(
              "read samples as they are, not in the sample format saved with the adapter or model")
          @Parameter(names = "--raw", presentValue = "true", absentValue = "false")
          boolean raw,
      @Descriptor("the task of an adapter trained for several (MoELoRA), e.g. --task qa")
          @Parameter(names = "--task", absentValue = "")
          String task,
      @Descriptor("preference pairs: DPO's beta for the loss and rewards")
          @Parameter(names = "--beta", absentValue = "0.1")
          double beta,
      @Descriptor("a Hugging Face model folder") @Completes(DIRECTORY) String modelDir,
      @Descriptor("a JSONL file (optionally gzip-compressed) in a format graft:train reads")
          @Completes(FILE)
          String data) {
    EvaluationSettings settings =
        new EvaluationSettings(
            dataFormat,
            Options.parse(
                    "graft:eval",
                    List.of(DATA_COLUMNS),
                    Map.of(DATA_COLUMNS.name(), dataColumns),
                    "option",
                    "",
                    "")
                .getMap(DATA_COLUMNS.name()),
            maxLength,
            batchSize,
            maxSamples,
            backend,
            true,
            true,
            raw,
            task);
    Optional<PreferenceEvaluation> pairs =
        ProgressLine.showing(
            () ->
                models.evaluatePreferences(
                    Path.of(modelDir), folder(adapter), Path.of(data), settings, beta));
    if (pairs.isPresent()) {
      return preferenceTable(pairs.get());
    }
    noteFormat(Path.of(modelDir), folder(adapter), raw, "samples are put");
    Evaluation e =
        ProgressLine.showing(
            () -> models.evaluate(Path.of(modelDir), folder(adapter), Path.of(data), settings));
    Table table =
        new Table("METRIC", "VALUE")
            .row("loss", String.format(Locale.ROOT, "%.4f", e.loss()))
            .row("perplexity", String.format(Locale.ROOT, "%.4f", e.perplexity()));
    if (e.hasExactMatch()) {
      table.row("exact match", String.format(Locale.ROOT, "%.1f%%", 100 * e.exactMatch()));
    }
    return table.row("samples", count(e.samples())).row("tokens", count(e.tokens())).render();
  }

  /** DPO's loss and TRL's reward metrics, with TRL's names. */
  private static String preferenceTable(PreferenceEvaluation p) {
    Table table = new Table("METRIC", "VALUE");
    table.row("beta", String.format(Locale.ROOT, "%g", p.beta()));
    table.row("loss", String.format(Locale.ROOT, "%.6f", p.loss()));
    table.row("rewards/chosen", String.format(Locale.ROOT, "%.6f", p.rewardsChosen()));
    table.row("rewards/rejected", String.format(Locale.ROOT, "%.6f", p.rewardsRejected()));
    table.row("rewards/accuracies", String.format(Locale.ROOT, "%.4f", p.rewardsAccuracy()));
    table.row("rewards/margins", String.format(Locale.ROOT, "%.6f", p.rewardsMargin()));
    table.row("logps/chosen", String.format(Locale.ROOT, "%.6f", p.logpsChosen()));
    table.row("logps/rejected", String.format(Locale.ROOT, "%.6f", p.logpsRejected()));
    return table.row("pairs", count(p.pairs())).render();
  }

  /** An optional folder argument: empty means none. */
  private static Path folder(String path) {
    return path.isEmpty() ? null : Path.of(path);
  }

  private static String count(long n) {
    return String.format(Locale.ROOT, "%,d", n);
  }

  @Descriptor("list the graft commands" + "\nExample: graft:help")
  public String help() {
    return overview(commands());
  }

  @Descriptor("describe one graft command and its arguments" + "\nExample: graft:help train")
  public String help(
      @Descriptor("a command name, such as graft:method or method") @Completes(COMMAND)
          String command) {
    String text = describe(commands(), command);
    if (command.equals("train") || command.equals(PREFIX + "train")) {
      Table keys = new Table("JOB KEY", "TYPE", "DEFAULT", "HELP");
      for (OptionDescriptor o : training.jobKeys()) {
        String type = o.choices().isEmpty() ? o.type().label() : String.join("|", o.choices());
        keys.row(o.name(), type, o.defaultValue().isEmpty() ? "-" : o.defaultValue(), o.help());
      }
      text +=
          "\n"
              + keys.render()
              + "\nMethod options are set as <method>.<option>, e.g. lora.r=16; see 'graft:method <name>'.\n";
    }
    return text;
  }

  /** The command list: usage and description of each command, one line each. */
  static String overview(List<Method> commands) {
    Table table = new Table("COMMAND", "DESCRIPTION");
    for (Method m : commands) {
      table.row(
          usage(m, true), m.getAnnotation(Descriptor.class).value().lines().findFirst().orElse(""));
    }
    return table.render()
        + "\nRun one with './graft <command> [arguments]', or type it in the shell that './graft' opens.\n";
  }

  /** One command's forms, each with its description and its arguments'. */
  static String describe(List<Method> commands, String command) {
    String function = command.startsWith(PREFIX) ? command.substring(PREFIX.length()) : command;
    List<Method> matches = commands.stream().filter(m -> m.getName().equals(function)).toList();
    if (matches.isEmpty()) {
      throw new IllegalArgumentException(
          Suggestions.unknown(
              "command",
              command,
              commands.stream().map(m -> PREFIX + m.getName()).distinct().toList(),
              "Known",
              "See 'graft:help'."));
    }
    StringBuilder out = new StringBuilder();
    for (Method m : matches) {
      out.append(usage(m, false)).append('\n');
      // The description, then any lines after its first (examples), each indented.
      m.getAnnotation(Descriptor.class)
          .value()
          .lines()
          .forEach(l -> out.append("  ").append(l).append('\n'));
      for (java.lang.reflect.Parameter p : m.getParameters()) {
        Descriptor d = p.getAnnotation(Descriptor.class);
        out.append("  ")
            .append(word(m, p))
            .append("  ")
            .append(d == null ? "" : d.value())
            .append(defaultOf(p))
            .append('\n');
      }
    }
    return out.toString();
  }

  /** " (default: 128)" for an option with a value; empty for a flag or an argument. */
  private static String defaultOf(java.lang.reflect.Parameter p) {
    Parameter option = p.getAnnotation(Parameter.class);
    boolean flag = p.getType() == boolean.class || p.getType() == Boolean.class;
    if (option == null || flag) {
      return "";
    }
    String value = option.absentValue();
    return " (default: " + (value.isEmpty() ? "none" : value) + ")";
  }

  /**
   * Every command of scope {@value #SCOPE}, whichever bundle registers it: the functions that each
   * such service lists, as the methods of its class. Without a framework (in unit tests), this
   * class's own commands.
   */
  private List<Method> commands() {
    return commands(context);
  }

  /** {@link #commands()} as the bundle with this context sees them. */
  static List<Method> commands(BundleContext context) {
    if (context == null) {
      return commands(Map.of(GraftCommands.class, List.of()));
    }
    ServiceReference<?>[] refs;
    try {
      refs = context.getAllServiceReferences(null, "(osgi.command.scope=" + SCOPE + ")");
    } catch (InvalidSyntaxException e) {
      throw new IllegalStateException(e);
    }
    Map<Class<?>, List<String>> services = new LinkedHashMap<>();
    for (ServiceReference<?> ref : refs == null ? new ServiceReference<?>[0] : refs) {
      List<String> functions = functions(ref.getProperty("osgi.command.function"));
      if (functions.isEmpty()) {
        continue;
      }
      Object service = context.getService(ref);
      if (service == null) {
        continue; // unregistered meanwhile, or its component failed to activate
      }
      try {
        services.merge(
            service.getClass(),
            functions,
            (a, b) -> Stream.concat(a.stream(), b.stream()).toList());
      } finally {
        context.ungetService(ref);
      }
    }
    return commands(services);
  }

  /** {@code osgi.command.function} as a list: a string, an array or a collection of names. */
  static List<String> functions(Object property) {
    if (property instanceof String[] names) {
      return List.of(names);
    }
    if (property instanceof Collection<?> names) {
      return names.stream().map(String::valueOf).toList();
    }
    return property == null ? List.of() : List.of(String.valueOf(property));
  }

  /**
   * The public methods with a {@link Descriptor} of each class that are named by its functions (all
   * of them when it lists none), in name order, shortest form first.
   */
  static List<Method> commands(Map<Class<?>, ? extends Collection<String>> services) {
    Set<Method> commands = new LinkedHashSet<>();
    services.forEach(
        (type, functions) -> {
          for (Method m : type.getMethods()) {
            if (m.isAnnotationPresent(Descriptor.class)
                && m.getDeclaringClass() != Object.class
                && (functions.isEmpty() || functions.contains(m.getName()))) {
              commands.add(m);
            }
          }
        });
    return commands.stream()
        .sorted(
            Comparator.comparing(Method::getName)
                .thenComparingInt(Method::getParameterCount)
                .thenComparing(m -> m.getDeclaringClass().getName()))
        .toList();
  }

  /**
   * The command line of a function; {@code brief} writes {@code [options]} for a function with more
   * than two options, to keep the command list narrow.
   */
  static String usage(Method m, boolean brief) {
    StringBuilder usage = new StringBuilder(PREFIX).append(m.getName());
    long options =
        Arrays.stream(m.getParameters())
            .filter(p -> p.isAnnotationPresent(Parameter.class))
            .count();
    if (brief && options > 2) {
      usage.append(" [options]");
    }
    for (java.lang.reflect.Parameter p : m.getParameters()) {
      if (!(brief && options > 2 && p.isAnnotationPresent(Parameter.class))) {
        usage.append(' ').append(word(m, p));
      }
    }
    return usage.toString();
  }

  /**
   * {@code [--detach]} for a flag, {@code [--seed <seed>]} for an option with a value, {@code
   * [<overrides>...]} for varargs, else {@code <name>}.
   */
  private static String word(Method m, java.lang.reflect.Parameter p) {
    Parameter option = p.getAnnotation(Parameter.class);
    if (option != null) {
      boolean flag = p.getType() == boolean.class || p.getType() == Boolean.class;
      return "[" + option.names()[0] + (flag ? "" : " <" + p.getName() + ">") + "]";
    }
    boolean varargs = m.isVarArgs() && p == m.getParameters()[m.getParameterCount() - 1];
    return varargs ? "[<" + p.getName() + ">...]" : "<" + p.getName() + ">";
  }
}
