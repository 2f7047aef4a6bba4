package dev.graft.train.job;

import dev.graft.api.train.Job;
import dev.graft.api.train.JobState;
import dev.graft.api.train.JobStatus;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * A job known from its folder alone: one that another process runs or ran. Its status is read from
 * the folder at each call ({@link JobRecord}; for a folder written before Graft kept records, from
 * its metrics and result), and cancelling it writes the control file {@value
 * TrainingJob#CANCEL_FILE} that the running job looks for between steps.
 */
public final class StoredJob implements Job {
  private final String id;
  private final Path dir;
  private final Map<String, String> spec;

  /**
   * @param id the job's id
   * @param dir its folder
   * @param spec its specification, as its {@code job.properties} holds it
   */
  public StoredJob(String id, Path dir, Map<String, String> spec) {
    this.id = id;
    this.dir = dir;
    this.spec = Map.copyOf(spec);
  }

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
    return JobRecord.read(dir).map(r -> r.current(id)).orElseGet(this::fromFiles);
  }

  /** The status of a folder without a record: completed if it holds a result, else failed. */
  private JobStatus fromFiles() {
    Metrics.Row last = Metrics.last(dir.resolve("metrics.csv")).orElse(null);
    long steps = last == null ? 0 : last.step();
    long planned;
    try {
      planned = Long.parseLong(spec.getOrDefault("max_steps", "-1").trim());
    } catch (NumberFormatException e) {
      planned = -1;
    }
    boolean result =
        Files.isDirectory(dir.resolve("adapter")) || Files.isDirectory(dir.resolve("model"));
    return new JobStatus(
        result ? JobState.COMPLETED : JobState.FAILED,
        steps,
        Math.max(planned, steps),
        last == null ? Double.NaN : last.loss(),
        0,
        result
            ? ""
            : "It left no record of how it ended; resume it with 'graft:resume " + id + "'.");
  }

  /** The notes its runs kept in {@value JobNotes#FILE}. */
  @Override
  public List<String> notes() {
    return JobNotes.read(dir);
  }

  @Override
  public Path outputDirectory() {
    return dir;
  }

  @Override
  public void cancel() {
    try {
      Files.writeString(dir.resolve(TrainingJob.CANCEL_FILE), "");
    } catch (IOException e) {
      throw new UncheckedIOException(
          "Could not ask job " + id + " to stop (" + e.getMessage() + ").", e);
    }
  }
}
