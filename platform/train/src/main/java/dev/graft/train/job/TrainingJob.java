package dev.graft.train.job;

import dev.graft.api.Options;
import dev.graft.api.progress.Progress;
import dev.graft.api.progress.ProgressEvent;
import dev.graft.api.progress.ProgressListener;
import dev.graft.api.train.Job;
import dev.graft.api.train.JobState;
import dev.graft.api.train.JobStatus;
import dev.graft.model.AtomicFiles;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Supplier;
import java.util.stream.Stream;

/**
 * One training job: drives its {@link Run} step by step on the calling thread, writes metrics, a
 * report and checkpoints (every {@code save_steps}, at a cancel and at the end), keeps its {@link
 * JobRecord} current, and publishes events. A cancelled job also writes its result so far (the
 * adapter); a cancelled or failed job keeps its newest checkpoint and can be resumed. Between steps
 * it looks for the control file {@value #CANCEL_FILE}, through which another process cancels it.
 */
public final class TrainingJob implements Job, Runnable {
  /** The control file that asks the job, from any process, to stop after its current step. */
  public static final String CANCEL_FILE = "cancel";

  /** The stop reason of a cancel, in this process or through {@value #CANCEL_FILE}. */
  private static final String CANCELLED = "Cancelled on request.";

  private final String id;
  private final Map<String, String> spec;
  private final Path outputDir;
  private final Supplier<Run> runs;
  private final long saveSteps;
  private final Validation validation;
  private final JobEvents events;
  private final Checkpoints checkpoints;
  private volatile JobStatus status;
  private volatile String stopReason;
  private volatile ProgressEvent activity;
  private final CopyOnWriteArrayList<String> notes = new CopyOnWriteArrayList<>();

  /** A job that validates at the end only, when its run has validation samples. */
  public TrainingJob(
      String id,
      Map<String, String> spec,
      Path outputDir,
      long saveSteps,
      Supplier<Run> runs,
      JobEvents events) {
    this(id, spec, outputDir, saveSteps, Validation.AT_END, runs, events);
  }

  /** A job that validates as {@code validation} says, when its run has validation samples. */
  public TrainingJob(
      String id,
      Map<String, String> spec,
      Path outputDir,
      long saveSteps,
      Validation validation,
      Supplier<Run> runs,
      JobEvents events) {
    this.id = id;
    this.spec = Map.copyOf(spec);
    this.outputDir = outputDir;
    this.saveSteps = saveSteps;
    this.validation = validation;
    this.runs = runs;
    this.events = events;
    this.checkpoints = new Checkpoints(outputDir);
    this.status = new JobStatus(JobState.QUEUED, 0, 0, Double.NaN, 0, "");
  }

  /**
   * When and how a job validates, from its job keys ({@link JobKeys}).
   *
   * @param evalSteps evaluate every this many steps and at the end; 0 at the end only
   * @param saveBest keep the result with the lowest {@code eval_loss} in {@value #BEST}, and its
   *     checkpoint past rotation
   * @param patience stop after this many evaluations in a row without a better loss; 0 never
   * @param threshold how far below the best so far a loss must fall to count as better
   */
  public record Validation(long evalSteps, boolean saveBest, int patience, double threshold) {
    /** At the end only; no best result kept, no early stop. */
    public static final Validation AT_END = new Validation(0, false, 0, 0);

    /** The job's {@code eval_steps}, {@code save_best} and {@code early_stopping_*} keys. */
    public static Validation of(Options job) {
      return new Validation(
          job.getInt("eval_steps"),
          job.getBoolean("save_best"),
          job.getInt("early_stopping_patience"),
          job.getDouble("early_stopping_threshold"));
    }

    /** Whether the job evaluates after step {@code done} of {@code total}. */
    boolean due(long done, long total) {
      return done == total || (evalSteps > 0 && done % evalSteps == 0);
    }
  }

  /** The metrics column, and progress-event property, of the validation loss. */
  public static final String EVAL_LOSS = "eval_loss";

  /** The folder that holds the result with the lowest {@code eval_loss} ({@code save_best}). */
  public static final String BEST = "best";

  /** The file in {@value #BEST} that records its step and {@code eval_loss}. */
  public static final String BEST_FILE = "best.json";

