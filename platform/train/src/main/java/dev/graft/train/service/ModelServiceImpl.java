package dev.graft.train.service;

import dev.graft.api.MethodRegistry;
import dev.graft.api.adapt.SampleFormat;
import dev.graft.api.backend.BackendRegistry;
import dev.graft.api.backend.ComputeBackend;
import dev.graft.api.model.Evaluation;
import dev.graft.api.model.EvaluationSettings;
import dev.graft.api.model.GenerationSettings;
import dev.graft.api.model.ModelService;
import dev.graft.api.model.ModelSummary;
import dev.graft.api.model.PreferenceEvaluation;
import dev.graft.api.progress.Progress;
import dev.graft.api.quant.FourBit;
import dev.graft.graph.DType;
import dev.graft.model.AtomicFiles;
import dev.graft.model.ChatTemplate;
import dev.graft.model.FourBitCheckpoint;
import dev.graft.model.Generator;
import dev.graft.model.ModelConfig;
import dev.graft.model.SafetensorsReader;
import dev.graft.model.Tokenizer;
import dev.graft.train.data.Batches;
import dev.graft.train.data.Cuts;
import dev.graft.train.data.Encoded;
import dev.graft.train.data.Jsonl;
import dev.graft.train.data.Sample;
import dev.graft.train.run.Adapters;
import dev.graft.train.run.LossPass;
import dev.graft.train.run.OnnxExport;
import dev.graft.train.run.SavedFormat;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

/**
 * Inspection, generation, merging, export and evaluation over the model bundle, with adapters read
 * back by {@link Adapters}. Stateless: each call opens its backend sessions and closes them before
 * it returns.
 */
@Component(service = ModelService.class)
public final class ModelServiceImpl implements ModelService {

  private final MethodRegistry methods;
  private final BackendRegistry backends;

  /** Uses these registries for adapter methods and compute backends. */
  @Activate
  public ModelServiceImpl(@Reference MethodRegistry methods, @Reference BackendRegistry backends) {
    this.methods = methods;
    this.backends = backends;
  }

  @Override
  public ModelSummary inspect(Path modelDir) {
    ModelConfig config = config(modelDir);
    Map<String, ModelSummary.Count> dtypes = new LinkedHashMap<>();
    long parameters = 0;
    try (SafetensorsReader checkpoint = SafetensorsReader.open(modelDir)) {
      config.check(checkpoint);
      for (String name : config.expectedTensors().keySet()) {
        String stored = config.nameIn(checkpoint, name);
        boolean fourBit = FourBitCheckpoint.isQuantised(checkpoint, stored);
        FourBitCheckpoint.Stored q =
            fourBit ? FourBitCheckpoint.describe(checkpoint, stored) : null;
        long numel = fourBit ? q.n() : checkpoint.info(stored).numel();
        parameters += numel;
        dtypes.merge(
            fourBit ? q.type().name() : checkpoint.info(stored).dtype().name(),
            new ModelSummary.Count(1, numel),
            (a, b) -> new ModelSummary.Count(a.tensors() + 1, a.parameters() + b.parameters()));
      }
    } catch (IOException e) {
      throw unreadable(modelDir, e);
    }
    return new ModelSummary(
        config.architecture().hfName(),
        config.modelType(),
        parameters,
        dtypes,
        config.vocabSize(),
        config.maxPositionEmbeddings(),
        config.numHiddenLayers(),
        config.hiddenSize(),
        config.numAttentionHeads(),
        config.numKeyValueHeads(),
        chatTemplate(modelDir) != null,
        config.tieWordEmbeddings());
  }

  @Override
  public Optional<Path> sampleFormat(Path modelDir, Path adapterDir) {
    return SavedFormat.file(modelDir, adapterDir);
  }

