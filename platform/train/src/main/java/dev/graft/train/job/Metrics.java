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
 * loses at most the step in flight. A resumed job keeps the rows up to its checkpoint. The
 * objective's own metrics (DPO's {@code rewards/chosen}, …) follow the fixed columns, one column
 * each, named in the header, and then, for a job that validates, {@code eval_loss}, empty on the
 * steps that were not evaluated.
 */
final class Metrics {
  static final String HEADER =
      "step,loss,learning_rate,grad_norm,tokens,tokens_per_second,elapsed_seconds";

  /**
   * One row. {@code step} counts from 1 (steps done).
   *
   * @param extra the objective's metrics, in the file's column order
   */
  record Row(
      long step,
      double loss,
      double learningRate,
      double gradNorm,
      long tokens,
      double tokensPerSecond,
      double elapsedSeconds,
      double[] extra) {
    /** A row without metrics of the objective. */
    Row(
        long step,
        double loss,
        double learningRate,
        double gradNorm,
        long tokens,
        double tokensPerSecond,
        double elapsedSeconds) {
      this(
          step,
          loss,
          learningRate,
          gradNorm,
          tokens,
          tokensPerSecond,
          elapsedSeconds,
          new double[0]);
    }

    String csv() {
      StringBuilder line =
          new StringBuilder(
              String.format(
                  Locale.ROOT,
                  "%d,%.6f,%.6e,%.6f,%d,%.1f,%.3f",
                  step,
                  loss,
                  learningRate,
                  gradNorm,
                  tokens,
                  tokensPerSecond,
                  elapsedSeconds));
      for (double x : extra) {
        // A column with no value at this step (eval_loss between evaluations) stays empty.
        line.append(Double.isNaN(x) ? "," : String.format(Locale.ROOT, ",%.6g", x));
      }
      return line.toString();
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
      String[] f = line.split(",", -1);
      double[] extra = new double[f.length - 7];
      for (int i = 0; i < extra.length; i++) {
        extra[i] = f[7 + i].isEmpty() ? Double.NaN : Double.parseDouble(f[7 + i]);
      }
      return new Row(
          Long.parseLong(f[0]),
          Double.parseDouble(f[1]),
          Double.parseDouble(f[2]),
          Double.parseDouble(f[3]),
          Long.parseLong(f[4]),
          Double.parseDouble(f[5]),
          Double.parseDouble(f[6]),
          extra);
    }
  }

  private final Path file;
  private final List<String> names;
  private final List<Row> rows = new ArrayList<>();

  /** Opens the file, keeping the rows of steps up to {@code keepUpTo} (0 starts afresh). */
  Metrics(Path file, long keepUpTo) {
    this(file, keepUpTo, List.of());
  }

  /**
   * Opens the file with a column for each of the objective's metrics {@code names}, keeping the
   * rows of steps up to {@code keepUpTo} (0 starts afresh).
   */
  Metrics(Path file, long keepUpTo, List<String> names) {
    this.file = file;
    this.names = List.copyOf(names);
    String header = header(names);
    try {
      if (keepUpTo > 0 && Files.exists(file)) {
        for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
          if (!line.isBlank() && !line.startsWith("step,")) {
            Row.tryParse(line).filter(row -> row.step() <= keepUpTo).ifPresent(rows::add);
          }
        }
      }
      StringBuilder content = new StringBuilder(header).append('\n');
      rows.forEach(r -> content.append(r.csv()).append('\n'));
      AtomicFiles.writeString(file, content);
    } catch (IOException e) {
      throw new UncheckedIOException("Could not write " + file + ": " + e.getMessage(), e);
    }
  }

  /** The header line: the fixed columns, then one per metric of the objective. */
  static String header(List<String> names) {
    return names.isEmpty() ? HEADER : HEADER + "," + String.join(",", names);
  }

  /** The objective's metric names, the columns after the fixed ones. */
  List<String> names() {
    return names;
  }

  /** The last row of a metrics file, without changing it; empty when it has none or is absent. */
  static java.util.Optional<Row> last(Path file) {
    if (!Files.isRegularFile(file)) {
      return java.util.Optional.empty();
    }
    try {
      List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
      for (int i = lines.size() - 1; i >= 0; i--) {
        if (!lines.get(i).isBlank() && !lines.get(i).startsWith("step,")) {
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