  /** Where an evaluation writes the result it evaluates, removed after it. */
  private static final String EVALUATED = ".evaluated";

  @Override
  public String id() {
    return id;
  }

  @Override
  public Map<String, String> spec() {
    return spec;
  }

  @Override
  public JobStatus status() {
    return status;
  }

  @Override
  public List<String> notes() {
    return List.copyOf(notes);
  }

  @Override
  public Optional<ProgressEvent> activity() {
    return Optional.ofNullable(activity);
  }

  @Override
  public Path outputDirectory() {
    return outputDir;
  }

  @Override
  public void cancel() {
    stop(CANCELLED);
  }

  /** Stops the job after the current step with a checkpoint; {@code reason} becomes its message. */
  public void stop(String reason) {
    stopReason = reason;
  }

  /** The newest checkpoint, for resuming. */
  public Optional<Path> latestCheckpoint() {
    return checkpoints.latest();
  }

  /** The newest checkpoint in a job folder, for resuming. */
  public static Optional<Path> latestCheckpoint(Path outputDir) {
    return new Checkpoints(outputDir).latest();
  }

  /** Marks the job queued again before a resume. */
  public void requeue() {
    stopReason = null;
    status =
        new JobStatus(JobState.QUEUED, status.step(), status.totalSteps(), status.loss(), 0, "");
  }

  @Override
  public void run() {
    // The long work of the run (loading, starting sessions, validation) is the job's activity;
    // what the run notes (samples cut, parameters trained) are its notes.
    ProgressListener listener =
        new ProgressListener() {
          @Override
          public void progress(ProgressEvent event) {
            activity = event.finished() ? null : event;
          }

          @Override
          public void note(String sentence) {
            if (notes.addIfAbsent(sentence)) {
              publish("NOTE", Map.of(), Map.of("note", sentence));
              try {
                JobNotes.append(outputDir, sentence);
              } catch (UncheckedIOException e) {
                // the note stays in notes() and the event stream; the folder's failure shows later
              }
            }
          }
        };
    notes.addAllAbsent(JobNotes.read(outputDir)); // a resumed job's earlier notes, said once
    Ending end = Progress.reportingTo(listener, this::train);
    finishAs(end.state(), end.done(), end.total(), end.message(), end.metrics());
  }

  /** How a run ended, announced once its sessions are closed. */
  private record Ending(JobState state, long done, long total, String message, Metrics metrics) {}