  @Override
  public String generate(
      Path modelDir, Path adapterDir, String prompt, GenerationSettings settings) {
    config(modelDir);
    requireAdapter(adapterDir);
    ComputeBackend backend = backends.requireAvailable(settings.backend());
    Tokenizer tokenizer = tokenizer(modelDir);
    SavedFormat format = format(modelDir, adapterDir, settings.raw());
    try (Generator generator =
        generator(backend, modelDir, adapterDir, tokenizer, settings.task())) {
      int[] ids = format.prompt(prompt, tokenizer, chatTemplate(modelDir)).ids(tokenizer);
      Generator.Options options =
          new Generator.Options(
              settings.maxNewTokens(),
              settings.temperature() > 0,
              settings.temperature() > 0 ? settings.temperature() : 1,
              settings.topK(),
              settings.topP(),
              settings.repetitionPenalty(),
              generator.defaults().stopTokens(),
              format.stops(),
              settings.seed());
      return continuation(tokenizer, ids, generator.generate(ids, options).ids());
    }
  }

  @Override
  public Path merge(Path modelDir, Path adapterDir, Path outDir) {
    return write(modelDir, adapterDir, outDir, false, "");
  }

  @Override
  public Path unmerge(Path modelDir, Path adapterDir, Path outDir) {
    return write(modelDir, adapterDir, outDir, true, "");
  }

  @Override
  public Path merge(Path modelDir, Path adapterDir, Path outDir, String task) {
    return write(modelDir, adapterDir, outDir, false, task);
  }

  @Override
  public Path unmerge(Path modelDir, Path adapterDir, Path outDir, String task) {
    return write(modelDir, adapterDir, outDir, true, task);
  }

  /** The adapter options that a task sets: none, or MoELoRA's {@code task}. */
  private static Map<String, String> taskSettings(String task) {
    return task.isEmpty() ? Map.of() : Map.of("task", task);
  }

  private Path write(Path modelDir, Path adapterDir, Path outDir, boolean subtract, String task) {
    config(modelDir);
    if (adapterDir == null) {
      throw new IllegalArgumentException("Name the adapter folder to merge.");
    }
    requireAdapter(adapterDir);
    Path out = modelOutput(modelDir, adapterDir, outDir);
    Adapters.merge(modelDir, adapterDir, out, methods, subtract, taskSettings(task));
    return out;
  }

  @Override
  public Path export(Path modelDir, Path adapterDir, Path outDir, boolean onnxAdapter) {
    return export(modelDir, adapterDir, outDir, onnxAdapter, "");
  }

  @Override
  public Path export(
      Path modelDir, Path adapterDir, Path outDir, boolean onnxAdapter, String task) {
    config(modelDir);
    requireAdapter(adapterDir);
    if (onnxAdapter && adapterDir == null) {
      throw new IllegalArgumentException(
          "An .onnx_adapter file needs an adapter; name its folder with --adapter.");
    }
    Path out = output(modelDir, adapterDir, outDir);
    if (Files.exists(out) && !isEmptyFolder(out)) {
      throw new IllegalArgumentException(
          "Output folder " + outDir + " exists and is not empty; choose a new or empty folder.");
    }
    OnnxExport.write(modelDir, adapterDir, out, methods, onnxAdapter, taskSettings(task));
    return out;
  }

  /**
   * {@link #output}, which must also be new, empty or a model folder (which the write replaces).
   */
  private static Path modelOutput(Path modelDir, Path adapterDir, Path outDir) {
    Path out = output(modelDir, adapterDir, outDir);
    if (Files.exists(out) && !Files.exists(out.resolve(ModelConfig.FILE)) && !isEmptyFolder(out)) {
      throw new IllegalArgumentException(
          "Output folder "
              + outDir
              + " exists and is not a model folder; choose a new or empty folder.");
    }
    return out;
  }

  /**
   * The absolute output folder, checked to lie outside the model folder and to hold neither input.
   */
  private static Path output(Path modelDir, Path adapterDir, Path outDir) {
    Path out = outDir.toAbsolutePath().normalize();
    for (Path input : adapterDir == null ? List.of(modelDir) : List.of(modelDir, adapterDir)) {
      Path in = input.toAbsolutePath().normalize();
      if (in.startsWith(out)) {
        throw new IllegalArgumentException(
            "Output folder " + outDir + " would replace " + input + "; choose a new folder.");
      }
    }
    if (out.startsWith(modelDir.toAbsolutePath().normalize())) {
      throw new IllegalArgumentException(
          "Output folder "
              + outDir
              + " lies inside the model folder "
              + modelDir
              + "; choose a folder outside it.");
    }
    return out;
  }

