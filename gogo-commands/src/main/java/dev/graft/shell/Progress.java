package dev.graft.shell;

import dev.graft.api.train.Job;
import dev.graft.api.train.JobStatus;
import java.util.Locale;

/** How a job's progress reads in the shell. */
final class Progress {
  private static final int BAR = 24;

  private Progress() {}

  /**
   * {@code step 12/100 [#####...] loss 2.3456 | 1234 tok/s | ETA 0:42}.
   *
   * @param etaSeconds estimated seconds to the end, or NaN when unknown
   */
  static String line(JobStatus s, double etaSeconds) {
    int filled = s.totalSteps() == 0 ? 0 : (int) (BAR * s.step() / s.totalSteps());
    String bar = "#".repeat(filled) + ".".repeat(BAR - filled);
    return String.format(
        Locale.ROOT,
        "step %d/%d [%s] loss %s | %.0f tok/s | %s",
        s.step(),
        s.totalSteps(),
        bar,
        loss(s.loss()),
        s.tokensPerSecond(),
        "ETA " + duration(etaSeconds));
  }

  static String loss(double loss) {
    return Double.isNaN(loss) ? "-" : String.format(Locale.ROOT, "%.4f", loss);
  }

  /** {@code 0:42} or {@code 1:02:03}; {@code -} for NaN. */
  static String duration(double seconds) {
    if (Double.isNaN(seconds)) {
      return "-";
    }
    long t = Math.round(seconds);
    return t >= 3600
        ? String.format(Locale.ROOT, "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60)
        : String.format(Locale.ROOT, "%d:%02d", t / 60, t % 60);
  }

  /** State, progress, message and where the output is. */
  static String summary(Job job) {
    JobStatus s = job.status();
    return summary(job, s, s.message().isEmpty() ? "" : s.message() + "\n");
  }

  /** The summary with the notes the job made, each on a line of its own, for 'graft:job'. */
  static String details(Job job) {
    JobStatus s = job.status();
    StringBuilder text = new StringBuilder(s.message().isEmpty() ? "" : s.message() + "\n");
    job.notes().forEach(note -> text.append("Note: ").append(note).append('\n'));
    return summary(job, s, text.toString());
  }

  /** The summary without the message, for a job whose message goes to stderr as the error. */
  static String heading(Job job) {
    return summary(job, job.status(), "");
  }

  private static String summary(Job job, JobStatus s, String message) {
    return "Job "
        + job.id()
        + ": "
        + state(s)
        + " after "
        + s.step()
        + " of "
        + s.totalSteps()
        + " steps, loss "
        + loss(s.loss())
        + ".\n"
        + message
        + "Output: "
        + job.outputDirectory()
        + "\n";
  }

  /** The state in lower case, as the shell shows it. */
  static String state(JobStatus s) {
    return s.state().name().toLowerCase(Locale.ROOT);
  }
}