  /** Trains to the end, a stop or a failure; the run (its sessions) is closed when this returns. */
  private Ending train() {
    long done = 0;
    long total = 0;
    Metrics metrics = null;
    try (Run run = runs.get()) {
      total = run.totalSteps();
      Optional<Path> resumeFrom = checkpoints.latest();
      if (resumeFrom.isPresent()) {
        done = run.restore(resumeFrom.get());
      }
      List<String> columns = new ArrayList<>(run.metricNames());
      if (run.evaluates()) {
        columns.add(EVAL_LOSS);
      }
      metrics = new Metrics(outputDir.resolve("metrics.csv"), done, columns);
      // A resumed job goes on from the evaluations its kept rows record.
      Best best = new Best(validation.threshold());
      int evalColumn = columns.indexOf(EVAL_LOSS);
      for (Metrics.Row row : evalColumn < 0 ? List.<Metrics.Row>of() : metrics.rows()) {
        if (!Double.isNaN(row.extra()[evalColumn])) {
          best.offer(row.step(), row.extra()[evalColumn]);
        }
      }
      if (validation.saveBest() && best.step > 0) {
        checkpoints.keep(best.step);
      }
      update(JobState.RUNNING, done, total, Double.NaN, 0, "");
      publish("STARTED");
      long started = System.nanoTime();
      long tokens = 0;
      double elapsedBefore =
          metrics.rows().isEmpty()
              ? 0
              : metrics.rows().get(metrics.rows().size() - 1).elapsedSeconds();
      while (done < total) {
        Path control = outputDir.resolve(CANCEL_FILE);
        if (stopReason == null && Files.exists(control)) {
          stopReason = CANCELLED;
        }
        if (stopReason != null) {
          saveCheckpoint(run, done);
          String unsaved = finishQuietly(run);
          Files.deleteIfExists(control);
          return new Ending(
              JobState.CANCELLED,
              done,
              total,
              stopReason + unsaved + " Resume with 'graft:resume " + id + "'.",
              metrics);
        }
        Run.StepResult r = run.step(done);
        if (!r.nonFinite().isEmpty() && !r.skipped()) {
          String kept =
              checkpoints
                  .latest()
                  .map(c -> "the checkpoint after step " + Checkpoints.steps(c) + " is kept")
                  .orElse("no checkpoint was written yet");
          return new Ending(
              JobState.FAILED,
              done,
              total,
              "The "
                  + r.nonFinite()
                  + " at step "
                  + (done + 1)
                  + "; "
                  + kept
                  + ". Lower learning_rate or check the data; skip_nonfinite_steps=N skips up"
                  + " to N such steps.",
              metrics);
        }
        done++;
        tokens += r.tokens();
        Map<String, Double> reported = new LinkedHashMap<>(r.metrics());
        boolean improved = false;
        if (run.evaluates() && validation.due(done, total)) {
          double evalLoss = evaluate(run, done, best);
          reported.put(EVAL_LOSS, evalLoss);
          improved = best.step == done;
        }
        double seconds = (System.nanoTime() - started) / 1e9;
        double tps = seconds > 0 ? tokens / seconds : 0;
        metrics.add(
            new Metrics.Row(
                done,
                r.loss(),
                r.learningRate(),
                r.gradNorm(),
                r.tokens(),
                tps,
                elapsedBefore + seconds,
                metrics.names().stream()
                    .mapToDouble(n -> reported.getOrDefault(n, Double.NaN))
                    .toArray()));
        update(
            JobState.RUNNING,
            done,
            total,
            r.loss(),
            tps,
            r.skipped() ? "Step " + done + " was skipped: its " + r.nonFinite() + "." : "");
        publish("PROGRESS", reported);
        if (validation.patience() > 0 && best.since >= validation.patience() && done < total) {
          saveCheckpoint(run, done);
          run.finish(outputDir);
          return new Ending(JobState.COMPLETED, done, total, stoppedEarly(done, best), metrics);
        }
        boolean periodic = saveSteps > 0 && done % saveSteps == 0;
        if ((periodic || (improved && validation.saveBest())) && done < total) {
          saveCheckpoint(run, done);
        }
      }
      saveCheckpoint(run, done);
      run.finish(outputDir);
      return new Ending(JobState.COMPLETED, done, total, "", metrics);
    } catch (RuntimeException | IOException e) {
      String message = e.getMessage() == null ? e.toString() : e.getMessage();
      return new Ending(JobState.FAILED, done, total, message, metrics);
    }
  }

  /**
   * Evaluates the result after step {@code done} and offers its loss to {@code best}; with {@code
   * save_best} a better result replaces {@value #BEST}, with {@value #BEST_FILE} beside it, and its
   * checkpoint (written after this returns) outlives rotation.
   */
  private double evaluate(Run run, long done, Best best) throws IOException {
    Path evaluated = outputDir.resolve(EVALUATED);
    AtomicFiles.deleteTree(evaluated);
    Files.createDirectories(evaluated);
    try {
      double loss = run.evaluate(evaluated);
      if (best.offer(done, loss) && validation.saveBest()) {
        Files.writeString(
            evaluated.resolve(BEST_FILE),
            String.format(Locale.ROOT, "{\"step\": %d, \"eval_loss\": %.6f}%n", done, loss));
        AtomicFiles.replaceFolder(
            outputDir.resolve(BEST),
            into -> {
              try (Stream<Path> files = Files.list(evaluated)) {
                for (Path f : files.toList()) {
                  Files.move(f, into.resolve(f.getFileName()));
                }
              }
            });
        checkpoints.keep(done);
      }
      return loss;
    } finally {
      AtomicFiles.deleteTree(evaluated);
    }
  }

  /** The reason an early stop gives, in the job's final message. */
  private String stoppedEarly(long done, Best best) {
    return String.format(
        Locale.ROOT,
        "Stopped early after step %d: eval_loss has not fallen more than %s below its best, %.4f"
            + " at step %d, in %d evaluation%s (early_stopping_patience=%d).%s",
        done,
        validation.threshold(),
        best.loss,
        best.step,
        best.since,
        best.since == 1 ? "" : "s",
        validation.patience(),
        validation.saveBest() ? " The best result is in " + outputDir.resolve(BEST) + "." : "");
  }