  @Override
  public Path quantize(
      Path modelDir, Path outDir, String quantType, boolean doubleQuant, List<String> modules) {
    config(modelDir);
    FourBit.Type type = FourBit.Type.of(quantType);
    Path out = modelOutput(modelDir, null, outDir);
    try {
      FourBitCheckpoint.write(modelDir, out, type, doubleQuant, modules);
    } catch (IOException e) {
      throw new UncheckedIOException(
          "Could not write the quantised model to " + outDir + ": " + e.getMessage(), e);
    }
    return out;
  }

  @Override
  public Optional<String> quantisation(Path modelDir) {
    config(modelDir);
    try {
      return FourBitCheckpoint.quantisation(modelDir).map(FourBit.Type::label);
    } catch (IOException e) {
      throw new UncheckedIOException("Could not read " + modelDir + ": " + e.getMessage(), e);
    }
  }

  @Override
  public Evaluation evaluate(
      Path modelDir, Path adapterDir, Path data, EvaluationSettings settings) {
    ModelConfig config = config(modelDir);
    requireAdapter(adapterDir);
    Jsonl.Format dataFormat;
    try {
      dataFormat = Jsonl.Format.parse(settings.dataFormat());
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(
          "Unknown data format \""
              + settings.dataFormat()
              + "\"; use auto, text, prompt_completion, instruction or messages.");
    }
    ComputeBackend backend = backends.requireAvailable(settings.backend());
    SavedFormat format = format(modelDir, adapterDir, settings.raw());
    SampleFormat rendering = format.sampleFormat(modelDir, methods);
    // Without a format, instruction data is evaluated as the prompt/completion text it trains as.
    List<Sample> samples =
        Jsonl.read(data, dataFormat, settings.dataColumns(), settings.maxSamples()).stream()
            .map(
                s ->
                    rendering == null && s instanceof Sample.Instruction i
                        ? i.asPromptCompletion()
                        : s)
            .toList();
    Tokenizer tokenizer = tokenizer(modelDir);
    ChatTemplate template = chatTemplate(modelDir);
    LossPass.Mean mean;
    List<Encoded> encoded;
    try (LossPass pass =
        new LossPass(backend, modelDir, adapterDir, methods, taskSettings(settings.task()))) {
      // Cut as training cuts: to max_length, and never past the model's context (less the
      // positions the adapter's virtual tokens or prefixes take).
      Encoded.Settings encoding =
          new Encoded.Settings(
                  settings.maxLength(),
                  settings.completionOnlyLoss(),
                  settings.assistantOnlyLoss(),
                  false)
              .within((int) (config.maxPositionEmbeddings() - pass.prefixLength()));
      Cuts cuts = new Cuts();
      encoded = Encoded.all(samples, tokenizer, template, rendering, encoding, cuts);
      cuts.sentence(encoded.size(), "samples", encoding.maxLength()).ifPresent(Progress::note);
      Batches batches =
          new Batches(
              encoded,
              settings.batchSize(),
              encoding.maxLength(),
              false,
              0,
              Batches.padId(tokenizer));
      mean = pass.mean(batches);
    } catch (IOException e) {
      throw unreadable(modelDir, e);
    }
    double exactMatch = Double.NaN;
    if (samples.stream()
        .allMatch(s -> s instanceof Sample.PromptCompletion || s instanceof Sample.Instruction)) {
      try (Generator generator =
          generator(backend, modelDir, adapterDir, tokenizer, settings.task())) {
        exactMatch =
            new ExactMatch(
                    generator,
                    tokenizer,
                    template,
                    format,
                    (int) (config.maxPositionEmbeddings() - generator.prefixLength()))
                .share(samples, settings.batchSize());
      }
    }
    int evaluated = (int) encoded.stream().filter(Encoded::teaches).count();
    return new Evaluation(
        mean.loss(), Math.exp(mean.loss()), exactMatch, evaluated, mean.targets());
  }

  @Override
  public Optional<PreferenceEvaluation> evaluatePreferences(
      Path modelDir, Path adapterDir, Path data, EvaluationSettings settings, double beta) {
    ModelConfig config = config(modelDir);
    requireAdapter(adapterDir);
    return PreferenceEval.evaluate(
        methods,
        backends.requireAvailable(settings.backend()),
        modelDir,
        adapterDir,
        data,
        settings,
        beta,
        tokenizer(modelDir),
        chatTemplate(modelDir),
        config.maxPositionEmbeddings());
  }

