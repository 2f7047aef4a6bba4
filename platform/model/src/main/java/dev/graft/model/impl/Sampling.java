package dev.graft.model.impl;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Choosing the next token from logits, with the semantics of Hugging Face's logits processors and
 * warpers, applied in their order: repetition penalty, temperature, top-k, top-p.
 */
public final class Sampling {

  private Sampling() {}

  /**
   * Repetition penalty ({@code RepetitionPenaltyLogitsProcessor}): for every token already in the
   * sequence, {@code logit < 0 ? logit * penalty : logit / penalty}. Modifies {@code logits}.
   *
   * @param seen whether each token id occurs in the prompt or the tokens generated so far
   */
  public static void penalize(double[] logits, boolean[] seen, double penalty) {
    if (penalty == 1) {
      return;
    }
    for (int i = 0; i < logits.length; i++) {
      if (seen[i]) {
        logits[i] = logits[i] < 0 ? logits[i] * penalty : logits[i] / penalty;
      }
    }
  }

  /** The index of the largest logit, the first one on ties (as {@code torch.argmax}). */
  public static int argmax(double[] logits) {
    int best = 0;
    for (int i = 1; i < logits.length; i++) {
      if (logits[i] > logits[best]) {
        best = i;
      }
    }
    return best;
  }

  /**
   * Draws a token from {@code softmax(logits / temperature)} restricted to the {@code topK} most
   * likely tokens (0: all; ties with the k-th are kept, as {@code TopKLogitsWarper}) and then to
   * the smallest set of most likely tokens whose probability reaches {@code topP} ({@code
   * TopPLogitsWarper}: a token is kept while the tokens ranked above it sum to less than {@code
   * topP}).
   */
  public static int sample(
      double[] logits, double temperature, int topK, double topP, SplittableRandom rng) {
    int n = logits.length;
    Integer[] order = new Integer[n];
    Arrays.setAll(order, i -> i);
    // Most likely first; the stable sort keeps ids ascending among equal logits.
    Arrays.sort(order, (a, b) -> Double.compare(logits[b], logits[a]));
    int kept = n;
    if (topK > 0 && topK < n) {
      double kth = logits[order[topK - 1]];
      kept = topK;
      while (kept < n && logits[order[kept]] == kth) {
        kept++;
      }
    }
    // Probabilities of the kept tokens: exp((l - max) / T) / sum.
    double max = logits[order[0]];
    double[] p = new double[kept];
    double sum = 0;
    for (int r = 0; r < kept; r++) {
      p[r] = Math.exp((logits[order[r]] - max) / temperature);
      sum += p[r];
    }
    if (topP < 1) {
      double above = 0;
      int r = 0;
      while (r < kept && above < topP) {
        above += p[r] / sum;
        r++;
      }
      kept = Math.max(r, 1);
    }
    double total = 0;
    for (int r = 0; r < kept; r++) {
      total += p[r];
    }
    double u = rng.nextDouble() * total;
    for (int r = 0; r < kept - 1; r++) {
      u -= p[r];
      if (u < 0) {
        return order[r];
      }
    }
    return order[kept - 1];
  }
}
