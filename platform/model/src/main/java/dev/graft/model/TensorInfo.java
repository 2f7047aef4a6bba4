package dev.graft.model;

import java.util.Arrays;

/**
 * A tensor's name, element type and shape as a safetensors header declares them.
 *
 * @param name the tensor name, e.g. {@code model.layers.0.self_attn.q_proj.weight}
 * @param dtype the element type
 * @param shape the dimensions, outermost first (empty for a scalar); do not modify
 */
public record TensorInfo(String name, DType dtype, long[] shape) {

  /** Number of elements (the product of the shape). */
  public long numel() {
    return numel(shape);
  }

  /** Size of the data in bytes. */
  public long byteSize() {
    return numel() * dtype.size();
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof TensorInfo t
        && name.equals(t.name)
        && dtype == t.dtype
        && Arrays.equals(shape, t.shape);
  }

  @Override
  public int hashCode() {
    return 31 * (31 * name.hashCode() + dtype.hashCode()) + Arrays.hashCode(shape);
  }

  @Override
  public String toString() {
    return name + " " + dtype + " " + Arrays.toString(shape);
  }

  static long numel(long[] shape) {
    long n = 1;
    for (long d : shape) {
      n = Math.multiplyExact(n, d);
    }
    return n;
  }
}
