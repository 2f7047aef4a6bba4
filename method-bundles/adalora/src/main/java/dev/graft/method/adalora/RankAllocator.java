package dev.graft.method.adalora;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * PEFT's {@code RankAllocator}: the importance of every adapter entry and the cubic budget that
 * prunes singular values by it. It keeps, flattened over the layers in order (per layer A, then E,
 * then B):
 *
 * <ul>
 *   <li>the sensitivity EMA {@code Ī ← β1·Ī + (1−β1)·I} of {@code I = |p·∂L/∂p|};
 *   <li>the uncertainty EMA {@code Ū ← β2·Ū + (1−β2)·|I − Ī|};
 *   <li>the rank pattern, one entry per singular value: 1 kept, 0 pruned, −1 before the first
 *       allocation (PEFT's {@code rank_pattern} is then None).
 * </ul>
 *
 * <p>A singular value's score is {@code s(E_k) + mean_j s(A_kj) + mean_o s(B_ok)} with {@code s =
 * Ī·Ū}; an allocation zeroes every E_k whose score is at most the k-th smallest, k = initial budget
 * − budget, as PEFT's {@code mask_to_budget} does (ties prune together).
 */
final class RankAllocator {
  /**
   * One adapted layer.
   *
   * @param a full name of A (rank, in)
   * @param e full name of E (rank, 1)
   * @param b full name of B (out, rank)
   */
  record Triplet(String module, String a, String e, String b, int rank, int in, int out) {
    int size() {
      return rank * in + rank + out * rank;
    }
  }

  /**
   * What the schedule says at a step.
   *
   * @param budget the total rank allowed
   * @param mask whether this step allocates
   */
  record Budget(int budget, boolean mask) {}

  private final List<Triplet> triplets;
  private final AdaLoraConfig config;
  private final int[] offsets;
  private final float[] ipt;
  private final float[] unc;
  private final float[] pattern;

  RankAllocator(List<Triplet> triplets, AdaLoraConfig config) {
    this.triplets = List.copyOf(triplets);
    this.config = config;
    this.offsets = new int[triplets.size()];
    int n = 0;
    for (int i = 0; i < triplets.size(); i++) {
      offsets[i] = n;
      n += triplets.get(i).size();
    }
    this.ipt = new float[n];
    this.unc = new float[n];
    this.pattern = new float[initBudget()];
    Arrays.fill(pattern, -1f);
  }

  List<Triplet> triplets() {
    return triplets;
  }

  /** Every adapter entry: the length of the two EMAs. */
  int entries() {
    return ipt.length;
  }

  /** The sum of the initial ranks. */
  int initBudget() {
    return triplets.stream().mapToInt(Triplet::rank).sum();
  }

  /** target_r × the number of layers. */
  int targetBudget() {
    return config.targetR() * triplets.size();
  }

  float[] sensitivity() {
    return ipt;
  }

  float[] uncertainty() {
    return unc;
  }

  float[] pattern() {
    return pattern;
  }

  /** Restores the three arrays (from a checkpoint's state). */
  void restore(float[] sensitivity, float[] uncertainty, float[] rankPattern) {
    System.arraycopy(sensitivity, 0, ipt, 0, ipt.length);
    System.arraycopy(uncertainty, 0, unc, 0, unc.length);
    System.arraycopy(rankPattern, 0, pattern, 0, pattern.length);
  }

  /**
   * PEFT's {@code budget_schedule}: the initial budget up to {@code tinit}, the target after {@code
   * total − tfinal}, and between them {@code (init − target)·(1 − (t − tinit)/(total − tfinal −
   * tinit))³ + target}, rounded down, allocating on the steps divisible by deltaT.
   */
  static Budget schedule(
      long step, int tinit, int tfinal, long total, int deltaT, int init, int target) {
    if (step <= tinit) {
      return new Budget(init, false);
    }
    if (step > total - tfinal) {
      return new Budget(target, true);
    }
    double mul = 1 - (double) (step - tinit) / (total - tfinal - tinit);
    int budget = (int) ((init - target) * Math.pow(mul, 3) + target);
    return new Budget(budget, step % deltaT == 0);
  }

  /** {@link #schedule} with this allocator's layers and options. */
  Budget schedule(long step, long total) {
    return schedule(
        step,
        config.tinit(),
        config.tfinal(),
        total,
        config.deltaT(),
        initBudget(),
        targetBudget());
  }

