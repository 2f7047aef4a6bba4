package dev.graft.method.dpo;

import dev.graft.api.Options;
import java.util.Locale;

/**
 * The checked options of a DPO job.
 *
 * @param beta β: how far the policy may move from the reference (TRL's {@code beta}, 0.1)
 * @param lossType the loss over the pairs' log-ratio margins
 * @param labelSmoothing ε, the assumed share of flipped labels ({@code robust}, and cDPO for {@code
 *     sigmoid}); in [0, 0.5)
 * @param sftWeight weight of the chosen completions' mean per-token NLL added to the loss
 *     (LLaMA-Factory's {@code pref_ftx}); 0 adds nothing
 */
public record DpoConfig(double beta, LossType lossType, double labelSmoothing, double sftWeight) {

  /** TRL's {@code loss_type} values that Graft implements. */
  public enum LossType {
    /** {@code −log σ(βh)} (the paper's loss; cDPO with label smoothing). */
    SIGMOID,
    /** IPO: {@code (h̄ − 1/(2β))²} over per-token averaged log-ratios. */
    IPO,
    /** SLiC's hinge: {@code relu(1 − βh)}. */
    HINGE,
    /** Robust DPO: {@code [−(1−ε) log σ(βh) + ε log σ(−βh)] / (1 − 2ε)}. */
    ROBUST;

    /** The option spelling, e.g. {@code sigmoid}. */
    public String label() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  /**
   * Checks the values.
   *
   * @throws IllegalArgumentException for β ≤ 0, ε outside [0, 0.5), ε with a loss that ignores it,
   *     or a negative SFT weight
   */
  public DpoConfig {
    if (!(beta > 0) || !Double.isFinite(beta)) {
      throw new IllegalArgumentException(
          "dpo.beta must be a positive number, not " + beta + "; TRL's default is 0.1.");
    }
    if (!(labelSmoothing >= 0 && labelSmoothing < 0.5)) {
      throw new IllegalArgumentException(
          "dpo.label_smoothing must be at least 0 and below 0.5, not " + labelSmoothing + ".");
    }
    if (labelSmoothing > 0 && (lossType == LossType.IPO || lossType == LossType.HINGE)) {
      throw new IllegalArgumentException(
          "dpo.label_smoothing applies to loss_type sigmoid or robust, not "
              + lossType.label()
              + "; set it to 0 or choose robust.");
    }
    if (!(sftWeight >= 0) || !Double.isFinite(sftWeight)) {
      throw new IllegalArgumentException(
          "dpo.sft_weight must be 0 or more, not " + sftWeight + ".");
    }
  }

  /** Reads and checks the method's options. */
  public static DpoConfig of(Options options) {
    return new DpoConfig(
        options.getDouble("beta"),
        LossType.valueOf(options.getString("loss_type").toUpperCase(Locale.ROOT)),
        options.getDouble("label_smoothing"),
        options.getDouble("sft_weight"));
  }
}
