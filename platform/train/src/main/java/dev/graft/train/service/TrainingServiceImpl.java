package dev.graft.train.service;

import dev.graft.api.FineTuningMethod;
import dev.graft.api.MethodRegistry;
import dev.graft.api.OptionDescriptor;
import dev.graft.api.Suggestions;
import dev.graft.api.backend.BackendRegistry;
import dev.graft.api.backend.ComputeBackend;
import dev.graft.api.progress.Progress;
import dev.graft.api.train.Job;
import dev.graft.api.train.JobState;
import dev.graft.api.train.JobStatus;
import dev.graft.api.train.TrainingService;
import dev.graft.train.job.JobFiles;
import dev.graft.train.job.JobKeys;
import dev.graft.train.job.JobRecord;
import dev.graft.train.job.JobSpec;
import dev.graft.train.job.StoredJob;
import dev.graft.train.job.TrainingJob;
import dev.graft.train.run.SftRun;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
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
 * Runs training jobs one at a time on a background thread, or each in a background process of its
 * own (where the framework property {@code graft.launcher} names the launcher). Jobs live in {@code
 * <graft.home>/jobs/<id>} (or their {@code output_dir}, linked from there) with their specification
 * and status, so that every process of the same home lists, shows, cancels and resumes them. When a
 * method or the compute backend a running job uses goes away, the job stops with a checkpoint and
 * says why; a job (re)started later looks its backend up again, so it runs on the current one.
 */
@Component(service = TrainingService.class)
public final class TrainingServiceImpl implements TrainingService {
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
  private final Map<String, String> backendOfJob =
      Collections.synchronizedMap(new LinkedHashMap<>());
  private ExecutorService executor;
  private JobFolders folders;

  /** How jobs are started in background processes; null where Graft has no launcher. */
  private Background background;

  @Activate
  void activate(BundleContext context) {
    String configured = context.getProperty("graft.home");
    Path home =
        Path.of(configured == null ? System.getProperty("user.dir") + "/.graft" : configured)
            .toAbsolutePath();
    String launcher = context.getProperty("graft.launcher");
    start(
        home,
        launcher == null || launcher.isBlank()
            ? null
            : new Background(launcher, home, context.getProperty("felix.fileinstall.dir")));
  }

  /**
   * Starts the service outside a framework, as the entry point of {@code graft:train} sees it: jobs
   * under {@code home}, run on a background thread of this process.
   */
  public static TrainingServiceImpl standalone(
      MethodRegistry methods, BackendRegistry backends, Path home) {
    TrainingServiceImpl service = new TrainingServiceImpl();
    service.methods = methods;
    service.backends = backends;
    service.start(home.toAbsolutePath(), null);
    return service;
  }

  private void start(Path home, Background background) {
    folders = new JobFolders(home.resolve("jobs"));
    this.background = background;
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
    stopJobsUsing(
        "Method \"" + name + "\"", id -> methodsOfJob.getOrDefault(id, List.of()).contains(name));
  }

  /** Stops the running jobs on a backend whose service goes away. */
  @Reference(
      service = ComputeBackend.class,
      cardinality = ReferenceCardinality.MULTIPLE,
      policy = ReferencePolicy.DYNAMIC,
      policyOption = ReferencePolicyOption.GREEDY)
  void addBackend(ServiceReference<ComputeBackend> ref) {}

  void removeBackend(ServiceReference<ComputeBackend> ref) {
    Object name = ref.getProperty(ComputeBackend.NAME);
    stopJobsUsing("Backend \"" + name + "\"", id -> name.equals(backendOfJob.get(id)));
  }

  private void stopJobsUsing(String what, Predicate<String> uses) {
    synchronized (jobs) {
      jobs.forEach(
          (id, job) -> {
            if (!job.status().state().isFinal() && uses.test(id)) {
              job.stop(what + " went away (its bundle was stopped, updated or uninstalled).");
            }
          });
    }
  }

  @Override
  public Job submit(Path jobFile, Map<String, String> overrides) {
    return submit(read(jobFile, overrides));
  }

  @Override
  public Job submit(Map<String, String> spec) {
    Prepared p = prepare(spec);
    TrainingJob job = job(p.created().id(), spec, p.checked(), p.backend(), p.created().dir());
    JobRecord.ofThisProcess(job.status()).write(p.created().dir());
    executor.submit(job);
    return job;
  }

  @Override
  public Job submitInBackground(Path jobFile, Map<String, String> overrides) {
    Map<String, String> spec = read(jobFile, overrides);
    if (background == null) {
      return submit(spec);
    }
    JobFolders.Created created = prepare(spec).created();
    Process process = background.start(created.id(), created.dir());
    // The background process writes its own record once it runs the job; until then it is queued.
    JobRecord.of(new JobStatus(JobState.QUEUED, 0, 0, Double.NaN, 0, ""), process.toHandle())
        .writeUnlessTakenOver(created.dir());
    return new StoredJob(created.id(), created.dir(), spec);
  }

