package dev.graft.train.service;

import dev.graft.api.FineTuningMethod;
import dev.graft.api.MethodRegistry;
import dev.graft.api.OptionDescriptor;
import dev.graft.api.backend.BackendRegistry;
import dev.graft.api.backend.ComputeBackend;
import dev.graft.api.train.Job;
import dev.graft.api.train.TrainingService;
import dev.graft.train.job.JobFiles;
import dev.graft.train.job.JobKeys;
import dev.graft.train.job.JobSpec;
import dev.graft.train.job.TrainingJob;
import dev.graft.train.run.SftRun;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.osgi.framework.BundleContext;
import org.osgi.framework.ServiceReference;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.component.annotations.ReferenceCardinality;
import org.osgi.service.component.annotations.ReferencePolicy;
import org.osgi.service.component.annotations.ReferencePolicyOption;
import org.osgi.service.event.Event;
import org.osgi.service.event.EventAdmin;

/**
 * Runs training jobs one at a time on a background thread. Jobs live in {@code
 * <graft.home>/jobs/<id>} (or their {@code output_dir}) with their specification, so a job can be
 * resumed by id after a restart. When a method a running job uses goes away, the job stops with a
 * checkpoint and says why.
 */
@Component(service = TrainingService.class)
public final class TrainingServiceImpl implements TrainingService {
  private static final DateTimeFormatter ID = DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss");

  @Reference MethodRegistry methods;
  @Reference BackendRegistry backends;

  @Reference(
      cardinality = ReferenceCardinality.OPTIONAL,
      policy = ReferencePolicy.DYNAMIC,
      policyOption = ReferencePolicyOption.GREEDY)
  volatile EventAdmin events;

  private final Map<String, TrainingJob> jobs = Collections.synchronizedMap(new LinkedHashMap<>());
  private final Map<String, List<String>> methodsOfJob =
      Collections.synchronizedMap(new LinkedHashMap<>());
  private final AtomicInteger counter = new AtomicInteger();
  private ExecutorService executor;
  private Path home;

  @Activate
  void activate(BundleContext context) {
    String configured = context.getProperty("graft.home");
    home =
        Path.of(configured == null ? System.getProperty("user.dir") + "/.graft" : configured)
            .toAbsolutePath();
    executor =
        Executors.newSingleThreadExecutor(
            r -> {
              Thread t = new Thread(r, "graft-training");
              t.setDaemon(true);
              return t;
            });
  }

  /** Stops running jobs after their current step, with a checkpoint, and waits for that. */
  @Deactivate
  void deactivate() throws InterruptedException {
    synchronized (jobs) {
      jobs.values().forEach(j -> j.stop("Graft was shut down."));
    }
    executor.shutdown();
    executor.awaitTermination(2, TimeUnit.MINUTES);
  }

  /** Stops the running jobs that use a method whose service goes away. */
  @Reference(
      service = FineTuningMethod.class,
      cardinality = ReferenceCardinality.MULTIPLE,
      policy = ReferencePolicy.DYNAMIC,
      policyOption = ReferencePolicyOption.GREEDY)
  void addMethod(ServiceReference<FineTuningMethod> ref) {}

  void removeMethod(ServiceReference<FineTuningMethod> ref) {
    Object name = ref.getProperty(FineTuningMethod.NAME);
    synchronized (jobs) {
      jobs.forEach(
          (id, job) -> {
            if (!job.status().state().isFinal()
                && methodsOfJob.getOrDefault(id, List.of()).contains(name)) {
              job.stop(
                  "Method \""
                      + name
                      + "\" went away (its bundle was stopped, updated or uninstalled).");
            }
          });
    }
  }

  @Override
  public Job submit(Path jobFile, Map<String, String> overrides) {
    Map<String, String> spec = new LinkedHashMap<>(JobFiles.read(jobFile));
    spec.putAll(overrides);
    return submit(spec);
  }

