package dev.graft.train.step;

/**
 * Learning-rate schedules with linear warm-up, as Hugging Face's {@code
 * get_{linear,cosine,constant}_schedule_with_warmup}: optimizer step {@code s} (counted from 0)
 * uses {@code peak · factor(s)}, so with warm-up the first step's rate is 0, exactly as there.
 *
 * @param type linear, cosine or constant after warm-up
 * @param peak the learning rate after warm-up
 * @param warmupSteps steps of linear warm-up from 0
 * @param totalSteps all optimizer steps of the job
 */
public record Schedule(Type type, double peak, long warmupSteps, long totalSteps) {
  /** The shape after warm-up. */
  public enum Type {
    LINEAR,
    COSINE,
    CONSTANT
  }

  /** Checks the step counts. */
  public Schedule {
    if (totalSteps <= 0) {
      throw new IllegalArgumentException(
          "A schedule needs at least one step, not " + totalSteps + ".");
    }
    if (warmupSteps < 0 || warmupSteps > totalSteps) {
      throw new IllegalArgumentException(
          "Warm-up of " + warmupSteps + " steps does not fit in " + totalSteps + " steps.");
    }
  }

  /**
   * The warm-up length for HF's {@code warmup_steps} and {@code warmup_ratio}: the steps if
   * positive, else {@code ceil(ratio · total)}.
   */
  public static long warmup(long warmupSteps, double warmupRatio, long totalSteps) {
    return warmupSteps > 0 ? warmupSteps : (long) Math.ceil(warmupRatio * totalSteps);
  }

  /** The learning rate of optimizer step {@code step} (0 for the first). */
  public double at(long step) {
    if (step < warmupSteps) {
      return peak * step / Math.max(1, warmupSteps);
    }
    double progress = (double) (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps);
    return switch (type) {
      case CONSTANT -> peak;
      case LINEAR -> peak * Math.max(0, 1 - progress);
      // HF: 0.5 · (1 + cos(π · num_cycles · 2 · progress)) with num_cycles = 0.5.
      case COSINE -> peak * Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
    };
  }
}
