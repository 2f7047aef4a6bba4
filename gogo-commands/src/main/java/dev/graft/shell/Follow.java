package dev.graft.shell;

import dev.graft.api.progress.ProgressEvent;
import dev.graft.api.train.Job;
import dev.graft.api.train.JobState;
import dev.graft.api.train.JobStatus;
import java.io.PrintStream;
import java.util.List;

/**
 * Follows a job in the shell: a progress line every {@code logging_steps} steps (and at its last
 * step), then its summary. On a terminal the line between those also updates in place at every
 * step, and the job's {@link Job#activity} (loading, starting sessions, validation) shows as a
 * {@link ProgressLine}. A job that does not complete makes the command fail with the job's one
 * sentence. An interrupt (Ctrl-C) cancels a job the command started, waits for its checkpoint and
 * fails with {@link Interrupted}; a job it only watches keeps running.
 */
final class Follow {
  private static final long POLL_MS = 200;

  private final Job job;
  private final PrintStream out;
  private final PrintStream err;
  private final boolean terminal;
  private final long every;
  private final ProgressLine activityLine;
  private ProgressEvent activity;
  private int notesShown;
  private long shown = -1;
  private long drawn = -1;
  private long firstStep = -1;
  private long started = System.nanoTime();

  /** Follows with plain lines, as for output that is not a terminal; notes go to {@code out}. */
  Follow(Job job, PrintStream out) {
    this(job, out, out, false);
  }

  /**
   * @param out where progress and the summary go
   * @param err where the job's notes go
   * @param terminal whether {@code out} is a terminal
   */
  Follow(Job job, PrintStream out, PrintStream err, boolean terminal) {
    this.job = job;
    this.out = out;
    this.err = err;
    this.terminal = terminal;
    this.every = loggingSteps(job);
    this.activityLine = new ProgressLine(out, terminal);
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
      endLine();
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
    endLine();
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

  /**
   * Reads the status, prints a progress line when one is due (on a terminal, redraws it in place at
   * every new step), and returns the status.
   */
  JobStatus show() {
    JobStatus s = job.status();
    showNotes();
    showActivity(job.activity().orElse(null));
    if (s.totalSteps() > 0 && s.step() != shown && s.step() != drawn) {
      if (firstStep < 0) {
        firstStep = s.step();
        started = System.nanoTime();
      }
      double perStep = (System.nanoTime() - started) / 1e9 / Math.max(1, s.step() - firstStep);
      double eta = s.step() > firstStep ? perStep * (s.totalSteps() - s.step()) : Double.NaN;
      String line = Progress.line(s, eta);
      // A line at each multiple of logging_steps (the first look past one when steps are quicker
      // than the looks) and at the end.
      boolean due =
          s.step() / every > Math.max(shown, 0) / every
              || s.step() == s.totalSteps()
              || s.state().isFinal();
      if (s.step() > 0 && due) {
        out.println(terminal ? "\r" + line + ProgressLine.ERASE : line);
        shown = s.step();
        drawn = -1;
      } else if (terminal) {
        out.print("\r" + line + ProgressLine.ERASE);
        drawn = s.step();
      }
      out.flush();
    }
    return s;
  }

  /** Prints the job's new notes, each on a line of its own. */
  private void showNotes() {
    List<String> notes = job.notes();
    for (; notesShown < notes.size(); notesShown++) {
      if (terminal) {
        out.print("\r" + ProgressLine.ERASE); // the line drawn in place is drawn again after
        out.flush();
        drawn = -1;
      }
      err.println("graft: job " + job.id() + ": " + notes.get(notesShown));
      err.flush();
    }
  }

  /** Passes the job's activity to its progress line, ending the one before when it changes. */
  private void showActivity(ProgressEvent now) {
    if (activity != null && (now == null || !now.task().equals(activity.task()))) {
      activityLine.progress(
          new ProgressEvent(
              activity.task(), activity.done(), activity.total(), activity.unit(), true));
    }
    if (now != null) {
      drawn = -1; // the activity draws over a step line in place
      activityLine.progress(now);
    }
    activity = now;
  }

  /** Ends a step line drawn in place, so that what follows starts on a line of its own. */
  private void endLine() {
    showNotes();
    showActivity(null);
    if (drawn >= 0) {
      out.println();
      drawn = -1;
    }
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
