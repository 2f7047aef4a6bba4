package dev.graft.graph;

import java.util.Objects;

/**
 * Where a frozen weight's bytes lie in a file, for ONNX external data: the runtime reads them
 * itself, so they need not pass through Java. The bytes must be little-endian, row-major and of the
 * parameter's dtype and size (a safetensors tensor of that dtype is).
 *
 * @param location the file, relative to the folder the backend is given (no {@code ..})
 * @param offset the first byte in the file
 * @param length the byte count
 */
public record ExternalData(String location, long offset, long length) {
  /** Checks the fields. */
  public ExternalData {
    Objects.requireNonNull(location, "location");
    if (location.isEmpty() || location.startsWith("/") || location.contains("..")) {
      throw new IllegalArgumentException(
          "External data location must be a file name inside the weight folder, got \""
              + location
              + "\".");
    }
    if (offset < 0 || length < 0) {
      throw new IllegalArgumentException(
          "External data needs offset and length >= 0, got " + offset + " and " + length + ".");
    }
  }
}