  /**
   * PEFT's {@code update_ipt}: both EMAs from the parameters after the step and the gradients the
   * step used.
   */
  void updateImportance(Function<String, float[]> values, Function<String, float[]> gradients) {
    float b1 = (float) config.beta1();
    float c1 = (float) (1 - config.beta1());
    float b2 = (float) config.beta2();
    float c2 = (float) (1 - config.beta2());
    for (int t = 0; t < triplets.size(); t++) {
      Triplet tr = triplets.get(t);
      int at = offsets[t];
      for (String name : List.of(tr.a(), tr.e(), tr.b())) {
        float[] p = values.apply(name);
        float[] g = gradients.apply(name);
        for (int i = 0; i < p.length; i++, at++) {
          float now = Math.abs(p[i] * g[i]);
          ipt[at] = b1 * ipt[at] + c1 * now;
          unc[at] = b2 * unc[at] + c2 * Math.abs(now - ipt[at]);
        }
      }
    }
  }

  /** Forgets the EMAs (PEFT's {@code reset_ipt}, once the final allocation is made). */
  void resetImportance() {
    Arrays.fill(ipt, 0f);
    Arrays.fill(unc, 0f);
  }

  /** Every singular value's score, layer by layer: s(E_k) + mean s(A_k·) + mean s(B_·k). */
  float[] scores() {
    float[] scores = new float[initBudget()];
    int k0 = 0;
    for (int t = 0; t < triplets.size(); t++) {
      Triplet tr = triplets.get(t);
      int a = offsets[t];
      int e = a + tr.rank() * tr.in();
      int b = e + tr.rank();
      for (int k = 0; k < tr.rank(); k++) {
        float sumA = 0;
        for (int j = 0; j < tr.in(); j++) {
          sumA += score(a + k * tr.in() + j);
        }
        float sumB = 0;
        for (int o = 0; o < tr.out(); o++) {
          sumB += score(b + o * tr.rank() + k);
        }
        scores[k0 + k] = score(e + k) + (sumA / tr.in() + sumB / tr.out());
      }
      k0 += tr.rank();
    }
    return scores;
  }

  private float score(int i) {
    return ipt[i] * unc[i];
  }

  /**
   * PEFT's {@code mask_to_budget}: prunes the singular values whose score is at most the {@code
   * initBudget − budget}-th smallest, records the pattern and returns each layer's E with the
   * pruned entries zeroed.
   *
   * @param values the current E of a layer, by name
   */
  Map<String, float[]> maskToBudget(int budget, Function<String, float[]> values) {
    float[] scores = scores();
    int k = initBudget() - budget;
    float threshold = Float.NEGATIVE_INFINITY;
    if (k > 0) {
      float[] sorted = scores.clone();
      Arrays.sort(sorted);
      threshold = sorted[k - 1];
    }
    for (int i = 0; i < scores.length; i++) {
      pattern[i] = scores[i] <= threshold ? 0f : 1f;
    }
    return applyPattern(values);
  }

  /** PEFT's {@code mask_using_rank_pattern}: each layer's E with the pruned entries zeroed. */
  Map<String, float[]> applyPattern(Function<String, float[]> values) {
    Map<String, float[]> masked = new LinkedHashMap<>();
    int k0 = 0;
    for (Triplet tr : triplets) {
      float[] e = values.apply(tr.e()).clone();
      for (int k = 0; k < tr.rank(); k++) {
        if (pattern[k0 + k] == 0f) {
          e[k] = 0f;
        }
      }
      masked.put(tr.e(), e);
      k0 += tr.rank();
    }
    return masked;
  }

  /** Whether an allocation has been made, so that a rank pattern exists. */
  boolean allocated() {
    return pattern.length > 0 && pattern[0] >= 0;
  }

  /** Which singular values of a layer are kept, or null before the first allocation. */
  boolean[] kept(int triplet) {
    if (!allocated()) {
      return null;
    }
    int k0 = 0;
    for (int t = 0; t < triplet; t++) {
      k0 += triplets.get(t).rank();
    }
    boolean[] kept = new boolean[triplets.get(triplet).rank()];
    for (int k = 0; k < kept.length; k++) {
      kept[k] = pattern[k0 + k] != 0f;
    }
    return kept;
  }
}
