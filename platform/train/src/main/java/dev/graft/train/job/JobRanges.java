package dev.graft.train.job;

import dev.graft.api.Options;
import java.util.List;
import java.util.function.DoublePredicate;

/**
 * The ranges of the numeric job keys, checked when a job is parsed so that a zero batch, a negative
 * learning rate or a ratio above one is refused before any file is written, in one sentence that
 * names the key, the value and what it must be.
 */
final class JobRanges {
  private JobRanges() {}

  /** One key's range: {@code ok} tests the value, {@code must} says it in words. */
  private record Range(String key, DoublePredicate ok, String must) {}

  private static final List<Range> RANGES =
      List.of(
          // 0 is allowed, as in Hugging Face: a job that only saves its methods' initial values.
          new Range("learning_rate", v -> v >= 0, "0 or more, e.g. 2e-4"),
          new Range("num_train_epochs", v -> v > 0, "more than 0"),
          new Range(
              "max_steps", v -> v >= 1 || v == -1, "at least 1, or -1 to train num_train_epochs"),
          new Range("per_device_train_batch_size", v -> v >= 1, "at least 1"),
          new Range("gradient_accumulation_steps", v -> v >= 1, "at least 1"),
          new Range("max_length", v -> v >= 2, "at least 2 (a token and the one it predicts)"),
          new Range("max_samples", v -> v >= 0, "0 (all samples) or more"),
          new Range("validation_split", v -> v >= 0 && v < 1, "from 0 up to, not including, 1"),
          new Range("warmup_steps", v -> v >= 0, "0 or more"),
          new Range("warmup_ratio", v -> v >= 0 && v < 1, "from 0 up to, not including, 1"),
          new Range("weight_decay", v -> v >= 0, "0 or more"),
          new Range("adam_beta1", v -> v >= 0 && v < 1, "from 0 up to, not including, 1"),
          new Range("adam_beta2", v -> v >= 0 && v < 1, "from 0 up to, not including, 1"),
          new Range("adam_epsilon", v -> v > 0, "more than 0"),
          new Range("max_grad_norm", v -> v >= 0, "0 (no clipping) or more"),
          new Range("save_steps", v -> v >= 0, "0 (only at the end) or more"),
          new Range("logging_steps", v -> v >= 1, "at least 1"),
          new Range("skip_nonfinite_steps", v -> v >= 0, "0 or more"),
          new Range("eval_steps", v -> v >= 0, "0 (only at the end) or more"),
          new Range("early_stopping_patience", v -> v >= 0, "0 (never stop early) or more"),
          new Range("early_stopping_threshold", v -> v >= 0, "0 or more"));

  /**
   * Refuses the first key whose value is out of its range, and validation keys without validation
   * samples to act on.
   */
  static void check(Options job) {
    for (Range r : RANGES) {
      Object value = job.asMap().get(r.key());
      if (!r.ok().test(((Number) value).doubleValue())) {
        throw new IllegalArgumentException(
            r.key() + " must be " + r.must() + ", not " + value + ".");
      }
    }
    boolean split = job.getDouble("validation_split") > 0;
    if (job.has("eval_data") && split) {
      throw new IllegalArgumentException(
          "The job sets both eval_data and validation_split; validate on one of them, and remove"
              + " the other.");
    }
    if (!job.has("eval_data") && !split) {
      for (String key : List.of("eval_steps", "early_stopping_patience")) {
        if (job.getInt(key) > 0) {
          throw new IllegalArgumentException(needsValidation(key + "=" + job.getInt(key)));
        }
      }
      if (job.getBoolean("save_best")) {
        throw new IllegalArgumentException(needsValidation("save_best=true"));
      }
    }
  }

  private static String needsValidation(String setting) {
    return setting
        + " needs validation samples; set eval_data=<file.jsonl> or validation_split, e.g. 0.1.";
  }
}
