package dev.graft.train.job;

import java.nio.file.Path;

/**
 * The work of one training job, one optimizer step at a time. The {@link JobRunner} drives it:
 * progress, cancellation, checkpoints and failures are its business; the numbers are the run's.
 */
public interface Run extends AutoCloseable {
  /**
   * The names of the metrics each {@link StepResult} reports beside the loss (the objective's, such
   * as DPO's rewards), in column order; none by default.
   */
  default java.util.List<String> metricNames() {
    return java.util.List.of();
  }

  /** Optimizer steps the job makes in all. */
  long totalSteps();

  /**
   * Makes optimizer step {@code step} (counted from 0).
   *
   * @return the step's loss and throughput figures
   */
  StepResult step(long step);

  /**
   * Writes everything needed to continue after {@code stepsDone} steps (trainables, optimizer
   * state, data position, random state) into {@code dir}, an empty folder that the runner renames
   * into place once this returns.
   */
  void saveCheckpoint(Path dir, long stepsDone);

  /** Restores the state a {@link #saveCheckpoint} wrote. Returns the steps done at that point. */
  long restore(Path dir);

  /** Writes the job's result (for example the PEFT adapter) into {@code outputDir}. */
  void finish(Path outputDir);

  /**
   * Whether the job has validation samples ({@code eval_data}, or those {@code validation_split}
   * holds out) whose loss {@link #evaluate} computes; none by default.
   */
  default boolean evaluates() {
    return false;
  }

  /**
   * Writes the result so far into {@code dir}, an empty folder, as {@link #finish} does, and
   * returns the validation loss under it: the mean token cross-entropy of the validation samples.
   * Nothing the training carries changes.
   *
   * @throws IllegalStateException when the run does not {@link #evaluates() evaluate}
   */
  default double evaluate(Path dir) {
    throw new IllegalStateException("The job has no validation samples to evaluate.");
  }

  /** Releases the run's sessions and buffers. */
  @Override
  void close();

  /**
   * What one optimizer step did.
   *
   * @param loss the mean training loss of the step: its micro-batches' losses weighed by their
   *     learned tokens (pairs, for a pairwise objective)
   * @param learningRate the learning rate it used
   * @param gradNorm the gradient norm before clipping, or NaN when not computed
   * @param tokens tokens the step trained on
   * @param nonFinite what became NaN or infinite, e.g. {@code "loss became NaN"}, or empty
   * @param skipped whether the step was skipped without applying its update ({@code
   *     skip_nonfinite_steps}); a non-finite step that was not skipped ends the job
   * @param metrics the objective's metrics by name ({@link Run#metricNames()}), averaged over the
   *     step's micro-batches with the loss's weights
   */
  record StepResult(
      double loss,
      double learningRate,
      double gradNorm,
      long tokens,
      String nonFinite,
      boolean skipped,
      java.util.Map<String, Double> metrics) {
    public StepResult {
      metrics = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(metrics));
    }

    /** A step that was applied; it names a non-finite loss when it has one. */
    public StepResult(double loss, double learningRate, double gradNorm, long tokens) {
      this(loss, learningRate, gradNorm, tokens, java.util.Map.of());
    }

    /** An applied step with the objective's metrics. */
    public StepResult(
        double loss,
        double learningRate,
        double gradNorm,
        long tokens,
        java.util.Map<String, Double> metrics) {
      this(
          loss,
          learningRate,
          gradNorm,
          tokens,
          Double.isFinite(loss) ? "" : "loss became " + loss,
          false,
          metrics);
    }
  }
}
