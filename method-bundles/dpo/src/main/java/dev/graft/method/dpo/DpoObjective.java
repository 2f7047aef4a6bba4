package dev.graft.method.dpo;

import dev.graft.api.adapt.LogProbs;
import dev.graft.api.adapt.Objective;
import dev.graft.graph.GraphOps;
import dev.graft.graph.Tensor;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * DPO's loss over (chosen, rejected) row pairs, against the reference model's log-probabilities, as
 * TRL's {@code DPOTrainer} computes it: with π the policy's and ρ the reference's sequence
 * log-probability (summed over completion tokens), {@code h = (π(y_w) − ρ(y_w)) − (π(y_l) −
 * ρ(y_l))}, and the loss is the mean over pairs of the {@link DpoConfig.LossType} of βh, plus
 * {@code sft_weight} times the chosen completion's mean per-token NLL (LLaMA-Factory's {@code
 * pref_ftx}).
 *
 * <p>Metrics (TRL's names), means over the pairs of the batch: {@code rewards/chosen} = β(π(y_w) −
 * ρ(y_w)), {@code rewards/rejected}, {@code rewards/margins} (their difference), {@code
 * rewards/accuracies} (the share of pairs whose chosen reward is the larger), {@code logps/chosen}
 * and {@code logps/rejected} (π's sums).
 */
public final class DpoObjective implements Objective {
  private final DpoConfig config;

  public DpoObjective(DpoConfig config) {
    this.config = config;
  }

  @Override
  public boolean pairwise() {
    return true;
  }

  @Override
  public boolean needsReference() {
    return true;
  }

  @Override
  public Tensor loss(GraphOps g, LogProbs lp) {
    double beta = config.beta();
    double eps = config.labelSmoothing();
    Tensor perPair; // (P)
    if (config.lossType() == DpoConfig.LossType.IPO) {
      // TRL: per-token averaged log-ratios; the reference covers the same tokens.
      Tensor ratio = g.div(g.sub(lp.sums(), lp.referenceSums()), atLeastOne(g, lp.counts()));
      Tensor h = g.sub(lp.chosen(ratio), lp.rejected(ratio)); // (P)
      Tensor off = g.add(h, -1 / (2 * beta));
      perPair = g.mul(off, off);
    } else {
      Tensor scaled = g.mul(margin(g, lp), beta); // βh, (P)
      perPair =
          switch (config.lossType()) {
            case HINGE -> g.max(g.sub(g.scalar(1, scaled.dtype()), scaled), zero(g, scaled));
            case ROBUST ->
                g.mul(
                    g.add(
                        g.mul(logSigmoid(g, scaled), -(1 - eps)),
                        g.mul(logSigmoid(g, g.neg(scaled)), eps)),
                    1 / (1 - 2 * eps));
            default ->
                g.sub(
                    g.mul(logSigmoid(g, scaled), -(1 - eps)),
                    g.mul(logSigmoid(g, g.neg(scaled)), eps));
          };
    }
    if (config.sftWeight() > 0) {
      Tensor nll = g.neg(g.div(lp.chosen(lp.sums()), atLeastOne(g, lp.chosen(lp.counts())))); // (P)
      perPair = g.add(perPair, g.mul(nll, config.sftWeight()));
    }
    return g.reduceMean(perPair, false, 0);
  }

  @Override
  public Map<String, Tensor> metrics(GraphOps g, LogProbs lp) {
    Tensor rewards = g.mul(g.sub(lp.sums(), lp.referenceSums()), config.beta()); // (B)
    Tensor chosen = lp.chosen(rewards); // (P)
    Tensor rejected = lp.rejected(rewards); // (P)
    Map<String, Tensor> metrics = new LinkedHashMap<>();
    metrics.put("rewards/chosen", mean(g, chosen));
    metrics.put("rewards/rejected", mean(g, rejected));
    metrics.put("rewards/accuracies", mean(g, g.cast(g.greater(chosen, rejected), chosen.dtype())));
    metrics.put("rewards/margins", mean(g, g.sub(chosen, rejected)));
    metrics.put("logps/chosen", mean(g, lp.chosen(lp.sums())));
    metrics.put("logps/rejected", mean(g, lp.rejected(lp.sums())));
    return metrics;
  }

  /** h per pair: the chosen row's log-ratio to the reference minus the rejected row's. */
  private static Tensor margin(GraphOps g, LogProbs lp) {
    Tensor ratio = g.sub(lp.sums(), lp.referenceSums()); // (B)
    return g.sub(lp.chosen(ratio), lp.rejected(ratio)); // (P)
  }

  /** log σ(x) without overflow: min(x, 0) − log(1 + e^{−|x|}). */
  static Tensor logSigmoid(GraphOps g, Tensor x) {
    Tensor softplus = g.log(g.add(g.exp(g.neg(g.abs(x))), 1.0));
    return g.sub(g.min(x, zero(g, x)), softplus);
  }

  private static Tensor zero(GraphOps g, Tensor like) {
    return g.scalar(0, like.dtype());
  }

  private static Tensor atLeastOne(GraphOps g, Tensor counts) {
    return g.max(counts, g.scalar(1, counts.dtype()));
  }

  private static Tensor mean(GraphOps g, Tensor perPair) {
    return g.reduceMean(perPair, false, 0);
  }

  @Override
  public String toString() {
    return "dpo (" + config.lossType().label() + ", beta " + config.beta() + ")";
  }
}
