package dev.graft.shell;

import dev.graft.api.train.Job;
import dev.graft.api.train.JobState;
import dev.graft.api.train.JobStatus;
import java.io.PrintStream;

/**
 * Follows a job in the shell: a progress line every {@code logging_steps} steps (and at its last
 * step), then its summary. A job that does not complete makes the command fail with the job's one
 * sentence. An interrupt (Ctrl-C) cancels a job the command started, waits for its checkpoint and
 * fails with {@link Interrupted}; a job it only watches keeps running.
 */
final class Follow {
  private static final long POLL_MS = 200;

  private final Job job;
  private final PrintStream out;
  private final long every;
  private long shown = -1;
  private long firstStep = -1;
  private long started = System.nanoTime();

  Follow(Job job, PrintStream out) {
    this.job = job;
    this.out = out;
    this.every = loggingSteps(job);
  }

  /**
   * Prints progress until the job ends and returns its summary.
   *
   * @param owned whether an interrupt cancels the job (the command started it) or only stops
   *     following it
   * @throws IllegalStateException with the job's message when it failed or was cancelled
   * @throws Interrupted when interrupted
   */
  String run(boolean owned) {
    try (Interrupts.Target target = Interrupts.target()) {
      return follow(owned);
    }
  }

  private String follow(boolean owned) {
    JobStatus s;
    try {
      while (!(s = show()).state().isFinal()) {
        Thread.sleep(POLL_MS);
      }
    } catch (InterruptedException e) {
      if (!owned) {
        throw new Interrupted(
            "Stopped following job " + job.id() + "; it keeps running (see 'graft:jobs').");
      }
      job.cancel();
      s = awaitEnd();
      out.print(Progress.heading(job));
      throw new Interrupted(
          s.state() == JobState.CANCELLED
              ? "Interrupted: job "
                  + job.id()
                  + " stopped after step "
                  + s.step()
                  + " with a checkpoint; resume it with 'graft:resume "
                  + job.id()
                  + "'."
              : "Interrupted: job " + job.id() + " " + Progress.state(s) + ". " + s.message());
    }
    if (s.state() == JobState.COMPLETED) {
      return Progress.summary(job);
    }
    out.print(Progress.heading(job));
    throw new IllegalStateException(s.message());
  }

  /** Waits for the end of a cancelled job, through further interrupts. */
  private JobStatus awaitEnd() {
    boolean interrupted = false;
    JobStatus s;
    while (!(s = show()).state().isFinal()) {
      try {
        Thread.sleep(POLL_MS);
      } catch (InterruptedException again) {
        interrupted = true;
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
    return s;
  }

  /** Reads the status, prints a progress line when one is due, and returns the status. */
  JobStatus show() {
    JobStatus s = job.status();
    if (s.totalSteps() > 0
        && s.step() != shown
        && (s.step() % every == 0 || s.step() == s.totalSteps() || s.state().isFinal())) {
      if (firstStep < 0) {
        firstStep = s.step();
        started = System.nanoTime();
      }
      double perStep = (System.nanoTime() - started) / 1e9 / Math.max(1, s.step() - firstStep);
      double eta = s.step() > firstStep ? perStep * (s.totalSteps() - s.step()) : Double.NaN;
      out.println(Progress.line(s, eta));
      out.flush();
      shown = s.step();
    }
    return s;
  }

  /** The job's {@code logging_steps}; 1 when it sets none. */
  private static long loggingSteps(Job job) {
    try {
      return Math.max(1, Long.parseLong(job.spec().getOrDefault("logging_steps", "1").trim()));
    } catch (NumberFormatException e) {
      return 1;
    }
  }
}
