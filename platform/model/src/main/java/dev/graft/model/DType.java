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

  /** The graph's element type of this dtype, or null where the graph has none. */
  public dev.graft.graph.DType graphType() {
    return switch (this) {
      case F32 -> dev.graft.graph.DType.FLOAT32;
      case F64 -> dev.graft.graph.DType.FLOAT64;
      case F16 -> dev.graft.graph.DType.FLOAT16;
      case BF16 -> dev.graft.graph.DType.BFLOAT16;
      case I64 -> dev.graft.graph.DType.INT64;
      case I32 -> dev.graft.graph.DType.INT32;
      case U8 -> dev.graft.graph.DType.UINT8;
      case I8 -> dev.graft.graph.DType.INT8;
      case BOOL -> dev.graft.graph.DType.BOOL;
      default -> null;
    };
  }

  /**
   * The safetensors dtype of a graph element type.
   *
   * @throws IllegalArgumentException for a type safetensors cannot store
   */
  public static DType of(dev.graft.graph.DType type) {
    for (DType t : values()) {
      if (t.graphType() == type) {
        return t;
      }
    }
    throw new IllegalArgumentException("Safetensors files cannot store " + type + " tensors.");
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
