package dev.graft.api.train;

import java.nio.file.Path;
import java.util.Map;
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

  /** The folder the job writes checkpoints, metrics, report and adapter to. */
  Path outputDirectory();

  /**
   * Asks the job to stop after the current step and write a checkpoint. Returns at once; the state
   * becomes {@link JobState#CANCELLED} when the checkpoint is written.
   */
  void cancel();
}
