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
        "step %d/%d [%s] loss %s | %.0f tok/s | ETA %s",
        s.step(),
        s.totalSteps(),
        bar,
        loss(s.loss()),
        s.tokensPerSecond(),
        eta(etaSeconds));
  }

  static String loss(double loss) {
    return Double.isNaN(loss) ? "-" : String.format(Locale.ROOT, "%.4f", loss);
  }

  private static String eta(double seconds) {
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
    StringBuilder out =
        new StringBuilder("Job ")
            .append(job.id())
            .append(": ")
            .append(s.state().name().toLowerCase(Locale.ROOT))
            .append(" after ")
            .append(s.step())
            .append(" of ")
            .append(s.totalSteps())
            .append(" steps, loss ")
            .append(loss(s.loss()))
            .append(".\n");
    if (!s.message().isEmpty()) {
      out.append(s.message()).append('\n');
    }
    out.append("Output: ").append(job.outputDirectory()).append('\n');
    return out.toString();
  }
}