  private Generator generator(
      ComputeBackend backend, Path modelDir, Path adapterDir, Tokenizer tokenizer, String task) {
    try {
      if (adapterDir == null) {
        return Generator.open(backend, modelDir, DType.FLOAT32);
      }
      Adapters.Adapted adapted =
          Adapters.load(modelDir, adapterDir, methods, true, taskSettings(task));
      return Generator.open(
          backend, adapted.model(), adapted.weights(), tokenizer, Generator.Options.read(modelDir));
    } catch (IOException e) {
      throw unreadable(modelDir, e);
    }
  }

  /**
   * The text that {@code generated} adds after {@code prompt}: decoded together with the prompt, so
   * that a word-initial space the tokenizer writes as part of a token is kept.
   */
  static String continuation(Tokenizer tokenizer, int[] prompt, int[] generated) {
    int[] all = Arrays.copyOf(prompt, prompt.length + generated.length);
    System.arraycopy(generated, 0, all, prompt.length, generated.length);
    String whole = tokenizer.decode(all, true);
    String head = tokenizer.decode(prompt, true);
    return whole.startsWith(head)
        ? whole.substring(head.length())
        : tokenizer.decode(generated, true);
  }

  private static ModelConfig config(Path modelDir) {
    recover(modelDir);
    if (!Files.isDirectory(modelDir)) {
      throw new IllegalArgumentException("Model folder " + modelDir + " does not exist.");
    }
    if (!Files.isRegularFile(modelDir.resolve(ModelConfig.FILE))) {
      throw new IllegalArgumentException(
          "Model folder "
              + modelDir
              + " has no config.json; point at a Hugging Face model folder.");
    }
    try {
      return ModelConfig.read(modelDir.resolve(ModelConfig.FILE));
    } catch (IOException e) {
      throw unreadable(modelDir, e);
    }
  }

  /** Finishes an interrupted write of a folder Graft wrote (a merged model, an adapter). */
  private static void recover(Path folder) {
    try {
      AtomicFiles.recover(folder);
    } catch (IOException e) {
      throw new UncheckedIOException("Could not read " + folder + ": " + e.getMessage(), e);
    }
  }

  /** Checks an adapter folder; null (no adapter) passes. */
  private static void requireAdapter(Path adapterDir) {
    if (adapterDir == null) {
      return;
    }
    recover(adapterDir);
    if (!Files.isDirectory(adapterDir)) {
      throw new IllegalArgumentException("Adapter folder " + adapterDir + " does not exist.");
    }
    if (!Files.isRegularFile(adapterDir.resolve("adapter_config.json"))) {
      throw new IllegalArgumentException(
          "Adapter folder "
              + adapterDir
              + " has no adapter_config.json; point at an adapter folder such as a job's"
              + " adapter/.");
    }
  }

  private static Tokenizer tokenizer(Path modelDir) {
    try {
      return Tokenizer.load(modelDir);
    } catch (IOException e) {
      throw unreadable(modelDir, e);
    }
  }

  /** The model's chat template, or null when it has none. */
  private static ChatTemplate chatTemplate(Path modelDir) {
    try {
      return ChatTemplate.load(modelDir);
    } catch (IllegalArgumentException none) {
      return null;
    } catch (IOException e) {
      throw unreadable(modelDir, e);
    }
  }

  private static boolean isEmptyFolder(Path dir) {
    try (Stream<Path> entries = Files.list(dir)) {
      return entries.findAny().isEmpty();
    } catch (IOException e) {
      return false;
    }
  }

  /** The sample format saved for these folders, or none when {@code raw}. */
  private static SavedFormat format(Path modelDir, Path adapterDir, boolean raw) {
    return raw ? SavedFormat.NONE : SavedFormat.read(modelDir, adapterDir);
  }

  private static RuntimeException unreadable(Path dir, IOException e) {
    if (e instanceof NoSuchFileException missing) {
      return new IllegalArgumentException(
          "Model folder " + dir + " lacks " + Path.of(missing.getFile()).getFileName() + ".");
    }
    return new UncheckedIOException("Could not read " + dir + ": " + e.getMessage(), e);
  }
}