  @Override
  public Job submit(Map<String, String> spec) {
    JobSpec checked = JobSpec.parse(spec, methods);
    ComputeBackend backend = backends.requireAvailable(checked.job().getString("backend"));
    Path model = Path.of(checked.job().getString("model"));
    if (!Files.isRegularFile(model.resolve("config.json"))) {
      throw new IllegalArgumentException(
          "Model folder "
              + model
              + " has no config.json; point model at a Hugging Face model folder.");
    }
    Path data = Path.of(checked.job().getString("data"));
    if (!Files.isRegularFile(data)) {
      throw new IllegalArgumentException("Data file " + data + " does not exist.");
    }
    String id = LocalDateTime.now().format(ID) + "-" + counter.incrementAndGet();
    String out = checked.job().has("output_dir") ? checked.job().getString("output_dir") : "";
    Path dir = out.isEmpty() ? home.resolve("jobs").resolve(id) : Path.of(out);
    try {
      Files.createDirectories(dir);
      if (!Files.isWritable(dir)) {
        throw new IOException("not writable");
      }
      Properties.write(dir.resolve("job.properties"), spec);
    } catch (IOException e) {
      throw new IllegalArgumentException(
          "Output folder "
              + dir
              + " cannot be written ("
              + e.getMessage()
              + "); choose another output_dir.");
    }
    TrainingJob job = job(id, spec, checked, backend, dir);
    executor.submit(job);
    return job;
  }

  private TrainingJob job(
      String id, Map<String, String> spec, JobSpec checked, ComputeBackend backend, Path dir) {
    TrainingJob job =
        new TrainingJob(
            id,
            spec,
            dir,
            checked.job().getInt("save_steps"),
            () ->
                new SftRun(
                    checked,
                    methods,
                    backend,
                    note -> System.err.println("graft: job " + id + ": " + note)),
            (topic, properties) -> {
              EventAdmin admin = events;
              if (admin != null) {
                admin.postEvent(new Event(topic, properties));
              }
            });
    jobs.put(id, job);
    methodsOfJob.put(id, List.copyOf(checked.methods().keySet()));
    return job;
  }

  @Override
  public List<OptionDescriptor> jobKeys() {
    return JobKeys.ALL;
  }

  @Override
  public List<Job> jobs() {
    List<Job> list;
    synchronized (jobs) {
      list = new ArrayList<>(jobs.values());
    }
    Collections.reverse(list);
    return list;
  }

  @Override
  public Optional<Job> job(String id) {
    return Optional.ofNullable(jobs.get(id));
  }

  @Override
  public Job resume(String id) {
    TrainingJob job = jobs.get(id);
    if (job == null) {
      Path dir = home.resolve("jobs").resolve(id);
      if (!Files.isRegularFile(dir.resolve("job.properties"))) {
        throw new IllegalArgumentException(
            "Unknown job \"" + id + "\"; see 'graft:jobs' for the jobs this Graft knows.");
      }
      Map<String, String> spec;
      try {
        spec = Properties.read(dir.resolve("job.properties"));
      } catch (IOException e) {
        throw new UncheckedIOException(
            "Could not read " + dir.resolve("job.properties") + ": " + e.getMessage(), e);
      }
      JobSpec checked = JobSpec.parse(spec, methods);
      job =
          job(
              id,
              spec,
              checked,
              backends.requireAvailable(checked.job().getString("backend")),
              dir);
    } else if (!job.status().state().isFinal()) {
      throw new IllegalStateException(
          "Job "
              + id
              + " is "
              + job.status().state().name().toLowerCase()
              + "; only a stopped job can be resumed.");
    }
    if (job.latestCheckpoint().isEmpty()) {
      throw new IllegalStateException(
          "Job " + id + " has no checkpoint to resume from; submit it again.");
    }
    job.requeue();
    executor.submit(job);
    return job;
  }
}