  /**
   * The lowest validation loss so far and the evaluations since it, as Hugging Face's {@code
   * EarlyStoppingCallback} counts them: a loss counts as better when it lies more than the
   * threshold below the best.
   */
  private static final class Best {
    private final double threshold;
    private double loss = Double.POSITIVE_INFINITY;
    private long step;
    private int since;

    Best(double threshold) {
      this.threshold = threshold;
    }

    /** Records the loss after step {@code done}; true when it is the new best. */
    boolean offer(long done, double value) {
      // The first finite loss is below infinity less any threshold: the first best.
      if (value < loss - threshold) {
        loss = value;
        step = done;
        since = 0;
        return true;
      }
      since++;
      return false;
    }
  }

  /**
   * Writes the result of the steps done so far (a cancelled job's adapter); a failure to do so does
   * not fail the job, whose checkpoint is written. Returns a sentence to add when it failed.
   */
  private String finishQuietly(Run run) {
    try {
      run.finish(outputDir);
      return "";
    } catch (RuntimeException e) {
      return " Its result so far could not be written (" + e.getMessage() + ").";
    }
  }

  private void saveCheckpoint(Run run, long done) {
    checkpoints.save(done, dir -> run.saveCheckpoint(dir, done));
  }

  /** Writes the report first, so that whoever sees the final state also finds the report. */
  private void finishAs(JobState state, long done, long total, String message, Metrics metrics) {
    JobStatus last = status;
    JobStatus end = new JobStatus(state, done, total, last.loss(), last.tokensPerSecond(), message);
    if (metrics != null) {
      try {
        Report.write(
            outputDir.resolve("report.html"),
            id,
            spec,
            metrics.names(),
            metrics.rows(),
            end,
            List.copyOf(notes));
        if (state == JobState.COMPLETED && !"false".equalsIgnoreCase(spec.get("report_png"))) {
          screenshot(outputDir.resolve("report.html"), outputDir.resolve("report.png"));
        }
      } catch (UncheckedIOException e) {
        end =
            new JobStatus(
                state,
                done,
                total,
                last.loss(),
                last.tokensPerSecond(),
                (message + " " + e.getMessage()).trim());
      }
    }
    status = end;
    try {
      JobRecord.ofThisProcess(end).write(outputDir);
    } catch (UncheckedIOException e) {
      // The report and the in-process status still say how it ended.
    }
    publish(state.name());
  }

  /** report.png is a convenience: without a browser, or when it fails, there is none. */
  private static void screenshot(Path html, Path png) {
    Chromium.find()
        .ifPresent(
            browser -> {
              try {
                browser.screenshot(html, png);
              } catch (IOException e) {
                // report.html is the report; the picture is optional.
              }
            });
  }

  private void update(
      JobState state, long step, long total, double loss, double tps, String message) {
    status = new JobStatus(state, step, total, loss, tps, message);
    JobRecord.ofThisProcess(status).write(outputDir);
  }

  private void publish(String suffix) {
    publish(suffix, Map.of());
  }

  /**
   * Posts the job's status under {@code TOPIC + suffix}, with the objective's {@code metrics} of
   * the step as properties of their own names (e.g. {@code rewards/margins}).
   */
  private void publish(String suffix, Map<String, Double> metrics) {
    publish(suffix, metrics, Map.of());
  }

  /** Posts the job's status with {@code metrics} and further {@code text} properties. */
  private void publish(String suffix, Map<String, Double> metrics, Map<String, String> text) {
    JobStatus s = status;
    Map<String, Object> properties = new LinkedHashMap<>();
    properties.put("id", id);
    properties.put("state", s.state().name());
    properties.put("step", s.step());
    properties.put("total_steps", s.totalSteps());
    properties.put("loss", s.loss());
    properties.put("tokens_per_second", s.tokensPerSecond());
    properties.put("message", s.message());
    properties.putAll(metrics);
    properties.putAll(text);
    events.publish(JobEvents.TOPIC + suffix, properties);
  }
}
