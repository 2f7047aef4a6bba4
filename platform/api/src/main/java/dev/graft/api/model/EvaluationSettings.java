package dev.graft.api.model;

import java.util.Map;
import java.util.Objects;

/**
 * How to read and batch evaluation data; names and defaults follow the training job keys.
 *
 * @param dataFormat {@code auto} (detected from the first line), {@code text}, {@code
 *     prompt_completion}, {@code instruction} or {@code messages}
 * @param dataColumns format field → field in the file, e.g. {@code prompt → question}
 * @param maxLength tokens per sample; longer samples are cut, as in training, to it or to the
 *     model's context ({@code max_position_embeddings}), whichever is less
 * @param batchSize samples per forward run
 * @param maxSamples evaluate at most this many samples; 0 for all
 * @param backend the compute backend's name, e.g. {@code cpu}
 * @param completionOnlyLoss prompt/completion data: the loss covers the completion only
 * @param assistantOnlyLoss conversations: the loss covers assistant turns only
 * @param raw render samples as plain data, without the sample format saved beside the adapter or
 *     model ({@link ModelService#sampleFormat})
 * @param task the task an adapter conditioned on tasks serves (MoELoRA's {@code task} option), or
 *     empty for none
 */
public record EvaluationSettings(
    String dataFormat,
    Map<String, String> dataColumns,
    int maxLength,
    int batchSize,
    int maxSamples,
    String backend,
    boolean completionOnlyLoss,
    boolean assistantOnlyLoss,
    boolean raw,
    String task) {

  /**
   * Checks the ranges and copies the column map.
   *
   * @throws IllegalArgumentException naming the setting and its value
   */
  public EvaluationSettings {
    Objects.requireNonNull(dataFormat, "dataFormat");
    Objects.requireNonNull(backend, "backend");
    Objects.requireNonNull(task, "task");
    dataColumns = Map.copyOf(dataColumns);
    GenerationSettings.require(maxLength >= 2, "max_length must be at least 2, not " + maxLength);
    GenerationSettings.require(
        batchSize >= 1, "The batch size must be at least 1, not " + batchSize);
    GenerationSettings.require(
        maxSamples >= 0, "max_samples must be 0 (all) or more, not " + maxSamples);
    GenerationSettings.require(!backend.isBlank(), "Name a backend, such as cpu");
  }

  /** These settings for an adapter without tasks (as before {@code task} existed). */
  public EvaluationSettings(
      String dataFormat,
      Map<String, String> dataColumns,
      int maxLength,
      int batchSize,
      int maxSamples,
      String backend,
      boolean completionOnlyLoss,
      boolean assistantOnlyLoss,
      boolean raw) {
    this(
        dataFormat,
        dataColumns,
        maxLength,
        batchSize,
        maxSamples,
        backend,
        completionOnlyLoss,
        assistantOnlyLoss,
        raw,
        "");
  }

  /** These settings with the saved sample format applied (as before {@code raw} existed). */
  public EvaluationSettings(
      String dataFormat,
      Map<String, String> dataColumns,
      int maxLength,
      int batchSize,
      int maxSamples,
      String backend,
      boolean completionOnlyLoss,
      boolean assistantOnlyLoss) {
    this(
        dataFormat,
        dataColumns,
        maxLength,
        batchSize,
        maxSamples,
        backend,
        completionOnlyLoss,
        assistantOnlyLoss,
        false,
        "");
  }

  /**
   * Detected format, 1024 tokens (at most the model's context), batches of 8, every sample, the CPU
   * backend, training's masks, the saved sample format.
   */
  public static EvaluationSettings defaults() {
    return new EvaluationSettings("auto", Map.of(), 1024, 8, 0, "cpu", true, true, false, "");
  }

  /** These settings with another sample limit (0 for all). */
  public EvaluationSettings withMaxSamples(int limit) {
    return new EvaluationSettings(
        dataFormat,
        dataColumns,
        maxLength,
        batchSize,
        limit,
        backend,
        completionOnlyLoss,
        assistantOnlyLoss,
        raw,
        task);
  }

  /** These settings with samples rendered as plain data ({@code true}) or in the saved format. */
  public EvaluationSettings withRaw(boolean raw) {
    return new EvaluationSettings(
        dataFormat,
        dataColumns,
        maxLength,
        batchSize,
        maxSamples,
        backend,
        completionOnlyLoss,
        assistantOnlyLoss,
        raw,
        task);
  }

  /** These settings for the task {@code task} of an adapter conditioned on tasks (MoELoRA). */
  public EvaluationSettings withTask(String task) {
    return new EvaluationSettings(
        dataFormat,
        dataColumns,
        maxLength,
        batchSize,
        maxSamples,
        backend,
        completionOnlyLoss,
        assistantOnlyLoss,
        raw,
        task);
  }
}
