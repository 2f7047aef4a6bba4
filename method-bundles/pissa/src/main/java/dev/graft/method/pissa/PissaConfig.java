package dev.graft.method.pissa;

import dev.graft.api.Options;
import dev.graft.method.lora.spi.LoraConfig;

/**
 * PiSSA's settings, checked: LoRA's, the SVD that {@code init_lora_weights} asks for, and how the
 * adapter is saved.
 *
 * @param lora LoRA's settings ({@code init_lora_weights} as given)
 * @param niter the subspace iterations of the randomized SVD ({@code pissa_niter_K}), or -1 for the
 *     exact SVD ({@code pissa})
 * @param convert save as a plain LoRA adapter of rank 2r on the original W
 */
record PissaConfig(LoraConfig lora, int niter, boolean convert) {
  /** Reads and checks {@link PissaMethod#INFO}'s options. */
  static PissaConfig of(Options o) {
    LoraConfig lora = LoraConfig.of(o);
    String init = lora.init();
    int niter;
    if (init.equals("pissa")) {
      niter = -1;
    } else if (init.startsWith("pissa_niter_")) {
      try {
        niter = Integer.parseInt(init.substring("pissa_niter_".length()));
      } catch (NumberFormatException e) {
        niter = -1;
      }
      if (niter < 1) {
        throw new IllegalArgumentException(
            "init_lora_weights \""
                + init
                + "\" needs a whole number of iterations of at least 1 after pissa_niter_, e.g."
                + " pissa_niter_4.");
      }
    } else {
      throw new IllegalArgumentException(
          "init_lora_weights must be pissa (exact SVD) or pissa_niter_K (randomized SVD with K"
              + " iterations, e.g. pissa_niter_4), not \""
              + init
              + "\".");
    }
    return new PissaConfig(lora, niter, o.getBoolean("pissa_convert"));
  }
}
