package dev.graft.method.deltalora;

import dev.graft.method.lora.spi.Lora;

/** The low-rank product B·A added into a weight, on the host. */
final class LowRank {
  private LowRank() {}

  /**
   * {@code w += factor · B·A}, transposed for a weight stored (in, out) (GPT-2's Conv1D).
   *
   * @param w the site's weight, (out, in) or (in, out), changed in place
   * @param b (out, r)
   * @param a (r, in)
   */
  static void addProduct(float[] w, Lora.Site site, float[] b, float[] a, double factor) {
    int in = site.site().inFeatures();
    int out = site.site().outFeatures();
    int r = site.rank();
    for (int o = 0; o < out; o++) {
      for (int i = 0; i < in; i++) {
        double sum = 0;
        for (int k = 0; k < r; k++) {
          sum += (double) b[o * r + k] * a[k * in + i];
        }
        int index = site.site().fanInFanOut() ? i * out + o : o * in + i;
        w[index] = (float) (w[index] + factor * sum);
      }
    }
  }
}
