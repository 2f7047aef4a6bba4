package dev.graft.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.graft.api.FineTuningMethod;
import dev.graft.api.MethodRegistry;
import dev.graft.api.Suggestions;
import dev.graft.api.backend.BackendRegistry;
import dev.graft.api.backend.ComputeBackend;
import dev.graft.api.backend.HostTensor;
import dev.graft.api.backend.Program;
import dev.graft.api.backend.Session;
import dev.graft.api.train.JobState;
import dev.graft.backend.cpu.CpuBackend;
import dev.graft.graph.DType;
import dev.graft.method.adalora.AdaLoraMethod;
import dev.graft.method.dora.DoraMethod;
import dev.graft.method.full.FullFineTuning;
import dev.graft.method.instruction.InstructionTuning;
import dev.graft.method.lora.LoraMethod;
import dev.graft.method.lorafa.LoraFaMethod;
import dev.graft.method.loraplus.LoraPlusMethod;
import dev.graft.method.pissa.PissaMethod;
import dev.graft.method.qlora.QloraMethod;
import dev.graft.model.ModelConfig;
import dev.graft.model.ModelGraph;
import dev.graft.model.SafetensorsReader;
import dev.graft.train.job.JobSpec;
import dev.graft.train.job.TrainingJob;
import dev.graft.train.registry.FixedMethodRegistry;
import dev.graft.train.run.SftRun;
import java.lang.annotation.Annotation;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Assumptions;

/** What the conformance tests share: the methods as a registry, a CPU backend, ../shared files. */
final class Fixtures {
  private Fixtures() {}

  static final List<FineTuningMethod> METHODS =
      List.of(
          new LoraMethod(),
          new LoraPlusMethod(),
          new LoraFaMethod(),
          new AdaLoraMethod(),
          new dev.graft.method.deltalora.DeltaLoraMethod(),
          new dev.graft.method.moelora.MoeLoraMethod(),
          new dev.graft.method.loradrop.LoraDropMethod(),
          new DoraMethod(),
          new PissaMethod(),
          new QloraMethod(),
          new FullFineTuning(),
          new InstructionTuning(),
          new dev.graft.method.dpo.DpoMethod(),
          new dev.graft.method.prompt.PromptTuningMethod(),
          new dev.graft.method.prefix.PrefixTuningMethod(),
          new dev.graft.method.adapter.BottleneckAdapterMethod(),
          new dev.graft.method.bitfit.BitFitMethod(),
          new dev.graft.method.ptuning.PTuningMethod(),
          new dev.graft.method.ptuningv2.PTuningV2Method(),
          new dev.graft.example.ia3.Ia3Method());

  static final MethodRegistry REGISTRY = new FixedMethodRegistry(METHODS);

  /** A backend registry holding one {@link #cpu()} backend. */
  static final BackendRegistry BACKENDS =
      new BackendRegistry() {
        private final ComputeBackend cpu = cpu();

        @Override
        public List<ComputeBackend> backends() {
          return List.of(cpu);
        }

        @Override
        public Optional<ComputeBackend> find(String name) {
          return backends().stream().filter(b -> b.name().equals(name)).findFirst();
        }

        @Override
        public ComputeBackend requireAvailable(String name) {
          return find(name)
              .orElseThrow(
                  () ->
                      new IllegalArgumentException(
                          Suggestions.unknown("backend", name, List.of("cpu"), "Installed", "")));
        }
      };

  /** A CPU backend with one thread: deterministic reductions, comparable numbers. */
  static CpuBackend cpu() {
    CpuBackend backend = new CpuBackend();
    backend.configure(
        new CpuBackend.Config() {
          @Override
          public int threads() {
            return 1;
          }

          @Override
          public Class<? extends Annotation> annotationType() {
            return CpuBackend.Config.class;
          }
        });
    return backend;
  }

  /**
   * A job on stories260K and {@link GoldenCurveTest#STORIES} (written into {@code dir}): seed 3,
   * batches of 4 rows of up to 64 tokens, learning rate 1e-2, {@code steps} steps.
   */
  static Map<String, String> spec(Path dir, String method, int steps) throws Exception {
    Map<String, String> spec = new LinkedHashMap<>();
    spec.put("model", shared("models/stories260K").toString());
    spec.put("data", GoldenCurveTest.data(dir).toString());
    spec.put("method", method);
    spec.put("seed", "3");
    spec.put("per_device_train_batch_size", "4");
    spec.put("max_length", "64");
    spec.put("learning_rate", "1e-2");
    spec.put("max_steps", Integer.toString(steps));
    return spec;
  }

  /**
   * Runs a job to its end on one CPU thread, checkpointing every {@code save_steps}, and returns
   * its output folder.
   */
  static Path train(Map<String, String> spec, Path out, MethodRegistry registry) throws Exception {
    Files.createDirectories(out);
    JobSpec checked = JobSpec.parse(spec, registry);
    TrainingJob job =
        new TrainingJob(
            "t",
            spec,
            out,
            checked.job().getInt("save_steps"),
            TrainingJob.Validation.of(checked.job()),
            () -> new SftRun(checked, registry, cpu(), n -> {}),
            (t, p) -> {});
    job.run();
    assertEquals(JobState.COMPLETED, job.status().state(), job.status().message());
    return out;
  }

  /** Logits of a model graph for a fixed prompt on the CPU backend. */
  static float[] logits(ModelGraph model, Map<String, HostTensor> weights) {
    return logits(model, weights, 1, 403, 407, 261, 378);
  }

  /** Logits (T, V) of a model graph for one row of token ids on the CPU backend. */
  static float[] logits(ModelGraph model, Map<String, HostTensor> weights, long... ids) {
    Program program =
        new Program(model.graph().toOnnx(), weights, Map.of(), Set.of(DType.FLOAT32, DType.INT64));
    try (Session session = cpu().open(program)) {
      long[] shape = {1, ids.length};
      long[] positions = new long[ids.length];
      long[] segments = new long[ids.length];
      for (int t = 0; t < ids.length; t++) {
        positions[t] = t;
        segments[t] = 1;
      }
      Map<String, HostTensor> feeds = new LinkedHashMap<>();
      feeds.put("input_ids", HostTensor.ofLongs(shape, ids));
      feeds.put("position_ids", HostTensor.ofLongs(shape, positions));
      feeds.put("segment_ids", HostTensor.ofLongs(shape, segments));
      return session.run(feeds, Set.of("logits")).get("logits").floats();
    }
  }

  /** {@link #logits} of the model in a Hugging Face model folder, without adapter. */
  static float[] baseLogits(Path modelDir) throws Exception {
    ModelGraph model =
        ModelGraph.build(ModelConfig.read(modelDir.resolve("config.json")), DType.FLOAT32);
    try (SafetensorsReader reader = SafetensorsReader.open(modelDir)) {
      return logits(model, model.weights(reader, DType.FLOAT32));
    }
  }

  /** A file under ../shared, or a skipped test when ../shared is absent. */
  static Path shared(String path) {
    Path p = Path.of("../../../shared").resolve(path).toAbsolutePath().normalize();
    Assumptions.assumeTrue(Files.exists(p), "../shared not found (" + p + "): skipping");
    return p;
  }
}
