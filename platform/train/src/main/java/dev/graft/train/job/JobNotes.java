package dev.graft.train.job;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;

/**
 * A job's {@code notes.txt}: the sentences its runs noted about their input and setup (samples cut
 * to {@code max_length}, parameters trained), one a line, each once, so that a job seen from
 * another process, its report and its folder keep what the run said.
 */
final class JobNotes {
  /** The file in a job's folder. */
  static final String FILE = "notes.txt";

  private JobNotes() {}

  /**
   * The notes in {@code dir}, in the order they were made; none when it has no file or the file
   * cannot be read (notes are for reading, never a reason for a job to fail).
   */
  static List<String> read(Path dir) {
    try {
      return Files.readAllLines(dir.resolve(FILE), StandardCharsets.UTF_8).stream()
          .filter(line -> !line.isBlank())
          .toList();
    } catch (IOException e) {
      return List.of();
    }
  }

  /** Adds one note at the end of the file in {@code dir}, on a line of its own. */
  static void append(Path dir, String note) {
    try {
      Files.writeString(
          dir.resolve(FILE),
          note.replace('\n', ' ') + "\n",
          StandardCharsets.UTF_8,
          StandardOpenOption.CREATE,
          StandardOpenOption.APPEND);
    } catch (IOException e) {
      throw new UncheckedIOException(
          "Could not write " + dir.resolve(FILE) + ": " + e.getMessage(), e);
    }
  }
}
