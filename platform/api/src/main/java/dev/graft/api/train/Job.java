package dev.graft.api.train;

import dev.graft.api.progress.ProgressEvent;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.osgi.annotation.versioning.ProviderType;

/** A handle on one training job. */
@ProviderType
public interface Job {
  /** The job's id, unique within its training service. */
  String id();

  /** The specification the job was submitted with, defaults filled in. */
  Map<String, String> spec();

  /** A snapshot of the job's progress. */
  JobStatus status();

  /**
   * The long work the job does besides its steps, while it does it: loading the model, starting its
   * compute sessions, evaluating on validation data. Empty between such work, and for a job of
   * another process.
   *
   * @since 1.2
   */
  default Optional<ProgressEvent> activity() {
    return Optional.empty();
  }

  /**
   * The notes the job made so far, in order: one sentence each about its input or setup, such as
   * how many samples were cut to {@code max_length} or how many parameters train. A job of another
   * process has the notes its folder kept.
   *
   * @since 1.2
   */
  default List<String> notes() {
    return List.of();
  }

  /** The folder the job writes checkpoints, metrics, report and adapter to. */
  Path outputDirectory();

  /**
   * Asks the job to stop after the current step and write a checkpoint. Returns at once; the state
   * becomes {@link JobState#CANCELLED} when the checkpoint is written.
   */
  void cancel();
}