  private static Map<String, String> read(Path jobFile, Map<String, String> overrides) {
    Map<String, String> spec = new LinkedHashMap<>(JobFiles.read(jobFile));
    spec.putAll(overrides);
    return spec;
  }

  /** A checked specification whose folder is written. */
  private record Prepared(JobSpec checked, ComputeBackend backend, JobFolders.Created created) {}

  private Prepared prepare(Map<String, String> spec) {
    JobSpec checked = JobSpec.parse(spec, methods);
    ComputeBackend backend = backends.requireAvailable(checked.job().getString("backend"));
    Preflight.check(checked, methods);
    String out = checked.job().has("output_dir") ? checked.job().getString("output_dir") : "";
    return new Prepared(
        checked, backend, folders.create(out.isEmpty() ? null : Path.of(out), spec));
  }

  private TrainingJob job(
      String id, Map<String, String> spec, JobSpec checked, ComputeBackend backend, Path dir) {
    TrainingJob job =
        new TrainingJob(
            id,
            spec,
            dir,
            checked.job().getInt("save_steps"),
            TrainingJob.Validation.of(checked.job()),
            () ->
                new SftRun(
                    checked, methods, backends.requireAvailable(backend.name()), Progress::note),
            (topic, properties) -> {
              EventAdmin admin = events;
              if (admin != null) {
                admin.postEvent(new Event(topic, properties));
              }
            });
    jobs.put(id, job);
    methodsOfJob.put(id, List.copyOf(checked.methods().keySet()));
    backendOfJob.put(id, backend.name());
    return job;
  }

  @Override
  public List<OptionDescriptor> jobKeys() {
    return JobKeys.ALL;
  }

  @Override
  public List<Job> jobs() {
    Map<String, Job> all = new TreeMap<>(JobFolders.NEWEST_FIRST);
    for (String id : folders.ids()) {
      folders.find(id).ifPresent(dir -> all.put(id, stored(id, dir)));
    }
    synchronized (jobs) {
      all.putAll(jobs);
    }
    return List.copyOf(all.values());
  }

  @Override
  public Optional<Job> job(String id) {
    TrainingJob job = jobs.get(id);
    return job != null ? Optional.of(job) : folders.find(id).map(dir -> stored(id, dir));
  }

  private static Job stored(String id, Path dir) {
    return new StoredJob(id, dir, JobFolders.spec(dir));
  }

  @Override
  public Job resume(String id) {
    TrainingJob job = jobs.get(id);
    if (job == null) {
      Path dir = resumable(id);
      Map<String, String> spec = JobFolders.spec(dir);
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
              + job.status().state().name().toLowerCase(Locale.ROOT)
              + "; only a stopped job can be resumed.");
    } else {
      requireCheckpoint(id, job.outputDirectory());
    }
    // Queued in this process, at the step it stopped at (a job read from disk starts at 0).
    JobStatus before =
        JobRecord.read(job.outputDirectory()).map(JobRecord::status).orElse(job.status());
    job.requeue();
    JobRecord.ofThisProcess(
            new JobStatus(
                JobState.QUEUED, before.step(), before.totalSteps(), before.loss(), 0, ""))
        .write(job.outputDirectory());
    executor.submit(job);
    return job;
  }

  @Override
  public Job resumeInBackground(String id) {
    if (background == null || jobs.containsKey(id)) {
      return resume(id);
    }
    Path dir = resumable(id);
    background.start(id, dir);
    return stored(id, dir);
  }

  /**
   * The folder of a job on disk that may be resumed: not running in another process, and with a
   * checkpoint unless it never started (a job queued for a background process). A stale request to
   * cancel a stopped job is dropped.
   */
  private Path resumable(String id) {
    Path dir =
        folders
            .find(id)
            .orElseThrow(
                () ->
                    new IllegalArgumentException(
                        Suggestions.unknown(
                            "job", id, folders.ids(), "Known", "See 'graft:jobs'.")));
    Optional<JobRecord> record = JobRecord.read(dir);
    JobState state = record.map(r -> r.status().state()).orElse(JobState.QUEUED);
    if (state == JobState.RUNNING && record.get().ownerAlive()) {
      throw new IllegalStateException(
          "Job "
              + id
              + " is running in another process (pid "
              + record.get().pid()
              + "); cancel it with 'graft:cancel "
              + id
              + "' before resuming it.");
    }
    if (state != JobState.QUEUED) {
      requireCheckpoint(id, dir);
      try {
        Files.deleteIfExists(dir.resolve(TrainingJob.CANCEL_FILE));
      } catch (IOException e) {
        throw new UncheckedIOException(
            "Could not remove " + dir.resolve(TrainingJob.CANCEL_FILE) + ": " + e.getMessage(), e);
      }
    }
    return dir;
  }

  private static void requireCheckpoint(String id, Path dir) {
    if (TrainingJob.latestCheckpoint(dir).isEmpty()) {
      throw new IllegalStateException(
          "Job " + id + " has no checkpoint to resume from; submit it again.");
    }
  }
}
