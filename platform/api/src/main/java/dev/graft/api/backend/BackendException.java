package dev.graft.api.backend;

/** A failure inside a backend's runtime, with the runtime's own error code. */
public final class BackendException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private final String code;

  /**
   * @param message one sentence saying what failed
   * @param code the runtime's error code (for ONNX Runtime, e.g. {@code ORT_FAIL})
   * @param cause the runtime's exception
   */
  public BackendException(String message, String code, Throwable cause) {
    super(message, cause);
    this.code = code;
  }

  /** The runtime's error code. */
  public String code() {
    return code;
  }
}
