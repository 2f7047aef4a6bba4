package dev.graft.api.backend;

import java.util.Objects;

/**
 * The result of a backend's device probe.
 *
 * @param available whether the backend can run jobs
 * @param reason for an unavailable backend, one sentence saying why and how to fix it; empty when
 *     available
 */
public record Availability(boolean available, String reason) {
  /** Requires a reason exactly when unavailable. */
  public Availability {
    Objects.requireNonNull(reason, "reason");
    if (available == !reason.isEmpty()) {
      throw new IllegalArgumentException(
          "A reason is given exactly when a backend is unavailable.");
    }
  }

  /** An available backend. */
  public static Availability ok() {
    return new Availability(true, "");
  }

  /** An unavailable backend, with the reason. */
  public static Availability unavailable(String reason) {
    return new Availability(false, reason);
  }
}
