package dev.graft.api.progress;

/**
 * Where one task stands.
 *
 * @param task what is being done, in a few lower-case words, e.g. {@code "loading weights"}
 * @param done units done so far
 * @param total units in all, or 0 when the work cannot say (then only the time is shown)
 * @param unit what a unit is, in the plural, e.g. {@code "tensors"}, {@code "samples"}; empty for a
 *     task without a count
 * @param finished whether the task has ended (completed or not); its last event
 */
public record ProgressEvent(String task, long done, long total, String unit, boolean finished) {}
