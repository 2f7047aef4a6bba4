package dev.graft.api.train;

/** Where a job is in its life. */
public enum JobState {
  QUEUED,
  RUNNING,
  /** Finished all steps and saved its result. */
  COMPLETED,
  /** Stopped on request, or because a method or backend it used went away; it can be resumed. */
  CANCELLED,
  /** Stopped on an error (for example a NaN loss); the last good checkpoint stays. */
  FAILED;

  /** Whether the job will change no more. */
  public boolean isFinal() {
    return this != QUEUED && this != RUNNING;
  }
}
