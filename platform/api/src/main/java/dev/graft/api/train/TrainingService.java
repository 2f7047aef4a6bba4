package dev.graft.api.train;

import dev.graft.api.OptionDescriptor;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.osgi.annotation.versioning.ProviderType;

/** Runs training jobs in the background. */
@ProviderType
public interface TrainingService {
  /**
   * Checks a job specification and starts the job.
   *
   * @param spec job keys and values, as read from a job file, a configuration or the shell
   * @throws IllegalArgumentException for an unknown key (naming the nearest known one), a bad
   *     value, an unknown method or backend, or a missing model or dataset
   */
  Job submit(Map<String, String> spec);

  /**
   * Reads a job file ({@code .properties}, {@code .yaml}, {@code .yml} or {@code .json}), applies
   * {@code overrides} on top, and submits the result like {@link #submit(Map)}.
   *
   * @throws IllegalArgumentException naming the file when it is missing or malformed, or as {@link
   *     #submit(Map)} does
   */
  Job submit(Path jobFile, Map<String, String> overrides);

  /**
   * Checks a job file like {@link #submit(Path, Map)} and starts the job in a background process of
   * its own, which outlives the caller's process and writes its output to {@code job.log} in the
   * job's folder. Where no such process can be started (an embedding host), the job runs in this
   * process as {@link #submit(Path, Map)} runs it.
   *
   * @throws IllegalArgumentException as {@link #submit(Path, Map)} does
   * @since 1.1
   */
  default Job submitInBackground(Path jobFile, Map<String, String> overrides) {
    return submit(jobFile, overrides);
  }

  /** Every key a job specification may set, with its type, default and help. */
  List<OptionDescriptor> jobKeys();

  /**
   * Every job this service knows, newest first: those it runs and those whose folders other
   * processes of the same Graft home left (or are running).
   */
  List<Job> jobs();

  /** The job with this id. */
  Optional<Job> job(String id);

  /**
   * Continues a cancelled, failed or interrupted job from its last checkpoint.
   *
   * @throws IllegalArgumentException for an unknown id
   * @throws IllegalStateException if the job is running or has no checkpoint
   */
  Job resume(String id);

  /**
   * Continues a job like {@link #resume(String)}, in a background process of its own as {@link
   * #submitInBackground} starts one.
   *
   * @throws IllegalArgumentException for an unknown id
   * @throws IllegalStateException if the job is running or has no checkpoint
   * @since 1.1
   */
  default Job resumeInBackground(String id) {
    return resume(id);
  }
}
