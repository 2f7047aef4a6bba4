package dev.graft.method.lora.spi;

/**
 * The low-rank product that LoRA and its variants add to a weight when merging: {@code W += s ·
 * B·diag(c)·A}, computed on the host in double precision.
 *
 * @since 1.2
 */
public final class LowRank {
  private LowRank() {}

  /**
   * Adds {@code scale · Σ_k B[o,k]·c[k]·A[k,i]} to every {@code w[o,i]}.
   *
   * @param w the weight, (out, in) row-major, or (in, out) when {@code inOut} (GPT-2's Conv1D,
   *     fan_in_fan_out)
   * @param inOut whether {@code w} is stored (in, out)
   * @param b B, (out, rank) row-major
   * @param c a factor per rank ({@code diag(c)}: AdaLoRA's singular values, MoELoRA's gate per
   *     expert), or null for none
   * @param a A, (rank, in) row-major
   * @param scale s, negative to take the product out again
   */
  public static void add(
      float[] w,
      boolean inOut,
      int out,
      int in,
      float[] b,
      double[] c,
      float[] a,
      int rank,
      double scale) {
    for (int o = 0; o < out; o++) {
      for (int i = 0; i < in; i++) {
        double sum = 0;
        for (int k = 0; k < rank; k++) {
          sum +=
              c == null
                  ? (double) b[o * rank + k] * a[k * in + i]
                  : b[o * rank + k] * c[k] * a[k * in + i];
        }
        int index = inOut ? i * out + o : o * in + i;
        w[index] = (float) (w[index] + scale * sum);
      }
    }
  }
}
