package dev.graft.api.model;

import java.util.Objects;

/**
 * How to generate, named after Hugging Face's {@code GenerationConfig}.
 *
 * @param maxNewTokens the most tokens to generate, at least 1
 * @param temperature 0 for greedy decoding (always the most likely token); above 0, sample with the
 *     logits divided by it
 * @param topK when sampling, only among the k most likely tokens; 0 for all
 * @param topP when sampling, only among the most likely tokens that together reach this
 *     probability; 1 for all
 * @param repetitionPenalty for tokens already in the text, positive logits are divided and negative
 *     ones multiplied by it; 1 for none
 * @param seed seed of the sampling generator, so a sampled completion can be repeated
 * @param backend the compute backend's name, e.g. {@code cpu}
 * @param raw send the prompt as given, without the sample format saved beside the adapter or model
 *     ({@link ModelService#sampleFormat})
 * @param task the task an adapter conditioned on tasks serves (MoELoRA's {@code task} option), or
 *     empty for none
 */
public record GenerationSettings(
    int maxNewTokens,
    double temperature,
    int topK,
    double topP,
    double repetitionPenalty,
    long seed,
    String backend,
    boolean raw,
    String task) {

  /**
   * Checks the ranges.
   *
   * @throws IllegalArgumentException naming the setting and its value
   */
  public GenerationSettings {
    Objects.requireNonNull(backend, "backend");
    Objects.requireNonNull(task, "task");
    require(maxNewTokens >= 1, "The number of new tokens must be at least 1, not " + maxNewTokens);
    require(temperature >= 0, "Temperature must be 0 (greedy) or above, not " + temperature);
    require(topK >= 0, "Top-k must be 0 (off) or more, not " + topK);
    require(topP > 0 && topP <= 1, "Top-p must be above 0 and at most 1, not " + topP);
    require(repetitionPenalty > 0, "Repetition penalty must be above 0, not " + repetitionPenalty);
    require(!backend.isBlank(), "Name a backend, such as cpu");
  }

  /** These settings for an adapter without tasks (as before {@code task} existed). */
  public GenerationSettings(
      int maxNewTokens,
      double temperature,
      int topK,
      double topP,
      double repetitionPenalty,
      long seed,
      String backend,
      boolean raw) {
    this(maxNewTokens, temperature, topK, topP, repetitionPenalty, seed, backend, raw, "");
  }

  /** These settings with the saved sample format applied (as before {@code raw} existed). */
  public GenerationSettings(
      int maxNewTokens,
      double temperature,
      int topK,
      double topP,
      double repetitionPenalty,
      long seed,
      String backend) {
    this(maxNewTokens, temperature, topK, topP, repetitionPenalty, seed, backend, false);
  }

  /** These settings with the prompt sent as given ({@code true}) or in the saved format. */
  public GenerationSettings withRaw(boolean raw) {
    return new GenerationSettings(
        maxNewTokens, temperature, topK, topP, repetitionPenalty, seed, backend, raw, task);
  }

  /** These settings for the task {@code task} of an adapter conditioned on tasks (MoELoRA). */
  public GenerationSettings withTask(String task) {
    return new GenerationSettings(
        maxNewTokens, temperature, topK, topP, repetitionPenalty, seed, backend, raw, task);
  }

  /**
   * Greedy decoding of at most {@code maxNewTokens} tokens on the CPU backend (sampling settings at
   * Hugging Face's defaults: top-k 50, top-p 1).
   */
  public static GenerationSettings greedy(int maxNewTokens) {
    return new GenerationSettings(maxNewTokens, 0, 50, 1, 1, 0, "cpu");
  }

  static void require(boolean ok, String message) {
    if (!ok) {
      throw new IllegalArgumentException(message + ".");
    }
  }
}
