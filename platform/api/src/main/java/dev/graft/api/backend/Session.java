package dev.graft.api.backend;

import java.util.Map;
import java.util.Set;
import org.osgi.annotation.versioning.ConsumerType;

/**
 * A {@link Program} running on a backend. Carried state stays with the backend between runs; the
 * caller sets it once, runs steps with per-step feeds, and reads it back when it needs it (for a
 * checkpoint). Not thread-safe. Every method but {@link #close()} throws {@link
 * IllegalStateException} after close.
 */
@ConsumerType
public interface Session extends AutoCloseable {
  /**
   * Sets a carried input, e.g. a trainable's initial value or an optimizer moment.
   *
   * @throws IllegalArgumentException if {@code input} is not a carried input of the program
   */
  void setState(String input, HostTensor value);

  /** The current value of a carried input, copied to the host. */
  HostTensor state(String input);

  /**
   * Runs the program once. The feeds and the carried state form the inputs; afterwards each carried
   * output replaces its input.
   *
   * @param feeds per-run inputs (token ids, learning rate, …)
   * @param fetch outputs to copy back to the host (loss, …); carried outputs may be fetched too
   * @return the fetched outputs
   * @throws IllegalArgumentException for a missing, unknown or mis-shaped feed
   * @throws BackendException when the runtime fails
   */
  Map<String, HostTensor> run(Map<String, HostTensor> feeds, Set<String> fetch);

  /** Releases every native resource; a second call does nothing. */
  @Override
  void close();
}
