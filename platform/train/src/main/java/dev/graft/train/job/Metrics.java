package dev.graft.train.job;

import dev.graft.model.AtomicFiles;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A job's {@code metrics.csv}: one row per optimizer step, flushed as it is written so that a crash
 * loses at most the step in flight. A resumed job keeps the rows up to its checkpoint.
 */
final class Metrics {
  static final String HEADER =
      "step,loss,learning_rate,grad_norm,tokens,tokens_per_second,elapsed_seconds";

  /** One row. {@code step} counts from 1 (steps done). */
  record Row(
      long step,
      double loss,
      double learningRate,
      double gradNorm,
      long tokens,
      double tokensPerSecond,
      double elapsedSeconds) {
    String csv() {
      return String.format(
          Locale.ROOT,
          "%d,%.6f,%.6e,%.6f,%d,%.1f,%.3f",
          step,
          loss,
          learningRate,
          gradNorm,
          tokens,
          tokensPerSecond,
          elapsedSeconds);
    }

    /** A row, or none for a line a crash cut short while it was appended. */
    static java.util.Optional<Row> tryParse(String line) {
      try {
        return java.util.Optional.of(parse(line));
      } catch (RuntimeException torn) {
        return java.util.Optional.empty();
      }
    }

    static Row parse(String line) {
      String[] f = line.split(",");
      return new Row(
          Long.parseLong(f[0]),
          Double.parseDouble(f[1]),
          Double.parseDouble(f[2]),
          Double.parseDouble(f[3]),
          Long.parseLong(f[4]),
          Double.parseDouble(f[5]),
          Double.parseDouble(f[6]));
    }
  }

  private final Path file;
  private final List<Row> rows = new ArrayList<>();

  /** Opens the file, keeping the rows of steps up to {@code keepUpTo} (0 starts afresh). */
  Metrics(Path file, long keepUpTo) {
    this.file = file;
    try {
      if (keepUpTo > 0 && Files.exists(file)) {
        for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
          if (!line.isBlank() && !line.equals(HEADER)) {
            Row.tryParse(line).filter(row -> row.step() <= keepUpTo).ifPresent(rows::add);
          }
        }
      }
      StringBuilder content = new StringBuilder(HEADER).append('\n');
      rows.forEach(r -> content.append(r.csv()).append('\n'));
      AtomicFiles.writeString(file, content);
    } catch (IOException e) {
      throw new UncheckedIOException("Could not write " + file + ": " + e.getMessage(), e);
    }
  }

  /** The last row of a metrics file, without changing it; empty when it has none or is absent. */
  static java.util.Optional<Row> last(Path file) {
    if (!Files.isRegularFile(file)) {
      return java.util.Optional.empty();
    }
    try {
      List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
      for (int i = lines.size() - 1; i >= 0; i--) {
        if (!lines.get(i).isBlank() && !lines.get(i).equals(HEADER)) {
          java.util.Optional<Row> row = Row.tryParse(lines.get(i));
          if (row.isPresent()) {
            return row;
          }
        }
      }
      return java.util.Optional.empty();
    } catch (IOException e) {
      throw new UncheckedIOException("Could not read " + file + ": " + e.getMessage(), e);
    }
  }

  void add(Row row) {
    rows.add(row);
    try (BufferedWriter out =
        Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.APPEND)) {
      out.write(row.csv());
      out.newLine();
    } catch (IOException e) {
      throw new UncheckedIOException("Could not write " + file + ": " + e.getMessage(), e);
    }
  }

  List<Row> rows() {
    return List.copyOf(rows);
  }
}
