package dev.graft.api.backend;

import dev.graft.graph.DType;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Objects;

/**
 * A tensor in host memory: dtype, shape and little-endian row-major bytes. Backends copy it in and
 * out; the buffer may be memory-mapped (frozen weights straight from a safetensors file).
 */
public final class HostTensor {
  private final DType dtype;
  private final long[] shape;
  private final ByteBuffer data;

  /**
   * @param data exactly {@code elements(shape) · dtype.byteSize()} bytes from position 0; a direct
   *     buffer avoids a copy when a backend hands it to native code
   * @throws IllegalArgumentException if the byte count does not match the shape
   */
  public HostTensor(DType dtype, long[] shape, ByteBuffer data) {
    this.dtype = Objects.requireNonNull(dtype, "dtype");
    this.shape = shape.clone();
    this.data = data.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    long bytes = elements(shape) * dtype.byteSize();
    if (this.data.remaining() != bytes) {
      throw new IllegalArgumentException(
          "A "
              + dtype
              + " tensor of shape "
              + Arrays.toString(shape)
              + " needs "
              + bytes
              + " bytes, not "
              + this.data.remaining()
              + ".");
    }
  }

  /** A float32 tensor holding a copy of {@code values}, in a direct buffer. */
  public static HostTensor ofFloats(long[] shape, float... values) {
    ByteBuffer buffer = ByteBuffer.allocateDirect(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    buffer.asFloatBuffer().put(values);
    return new HostTensor(DType.FLOAT32, shape, buffer);
  }

  /** A float64 tensor holding a copy of {@code values}, in a direct buffer. */
  public static HostTensor ofDoubles(long[] shape, double... values) {
    ByteBuffer buffer = ByteBuffer.allocateDirect(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
    buffer.asDoubleBuffer().put(values);
    return new HostTensor(DType.FLOAT64, shape, buffer);
  }

  /** An int64 tensor holding a copy of {@code values}, in a direct buffer. */
  public static HostTensor ofLongs(long[] shape, long... values) {
    ByteBuffer buffer = ByteBuffer.allocateDirect(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
    buffer.asLongBuffer().put(values);
    return new HostTensor(DType.INT64, shape, buffer);
  }

  /** The number of elements of a shape. */
  public static long elements(long[] shape) {
    long n = 1;
    for (long d : shape) {
      if (d < 0) {
        throw new IllegalArgumentException(
            "Shape " + Arrays.toString(shape) + " has a negative size.");
      }
      n *= d;
    }
    return n;
  }

  public DType dtype() {
    return dtype;
  }

  public long[] shape() {
    return shape.clone();
  }

  /** A read-only little-endian view of the bytes, positioned at 0. */
  public ByteBuffer data() {
    return data.asReadOnlyBuffer().order(ByteOrder.LITTLE_ENDIAN);
  }

  /** The values as floats (float32 only). */
  public float[] floats() {
    require(DType.FLOAT32);
    float[] values = new float[(int) elements(shape)];
    data().asFloatBuffer().get(values);
    return values;
  }

  /** The values as doubles (float64 only). */
  public double[] doubles() {
    require(DType.FLOAT64);
    double[] values = new double[(int) elements(shape)];
    data().asDoubleBuffer().get(values);
    return values;
  }

  /** The values as longs (int64 only). */
  public long[] longs() {
    require(DType.INT64);
    long[] values = new long[(int) elements(shape)];
    data().asLongBuffer().get(values);
    return values;
  }

  private void require(DType expected) {
    if (dtype != expected) {
      throw new IllegalStateException("This tensor is " + dtype + ", not " + expected + ".");
    }
  }

  @Override
  public String toString() {
    return dtype + Arrays.toString(shape);
  }
}
