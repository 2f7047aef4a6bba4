package dev.graft.model;

import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * Element types of safetensors files, in the declaration order of the Rust {@code safetensors}
 * crate (its writer lays tensors out by descending dtype, then by name; {@link SafetensorsWriter}
 * does the same so that files round-trip byte for byte).
 */
public enum DType {
  BOOL(1),
  U8(1),
  I8(1),
  F8_E5M2(1),
  F8_E4M3(1),
  I16(2),
  U16(2),
  F16(2),
  BF16(2),
  I32(4),
  U32(4),
  F32(4),
  F64(8),
  I64(8),
  U64(8);

  private final int size;

  DType(int size) {
    this.size = size;
  }

  /** Bytes per element. */
  public int size() {
    return size;
  }

  /** The dtype spelled {@code name} in a safetensors header, or null when there is none. */
  static DType parse(String name) {
    for (DType t : values()) {
      if (t.name().equals(name)) {
        return t;
      }
    }
    return null;
  }

  static String known() {
    return Arrays.stream(values()).map(Enum::name).collect(Collectors.joining(", "));
  }
}
