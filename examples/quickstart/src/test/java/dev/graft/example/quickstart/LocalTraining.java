package dev.graft.example.quickstart;

import dev.graft.api.FineTuningMethod;
import dev.graft.api.MethodRegistry;
import dev.graft.api.backend.BackendRegistry;
import dev.graft.api.backend.ComputeBackend;
import dev.graft.api.model.ModelService;
import dev.graft.api.train.Job;
import dev.graft.api.train.TrainingService;
import dev.graft.backend.cpu.CpuBackend;
import dev.graft.method.full.FullFineTuning;
import dev.graft.method.lora.LoraMethod;
import dev.graft.train.job.JobSpec;
import dev.graft.train.job.TrainingJob;
import dev.graft.train.registry.FixedMethodRegistry;
import dev.graft.train.run.SftRun;
import dev.graft.train.service.ModelServiceImpl;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.annotation.Annotation;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The platform's training job without a framework: what the training service does in Felix, wired
 * by hand with the lora and full methods and a CPU backend. Jobs run on their own thread. {@link
 * #MODELS} is the platform's model service over the same methods and backend.
 */
final class LocalTraining implements TrainingService {
  static final ComputeBackend CPU = cpu();

  private static final List<FineTuningMethod> METHODS =
      List.of(new LoraMethod(), new FullFineTuning());

  static final MethodRegistry METHOD_REGISTRY = new FixedMethodRegistry(METHODS);

  static final BackendRegistry BACKEND_REGISTRY =
      new BackendRegistry() {
        @Override
        public List<ComputeBackend> backends() {
          return List.of(CPU);
        }

        @Override
        public Optional<ComputeBackend> find(String name) {
          return backends().stream().filter(b -> b.name().equals(name)).findFirst();
        }

        @Override
        public ComputeBackend requireAvailable(String name) {
          return find(name)
              .orElseThrow(() -> new IllegalArgumentException("Unknown backend \"" + name + "\"."));
        }
      };

  /** The platform's model service, as Felix would wire it. */
  static final ModelService MODELS = new ModelServiceImpl(METHOD_REGISTRY, BACKEND_REGISTRY);

  private final List<Job> jobs = new ArrayList<>();

  @Override
  public Job submit(Map<String, String> spec) {
    JobSpec checked = JobSpec.parse(spec, METHOD_REGISTRY);
    Path dir = Path.of(spec.get("output_dir"));
    try {
      Files.createDirectories(dir);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    TrainingJob job =
        new TrainingJob(
            "job-" + (jobs.size() + 1),
            spec,
            dir,
            checked.job().getInt("save_steps"),
            TrainingJob.Validation.of(checked.job()),
            () -> new SftRun(checked, METHOD_REGISTRY, CPU, System.err::println),
            (topic, properties) -> {});
    jobs.add(0, job);
    new Thread(job, "local-training").start();
    return job;
  }

  @Override
  public Job submit(Path jobFile, Map<String, String> overrides) {
    throw new IllegalStateException("The quickstart submits job maps, never job files.");
  }

  @Override
  public List<dev.graft.api.OptionDescriptor> jobKeys() {
    return dev.graft.train.job.JobKeys.ALL;
  }

  @Override
  public List<Job> jobs() {
    return List.copyOf(jobs);
  }

  @Override
  public Optional<Job> job(String id) {
    return jobs.stream().filter(j -> j.id().equals(id)).findFirst();
  }

  @Override
  public Job resume(String id) {
    throw new IllegalStateException("The quickstart never resumes a job.");
  }

  private static CpuBackend cpu() {
    CpuBackend backend = new CpuBackend();
    backend.configure(
        new CpuBackend.Config() {
          @Override
          public int threads() {
            return 0;
          }

          @Override
          public Class<? extends Annotation> annotationType() {
            return CpuBackend.Config.class;
          }
        });
    return backend;
  }
}
