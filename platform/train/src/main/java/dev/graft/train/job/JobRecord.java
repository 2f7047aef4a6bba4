package dev.graft.train.job;

import dev.graft.api.train.JobState;
import dev.graft.api.train.JobStatus;
import dev.graft.model.AtomicFiles;
import java.io.IOException;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Locale;
import java.util.Optional;
import java.util.Properties;

/**
 * A job's {@code status.properties}: its latest {@link JobStatus} and the process that owns it (pid
 * and start time), so that any process of the same Graft home can show the job. A queued or running
 * job whose process has ended reads as failed. Written under a temporary name and renamed, so that
 * a reader never sees half a file.
 *
 * @param status the state as last written
 * @param pid the owning process, or -1 when unknown
 * @param started when that process started (its {@link ProcessHandle.Info#startInstant()}), or
 *     empty when unknown
 */
public record JobRecord(JobStatus status, long pid, String started) {
  /** The file in a job's folder. */
  public static final String FILE = "status.properties";

  /** This process's start time, read once: a running job writes its record at every step. */
  private static final String SELF_STARTED = startOf(ProcessHandle.current());

  /** The record of {@code status} owned by {@code owner}. */
  public static JobRecord of(JobStatus status, ProcessHandle owner) {
    return new JobRecord(status, owner.pid(), startOf(owner));
  }

  /** The record of {@code status} owned by this process. */
  public static JobRecord ofThisProcess(JobStatus status) {
    return new JobRecord(status, ProcessHandle.current().pid(), SELF_STARTED);
  }

  private static String startOf(ProcessHandle process) {
    return process.info().startInstant().map(Instant::toString).orElse("");
  }

  /** Whether the owning process still runs (the same process: pid and start time agree). */
  public boolean ownerAlive() {
    return pid > 0
        && ProcessHandle.of(pid)
            .filter(ProcessHandle::isAlive)
            .filter(p -> started.isEmpty() || startOf(p).equals(started))
            .isPresent();
  }

  /**
   * The status as a reader should see it: a queued or running job whose process has ended failed
   * (it can be resumed from its newest checkpoint).
   */
  public JobStatus current(String id) {
    if (status.state().isFinal() || ownerAlive()) {
      return status;
    }
    return new JobStatus(
        JobState.FAILED,
        status.step(),
        status.totalSteps(),
        status.loss(),
        0,
        "The process that ran it (pid "
            + pid
            + ") ended before the job did; resume it with 'graft:resume "
            + id
            + "'.");
  }

  /** Writes the record into {@code dir}, replacing the one there. */
  public void write(Path dir) {

    Properties p = new Properties();
    p.setProperty("state", status.state().name().toLowerCase(Locale.ROOT));
    p.setProperty("step", Long.toString(status.step()));
    p.setProperty("total_steps", Long.toString(status.totalSteps()));
    p.setProperty("loss", Double.toString(status.loss()));
    p.setProperty("tokens_per_second", Double.toString(status.tokensPerSecond()));
    p.setProperty("message", status.message());
    p.setProperty("pid", Long.toString(pid));
    p.setProperty("started", started);
    Path target = dir.resolve(FILE);
    try {
      AtomicFiles.writeFile(
          target,
          temp -> {
            try (Writer out = Files.newBufferedWriter(temp, StandardCharsets.UTF_8)) {
              p.store(out, "Graft job status");
            }
          });
    } catch (IOException e) {
      throw new UncheckedIOException("Could not write " + target + ": " + e.getMessage(), e);
    }
  }

  /**
   * Writes the record into {@code dir} unless the one there belongs to another process: a process
   * that hands the job to another, which may have written its own record first.
   */
  public void writeUnlessTakenOver(Path dir) {
    Optional<JobRecord> current = read(dir);
    if (current.isEmpty() || current.get().pid() == ProcessHandle.current().pid()) {
      write(dir);
    }
  }

  /** The record in {@code dir}, if the job has one. */
  public static Optional<JobRecord> read(Path dir) {
    Properties p = new Properties();
    try (Reader in = Files.newBufferedReader(dir.resolve(FILE), StandardCharsets.UTF_8)) {
      p.load(in);
    } catch (NoSuchFileException e) {
      return Optional.empty();
    } catch (IOException e) {
      throw new UncheckedIOException(
          "Could not read " + dir.resolve(FILE) + ": " + e.getMessage(), e);
    }
    JobStatus status =
        new JobStatus(
            JobState.valueOf(p.getProperty("state", "failed").toUpperCase(Locale.ROOT)),
            Long.parseLong(p.getProperty("step", "0")),
            Long.parseLong(p.getProperty("total_steps", "0")),
            Double.parseDouble(p.getProperty("loss", "NaN")),
            Double.parseDouble(p.getProperty("tokens_per_second", "0")),
            p.getProperty("message", ""));
    return Optional.of(
        new JobRecord(
            status, Long.parseLong(p.getProperty("pid", "-1")), p.getProperty("started", "")));
  }
}
