package dev.graft.api.progress;

import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

/**
 * The thread's progress listener, and the tasks that work reports to it. A command that shows
 * progress runs its work under {@link #reportingTo}; the work, wherever it lies, reports with:
 *
 * <pre>{@code
 * try (Progress.Task task = Progress.start("merging", tensors.size(), "tensors")) {
 *   for (String name : tensors) {
 *     merge(name);
 *     task.advance(1);
 *   }
 * }
 * }</pre>
 */
public final class Progress {
  private static final ThreadLocal<ProgressListener> LISTENER = new ThreadLocal<>();

  private Progress() {}

  /**
   * Runs {@code work} on this thread with {@code listener} receiving the progress it reports, and
   * restores the listener before it (calls nest).
   */
  public static <T> T reportingTo(ProgressListener listener, Supplier<T> work) {
    ProgressListener before = LISTENER.get();
    LISTENER.set(listener);
    try {
      return work.get();
    } finally {
      if (before == null) {
        LISTENER.remove();
      } else {
        LISTENER.set(before);
      }
    }
  }

  /**
   * This thread's listener, {@link ProgressListener#NONE} outside {@link #reportingTo}; for work
   * that hands tasks to other threads, which report through {@link #start(ProgressListener, String,
   * long, String)}.
   */
  public static ProgressListener current() {
    ProgressListener listener = LISTENER.get();
    return listener == null ? ProgressListener.NONE : listener;
  }

  /** Reports a sentence for the user to this thread's listener ({@link ProgressListener#note}). */
  public static void note(String sentence) {
    current().note(sentence);
  }

  /**
   * Starts a task reported to this thread's listener.
   *
   * @param total units in all, or 0 when unknown
   * @param unit what a unit is, in the plural; empty for a task without a count
   */
  public static Task start(String task, long total, String unit) {
    return start(current(), task, total, unit);
  }

  /** Starts a task reported to {@code listener}, from any thread. */
  public static Task start(ProgressListener listener, String task, long total, String unit) {
    return new Task(listener, task, total, unit);
  }

  /**
   * One task of long work: its start is reported when it is created, every {@link #advance} and its
   * end on {@link #close}. Safe to advance from several threads.
   */
  public static final class Task implements AutoCloseable {
    private final ProgressListener listener;
    private final String task;
    private final long total;
    private final String unit;
    private final AtomicLong done = new AtomicLong();
    private volatile boolean closed;

    private Task(ProgressListener listener, String task, long total, String unit) {
      this.listener = listener;
      this.task = task;
      this.total = Math.max(0, total);
      this.unit = unit;
      listener.progress(new ProgressEvent(task, 0, this.total, unit, false));
    }

    /** Reports {@code units} more done. */
    public void advance(long units) {
      listener.progress(new ProgressEvent(task, done.addAndGet(units), total, unit, false));
    }

    /** Ends the task (once; later calls do nothing). */
    @Override
    public void close() {
      if (!closed) {
        closed = true;
        listener.progress(new ProgressEvent(task, done.get(), total, unit, true));
      }
    }
  }
}
