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
}
