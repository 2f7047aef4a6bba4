package dev.graft.api.train;

/**
 * A snapshot of a job's progress.
 *
 * @param state where the job is
 * @param step optimizer steps done
 * @param totalSteps optimizer steps planned
 * @param loss the latest training loss, NaN before the first step
 * @param tokensPerSecond recent training throughput
 * @param message for a cancelled or failed job, one sentence saying why; empty otherwise
 */
public record JobStatus(
    JobState state,
    long step,
    long totalSteps,
    double loss,
    double tokensPerSecond,
    String message) {}
