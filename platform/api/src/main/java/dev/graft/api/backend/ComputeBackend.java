package dev.graft.api.backend;

import org.osgi.annotation.versioning.ConsumerType;

/**
 * A compute backend on one execution device. Backends probe their device for real (for CUDA, by
 * opening the execution provider) and report the result through {@link #availability()}.
 */
@ConsumerType
public interface ComputeBackend {
  /** Service property: the backend's unique lower-case name, such as {@code cpu}. */
  String NAME = "graft.backend.name";

  /** The backend's name, equal to the {@value #NAME} property. */
  String name();

  /** The device in words, e.g. "CPU, 2 threads (ONNX Runtime 1.23.2)". */
  String device();

  /** Whether jobs can run on this backend now, and if not, why. */
  Availability availability();

  /**
   * Opens a session that runs {@code program} on this backend's device.
   *
   * @throws IllegalStateException if the backend is unavailable (with the reason)
   * @throws IllegalArgumentException if the program uses a dtype this backend cannot run, naming
   *     the backend and the dtype
   * @throws BackendException if the runtime rejects the program
   */
  Session open(Program program);

  /**
   * How many sessions this backend has open now (opened and not yet closed), for operators and leak
   * checks; -1 when the backend does not count them.
   *
   * @since 1.2
   */
  default int openSessions() {
    return -1;
  }
}
