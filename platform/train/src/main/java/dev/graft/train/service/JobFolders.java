package dev.graft.train.service;

import dev.graft.api.train.JobState;
import dev.graft.api.train.JobStatus;
import dev.graft.train.job.JobRecord;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The jobs of one Graft home: {@code <home>/jobs/<id>}, a folder, or a link to the job's {@code
 * output_dir}. Every process of the home sees the same jobs, and ids are unique among them: a
 * folder is claimed by creating it, which only one process can do.
 */
final class JobFolders {
  private static final DateTimeFormatter STAMP = DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss");

  /** The spec file in each job's folder. */
  static final String SPEC = "job.properties";

  /** Newest first: by time stamp, then by the number after it. */
  static final Comparator<String> NEWEST_FIRST =
      Comparator.comparing((String id) -> id.substring(0, id.lastIndexOf('-') + 1))
          .thenComparingLong(JobFolders::number)
          .thenComparing(Comparator.naturalOrder())
          .reversed();

  private final Path jobs;

  JobFolders(Path jobs) {
    this.jobs = jobs;
  }

  /** A new job: its id and folder. */
  record Created(String id, Path dir) {}

  /**
   * Claims a new id and writes the job's specification into its folder: {@code <home>/jobs/<id>},
   * or {@code outputDir} (linked from there) when not null.
   *
   * @throws IllegalArgumentException when the folder cannot be written
   */
  Created create(Path outputDir, Map<String, String> spec) {
    String stamp = LocalDateTime.now().format(STAMP);
    Path dir = outputDir;
    try {
      Files.createDirectories(jobs);
      for (int n = 1; ; n++) {
        String id = stamp + "-" + n;
        Path claimed = jobs.resolve(id);
        try {
          if (outputDir == null) {
            dir = Files.createDirectory(claimed);
          } else {
            Files.createDirectories(outputDir);
            Files.createSymbolicLink(claimed, outputDir.toAbsolutePath());
          }
        } catch (FileAlreadyExistsException taken) {
          continue;
        }
        if (!Files.isWritable(dir)) {
          throw new IOException("not writable");
        }
        // A queued record first: the folder is listed once it holds the specification, and a
        // folder listed without a record would read as a job that died.
        JobRecord.ofThisProcess(new JobStatus(JobState.QUEUED, 0, 0, Double.NaN, 0, "")).write(dir);
        Properties.write(dir.resolve(SPEC), spec);
        return new Created(id, dir);
      }
    } catch (IOException e) {
      throw new IllegalArgumentException(
          "Output folder "
              + (dir == null ? jobs : dir)
              + " cannot be written ("
              + e.getMessage()
              + "); choose another output_dir.");
    }
  }

  /** The folder of job {@code id}, if it exists and holds a specification. */
  Optional<Path> find(String id) {
    if (id.isEmpty() || id.contains("/") || id.startsWith(".")) {
      return Optional.empty();
    }
    Path dir = jobs.resolve(id);
    return Files.isRegularFile(dir.resolve(SPEC)) ? Optional.of(dir) : Optional.empty();
  }

  /** The ids of every job folder, newest first. */
  List<String> ids() {
    List<String> ids = new ArrayList<>();
    if (!Files.isDirectory(jobs)) {
      return ids;
    }
    try (DirectoryStream<Path> entries = Files.newDirectoryStream(jobs)) {
      for (Path p : entries) {
        String id = p.getFileName().toString();
        if (find(id).isPresent()) {
          ids.add(id);
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("Could not list " + jobs + ": " + e.getMessage(), e);
    }
    ids.sort(NEWEST_FIRST);
    return ids;
  }

  /** The specification in a job's folder. */
  static Map<String, String> spec(Path dir) {
    try {
      return Properties.read(dir.resolve(SPEC));
    } catch (IOException e) {
      throw new UncheckedIOException(
          "Could not read " + dir.resolve(SPEC) + ": " + e.getMessage(), e);
    }
  }

  private static long number(String id) {
    try {
      return Long.parseLong(id.substring(id.lastIndexOf('-') + 1));
    } catch (NumberFormatException e) {
      return -1;
    }
  }
}
