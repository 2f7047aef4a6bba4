package dev.graft.graph;

import java.util.Arrays;

/**
 * A concrete row-major array for the {@link Interpreter}: a dtype, fixed sizes and the values as
 * doubles (integers and booleans are stored exactly as doubles; booleans as 0 and 1). Immutable.
 */
public final class NdArray {
  private final DType dtype;
  private final long[] shape;
  private final double[] data;

  private NdArray(DType dtype, long[] shape, double[] data) {
    long n = 1;
    for (long s : shape) {
      n *= s;
    }
    if (n != data.length) {
      throw new IllegalArgumentException(
          "Shape "
              + Arrays.toString(shape)
              + " holds "
              + n
              + " values, but "
              + data.length
              + " were given");
    }
    this.dtype = dtype;
    this.shape = shape;
    this.data = data;
  }

  /** An array with the given dtype, shape and row-major values (copied). */
  public static NdArray of(DType dtype, long[] shape, double... data) {
    return new NdArray(dtype, shape.clone(), data.clone());
  }

  /** A scalar (rank 0). */
  public static NdArray scalar(DType dtype, double value) {
    return new NdArray(dtype, new long[0], new double[] {value});
  }

  /** An array of zeros. */
  public static NdArray zeros(DType dtype, long... shape) {
    return new NdArray(
        dtype,
        shape.clone(),
        new double[Math.toIntExact(Arrays.stream(shape).reduce(1, (a, b) -> a * b))]);
  }

  /** The element type. */
  public DType dtype() {
    return dtype;
  }

  /** The sizes (a copy). */
  public long[] shape() {
    return shape.clone();
  }

  /** The values in row-major order (a copy). */
  public double[] data() {
    return data.clone();
  }

  /** The number of elements. */
  public int size() {
    return data.length;
  }

  /** The value at a flat row-major index. */
  public double get(int flatIndex) {
    return data[flatIndex];
  }

  /** The single value of a one-element array. */
  public double item() {
    if (data.length != 1) {
      throw new IllegalStateException(
          "item() needs one element, this array has shape " + Arrays.toString(shape));
    }
    return data[0];
  }

  @Override
  public String toString() {
    return dtype + Arrays.toString(shape) + (data.length <= 16 ? Arrays.toString(data) : "");
  }
}
