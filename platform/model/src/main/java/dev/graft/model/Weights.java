package dev.graft.model;

import dev.graft.api.backend.HostTensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** Checkpoint tensors as host tensors of a graph's compute type. */
final class Weights {

  private Weights() {}

  /**
   * The tensor {@code name} of {@code reader} as {@code to}: the memory-mapped bytes themselves
   * when the checkpoint already stores that type, else converted (through float32, which holds F16
   * and BF16 exactly; F64 to FLOAT64 is passed through). A weight stored 4-bit ({@link
   * FourBitCheckpoint}) is dequantised, in the weight's shape.
   *
   * @throws IllegalArgumentException for a tensor that is not F32, F16, BF16 or F64
   */
  static HostTensor load(SafetensorsReader reader, String name, dev.graft.graph.DType to) {
    TensorInfo info = reader.info(name);
    if (storedAs(reader, name, to)) {
      return new HostTensor(to, info.shape(), reader.bytes(name));
    }
    long[] shape = info.shape();
    float[] v;
    if (FourBitCheckpoint.isQuantised(reader, name)) {
      shape = FourBitCheckpoint.describe(reader, name).shape();
      v = FourBitCheckpoint.read(reader, name).dequantise();
    } else {
      v = reader.floats(name);
    }
    ByteBuffer b =
        ByteBuffer.allocateDirect(v.length * to.byteSize()).order(ByteOrder.LITTLE_ENDIAN);
    for (float x : v) {
      switch (to) {
        case FLOAT32 -> b.putFloat(x);
        case FLOAT64 -> b.putDouble(x);
        case FLOAT16 -> b.putShort(Half.fromFloat(x));
        case BFLOAT16 -> b.putShort(Half.toBfloat16(x));
        default ->
            throw new IllegalArgumentException(
                "Weights load as a floating-point type, not " + to + ".");
      }
    }
    return new HostTensor(to, shape, b.flip());
  }

  /** Whether the checkpoint stores tensor {@code name} as {@code type}, byte for byte. */
  static boolean storedAs(SafetensorsReader reader, String name, dev.graft.graph.DType type) {
    return reader.info(name).dtype().graphType() == type;
  }
}
