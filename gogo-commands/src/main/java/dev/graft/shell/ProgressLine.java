package dev.graft.shell;

import dev.graft.api.progress.ProgressEvent;
import dev.graft.api.progress.ProgressListener;
import java.io.PrintStream;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * Shows the progress of long work (loading, evaluating, merging, exporting) as one line with a bar,
 * rate and ETA. On a terminal the line is redrawn in place (at most {@value #REDRAWS_PER_SECOND}
 * times a second) and, for a task that took at least {@value #KEEP_SECONDS} s, left on screen when
 * it ends (a shorter one is erased). Piped, a task prints plain lines: none for one that ends
 * within {@value #QUIET_SECONDS} s, then one every {@value #PLAIN_EVERY_SECONDS} s and its last.
 */
final class ProgressLine implements ProgressListener {
  static final int REDRAWS_PER_SECOND = 10;
  static final int KEEP_SECONDS = 1;
  static final int QUIET_SECONDS = 2;
  static final int PLAIN_EVERY_SECONDS = 10;

  /** Erases from the cursor to the end of the line (ANSI EL). */
  static final String ERASE = "\u001b[K";

  private static final int BAR = 24;
  private static final long SECOND = 1_000_000_000L;

  private final PrintStream out;
  private final boolean terminal;
  private final LongSupplier clock;
  private final Map<String, Long> started = new HashMap<>();
  private final Map<String, Long> printed =
      new HashMap<>(); // task -> when its last plain line went
  private long drawn;
  private boolean onScreen;

  ProgressLine(PrintStream out, boolean terminal) {
    this(out, terminal, System::nanoTime);
  }

  ProgressLine(PrintStream out, boolean terminal, LongSupplier clock) {
    this.out = out;
    this.terminal = terminal;
    this.clock = clock;
  }

  /**
   * Whether the process's standard output ({@code "out"}) or error ({@code "err"}) is a terminal:
   * as the launcher says in the system property {@code graft.terminal} (a comma-separated list of
   * the two), else whether the JVM has a console; never with {@code TERM=dumb}.
   */
  static boolean isTerminal(String stream) {
    if ("dumb".equals(System.getenv("TERM"))) {
      return false;
    }
    String said = System.getProperty("graft.terminal");
    return said == null ? System.console() != null : List.of(said.split(",")).contains(stream);
  }

  /**
   * Runs a command's long work with its progress shown on the standard error, so that the result on
   * the standard output stays clean when piped.
   */
  static <T> T showing(Supplier<T> work) {
    return dev.graft.api.progress.Progress.reportingTo(
        new ProgressLine(System.err, isTerminal("err")), work);
  }

  @Override
  public synchronized void progress(ProgressEvent e) {
    long now = clock.getAsLong();
    long start = started.computeIfAbsent(e.task(), t -> now);
    double seconds = (now - start) / (double) SECOND;
    if (e.finished()) {
      started.remove(e.task());
      boolean shown = printed.remove(e.task()) != null;
      if (terminal) {
        if (onScreen || seconds >= KEEP_SECONDS) { // kept even where a note erased it
          out.print("\r" + (seconds >= KEEP_SECONDS ? line(e, seconds) + ERASE + "\n" : ERASE));
          onScreen = false;
        }
      } else if (shown || seconds >= QUIET_SECONDS) {
        out.println(line(e, seconds));
      }
      out.flush();
      return;
    }
    if (terminal) {
      if (!onScreen || now - drawn >= SECOND / REDRAWS_PER_SECOND) {
        out.print("\r" + line(e, seconds) + ERASE);
        out.flush();
        drawn = now;
        onScreen = true;
      }
    } else if (seconds >= QUIET_SECONDS) {
      Long last = printed.get(e.task());
      if (last == null || now - last >= PLAIN_EVERY_SECONDS * SECOND) {
        out.println(line(e, seconds));
        out.flush();
        printed.put(e.task(), now);
      }
    }
  }

  /** Prints the note on a line of its own, erasing a line drawn in place first. */
  @Override
  public synchronized void note(String sentence) {
    if (onScreen) {
      out.print("\r" + ERASE);
      onScreen = false;
    }
    out.println("graft: " + sentence);
    out.flush();
  }

  /**
   * {@code loading weights [######..........] 12/57 tensors | 3.1 tensors/s | ETA 0:14}, or {@code
   * starting ONNX Runtime | 3.2 s} for a task without a count.
   */
  static String line(ProgressEvent e, double seconds) {
    if (e.total() <= 0) {
      return String.format(Locale.ROOT, "%s | %.1f s", e.task(), seconds);
    }
    int filled = (int) Math.min(BAR, BAR * e.done() / e.total());
    double rate = seconds > 0 ? e.done() / seconds : Double.NaN;
    boolean bytes = e.unit().equals("bytes");
    String eta =
        e.finished()
            ? String.format(Locale.ROOT, "%.1f s", seconds)
            : "ETA " + Progress.duration(rate > 0 ? (e.total() - e.done()) / rate : Double.NaN);
    return String.format(
        Locale.ROOT,
        "%s [%s%s] %s | %s | %s",
        e.task(),
        "#".repeat(filled),
        ".".repeat(BAR - filled),
        bytes
            ? size(e.done()) + "/" + size(e.total())
            : e.done() + "/" + e.total() + " " + e.unit(),
        Double.isNaN(rate)
            ? "-"
            : bytes
                ? size((long) rate) + "/s"
                : String.format(Locale.ROOT, "%.1f %s/s", rate, e.unit()),
        eta);
  }

  /** A byte count as {@code 512 B}, {@code 3.4 MB}, {@code 2.10 GB}. */
  static String size(long bytes) {
    if (bytes < 1_000_000) {
      return bytes < 1000 ? bytes + " B" : String.format(Locale.ROOT, "%.1f kB", bytes / 1e3);
    }
    return bytes < 1_000_000_000
        ? String.format(Locale.ROOT, "%.1f MB", bytes / 1e6)
        : String.format(Locale.ROOT, "%.2f GB", bytes / 1e9);
  }
}
