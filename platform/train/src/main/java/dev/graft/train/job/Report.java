package dev.graft.train.job;

import dev.graft.api.train.JobStatus;
import dev.graft.model.AtomicFiles;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.ToDoubleFunction;

/**
 * A job's {@code report.html}: loss and learning-rate curves as inline SVG, the configuration, the
 * throughput and the result. Self-contained: no scripts, fonts or styles from the network.
 */
final class Report {
  private static final int WIDTH = 640;
  private static final int HEIGHT = 220;
  private static final int PAD = 40;

  private Report() {}

  /**
   * Writes the report.
   *
   * @param names the objective's metrics in the rows' {@code extra} columns, one chart each
   * @param notes what the run noted about its input and setup, listed under the status
   */
  static void write(
      Path file,
      String id,
      Map<String, String> spec,
      List<String> names,
      List<Metrics.Row> rows,
      JobStatus status,
      List<String> notes) {
    StringBuilder html = new StringBuilder();
    html.append(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Graft job ")
        .append(escape(id))
        .append("</title>\n<style>body{font-family:sans-serif;margin:2em;max-width:60em}")
        .append(
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}td{word-break:break-all}")
        .append(
            "svg{border:1px solid #ddd;margin:.5em 0}.axis{font-size:11px;fill:#555}</style></head><body>\n");
    html.append("<h1>Graft job ").append(escape(id)).append("</h1>\n");
    html.append("<p><b>")
        .append(status.state())
        .append("</b> after ")
        .append(status.step())
        .append(" of ")
        .append(status.totalSteps())
        .append(" steps");
    if (!rows.isEmpty()) {
      Metrics.Row last = rows.get(rows.size() - 1);
      html.append(
          String.format(
              Locale.ROOT,
              "; final loss %.4f; %.0f tokens/s; %.1f s in all",
              last.loss(),
              last.tokensPerSecond(),
              last.elapsedSeconds()));
    }
    html.append(".</p>\n");
    if (!status.message().isEmpty()) {
      html.append("<p>").append(escape(status.message())).append("</p>\n");
    }
    if (!notes.isEmpty()) {
      html.append("<h2>Notes</h2>\n<ul>\n");
      notes.forEach(note -> html.append("<li>").append(escape(note)).append("</li>\n"));
      html.append("</ul>\n");
    }
    int eval = names.indexOf(TrainingJob.EVAL_LOSS);
    if (eval < 0) {
      html.append("<h2>Loss</h2>\n").append(chart(rows, Metrics.Row::loss, "#c0392b"));
    } else {
      html.append("<h2>Loss</h2>\n<p><span style=\"color:#c0392b\">training loss</span>,")
          .append(" <span style=\"color:#1e8449\">eval_loss</span></p>\n")
          .append(
              chart(
                  rows,
                  List.of(
                      new Series(Metrics.Row::loss, "#c0392b"),
                      new Series(r -> r.extra()[eval], "#1e8449"))));
    }
    html.append("<h2>Learning rate</h2>\n")
        .append(chart(rows, Metrics.Row::learningRate, "#2471a3"));
    for (int i = 0; i < names.size(); i++) {
      if (i == eval) {
        continue; // drawn beside the training loss
      }
      int column = i;
      html.append("<h2>")
          .append(escape(names.get(i)))
          .append("</h2>\n")
          .append(chart(rows, r -> r.extra()[column], "#7d3c98"));
    }
    html.append("<h2>Configuration</h2>\n<table>\n");
    new TreeMap<>(spec)
        .forEach(
            (k, v) ->
                html.append("<tr><th>")
                    .append(escape(k))
                    .append("</th><td>")
                    .append(escape(v))
                    .append("</td></tr>\n"));
    html.append("</table>\n</body></html>\n");
    try {
      AtomicFiles.writeString(file, html);
    } catch (IOException e) {
      throw new UncheckedIOException("Could not write " + file + ": " + e.getMessage(), e);
    }
  }

  /** A line chart of one metric against the step, with its range on the axis. */
  static String chart(List<Metrics.Row> rows, ToDoubleFunction<Metrics.Row> metric, String colour) {
    return chart(rows, List.of(new Series(metric, colour)));
  }

  /** One curve of a chart: a metric of the rows and its colour. */
  record Series(ToDoubleFunction<Metrics.Row> metric, String colour) {}

  /**
   * A line chart of metrics against the step, on one axis that spans them all; a row without a
   * finite value (a skipped step, a step not evaluated) has no point on a curve.
   */
  static String chart(List<Metrics.Row> all, List<Series> series) {
    List<List<Metrics.Row>> curves = new ArrayList<>();
    double min = Double.POSITIVE_INFINITY;
    double max = Double.NEGATIVE_INFINITY;
    long first = Long.MAX_VALUE;
    long last = Long.MIN_VALUE;
    for (Series s : series) {
      List<Metrics.Row> rows =
          all.stream().filter(r -> Double.isFinite(s.metric().applyAsDouble(r))).toList();
      curves.add(rows);
      for (Metrics.Row r : rows) {
        min = Math.min(min, s.metric().applyAsDouble(r));
        max = Math.max(max, s.metric().applyAsDouble(r));
        first = Math.min(first, r.step());
        last = Math.max(last, r.step());
      }
    }
    if (first == Long.MAX_VALUE) {
      return "<p>No steps yet.</p>\n";
    }
    if (max == min) {
      max = min + 1;
    }
    last = Math.max(first + 1, last);
    StringBuilder lines = new StringBuilder();
    for (int i = 0; i < series.size(); i++) {
      StringBuilder points = new StringBuilder();
      for (Metrics.Row r : curves.get(i)) {
        double x = PAD + (double) (r.step() - first) / (last - first) * (WIDTH - 2 * PAD);
        double v = series.get(i).metric().applyAsDouble(r);
        double y = HEIGHT - PAD - (v - min) / (max - min) * (HEIGHT - 2 * PAD);
        points.append(String.format(Locale.ROOT, "%.1f,%.1f ", x, y));
      }
      lines.append(
          String.format(
              Locale.ROOT,
              "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"%s\"/>",
              series.get(i).colour(),
              points.toString().trim()));
    }
    return String.format(
        Locale.ROOT,
        "<svg width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" xmlns=\"http://www.w3.org/2000/svg\">"
            + "%s"
            + "<text class=\"axis\" x=\"4\" y=\"%d\">%.4g</text><text class=\"axis\" x=\"4\" y=\"%d\">%.4g</text>"
            + "<text class=\"axis\" x=\"%d\" y=\"%d\">step %d</text><text class=\"axis\" x=\"%d\" y=\"%d\">step %d</text></svg>\n",
        WIDTH,
        HEIGHT,
        WIDTH,
        HEIGHT,
        lines,
        PAD - 6,
        max,
        HEIGHT - PAD + 4,
        min,
        PAD,
        HEIGHT - 8,
        first,
        WIDTH - PAD - 50,
        HEIGHT - 8,
        last);
  }

  static String escape(String text) {
    return text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\"", "&quot;");
  }
}
