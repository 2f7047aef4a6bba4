package dev.graft.graph;

/**
 * Element type of a {@link Tensor}, with its ONNX {@code TensorProto.DataType} code and size in
 * bytes.
 */
public enum DType {
  FLOAT32(1, 4, true),
  FLOAT64(11, 8, true),
  FLOAT16(10, 2, true),
  BFLOAT16(16, 2, true),
  INT64(7, 8, false),
  INT32(6, 4, false),
  UINT8(2, 1, false),
  INT8(3, 1, false),
  BOOL(9, 1, false);

  private final int onnxCode;
  private final int byteSize;
  private final boolean floating;

  DType(int onnxCode, int byteSize, boolean floating) {
    this.onnxCode = onnxCode;
    this.byteSize = byteSize;
    this.floating = floating;
  }

  /** The ONNX {@code TensorProto.DataType} enum value. */
  public int onnxCode() {
    return onnxCode;
  }

  /** Bytes per element. */
  public int byteSize() {
    return byteSize;
  }

  /** Whether values of this type are floating point (and so can carry gradients). */
  public boolean isFloating() {
    return floating;
  }
}
