package dev.graft.api.progress;

import org.osgi.annotation.versioning.ConsumerType;

/**
 * Receives the progress of the work run under {@link Progress#reportingTo}. Events come from the
 * thread that does the work, as often as it advances (a listener throttles what it shows), and
 * possibly from several threads where the work hands its listener on ({@link Progress#current}).
 */
@ConsumerType
@FunctionalInterface
public interface ProgressListener {
  /** A listener that ignores every event: the listener of work nobody follows. */
  ProgressListener NONE = event -> {};

  /** One task started, advanced or finished. */
  void progress(ProgressEvent event);

  /**
   * A sentence about the work for its user to read, such as how many samples were cut to {@code
   * max_length}. By default it goes to the standard error as {@code graft: <sentence>}; a listener
   * that draws a progress line prints it where it does not break the line.
   */
  default void note(String sentence) {
    System.err.println("graft: " + sentence);
  }
}
