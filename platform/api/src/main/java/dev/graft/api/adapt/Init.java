package dev.graft.api.adapt;

import java.util.Arrays;
import java.util.Random;
import org.osgi.annotation.versioning.ConsumerType;

/**
 * How a new parameter starts. The platform calls {@link #fill} once, with the job's seeded random
 * source, before the first step.
 */
@FunctionalInterface
@ConsumerType
public interface Init {
  /**
   * Writes the initial values.
   *
   * @param values row-major storage to fill, of the parameter's element count
   * @param shape the parameter's shape
   * @param random the job's seeded random source
   */
  void fill(float[] values, long[] shape, Random random);

  /** All zeros (LoRA's B). */
  static Init zeros() {
    return (values, shape, random) -> Arrays.fill(values, 0f);
  }

  /** Every element {@code value} (e.g. a DoRA magnitude computed elsewhere is {@link #of}). */
  static Init constant(float value) {
    return (values, shape, random) -> Arrays.fill(values, value);
  }

  /** Normal with mean 0 and standard deviation {@code std}. */
  static Init normal(double std) {
    return (values, shape, random) -> {
      for (int i = 0; i < values.length; i++) {
        values[i] = (float) (random.nextGaussian() * std);
      }
    };
  }

  /**
   * PyTorch's {@code kaiming_uniform_(w, a)} for a weight of shape (out, in): uniform on ±{@code
   * sqrt(6 / ((1 + a²) · in))}. LoRA's A uses {@code a = √5}, as {@code nn.Linear} does.
   */
  static Init kaimingUniform(double a) {
    return (values, shape, random) -> {
      long fanIn = 1;
      for (int i = 1; i < shape.length; i++) {
        fanIn *= shape[i];
      }
      double bound = Math.sqrt(6.0 / ((1 + a * a) * fanIn));
      for (int i = 0; i < values.length; i++) {
        values[i] = (float) ((random.nextDouble() * 2 - 1) * bound);
      }
    };
  }

  /** Exactly these values (e.g. from an SVD of W for PiSSA); the length must match. */
  static Init of(float[] initial) {
    float[] copy = initial.clone();
    return (values, shape, random) -> {
      if (values.length != copy.length) {
        throw new IllegalArgumentException(
            "Initial values have "
                + copy.length
                + " elements but the parameter "
                + Arrays.toString(shape)
                + " has "
                + values.length
                + ".");
      }
      System.arraycopy(copy, 0, values, 0, copy.length);
    };
  }
}
