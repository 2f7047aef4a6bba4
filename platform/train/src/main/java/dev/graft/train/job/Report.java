package dev.graft.train.job;

import dev.graft.api.train.JobStatus;
import dev.graft.model.AtomicFiles;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
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
   */
  static void write(
      Path file,
      String id,
      Map<String, String> spec,
      List<String> names,
      List<Metrics.Row> rows,
      JobStatus status) {
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
    html.append("<h2>Loss</h2>\n").append(chart(rows, Metrics.Row::loss, "#c0392b"));
    html.append("<h2>Learning rate</h2>\n")
        .append(chart(rows, Metrics.Row::learningRate, "#2471a3"));
    for (int i = 0; i < names.size(); i++) {
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
    // A skipped non-finite step has no point on the curve.
    rows = rows.stream().filter(r -> Double.isFinite(metric.applyAsDouble(r))).toList();
    if (rows.isEmpty()) {
      return "<p>No steps yet.</p>\n";
    }
    double min = rows.stream().mapToDouble(metric).min().orElse(0);
    double max = rows.stream().mapToDouble(metric).max().orElse(1);
    if (max == min) {
      max = min + 1;
    }
    long first = rows.get(0).step();
    long last = Math.max(first + 1, rows.get(rows.size() - 1).step());
    StringBuilder points = new StringBuilder();
    for (Metrics.Row r : rows) {
      double x = PAD + (double) (r.step() - first) / (last - first) * (WIDTH - 2 * PAD);
      double y = HEIGHT - PAD - (metric.applyAsDouble(r) - min) / (max - min) * (HEIGHT - 2 * PAD);
      points.append(String.format(Locale.ROOT, "%.1f,%.1f ", x, y));
    }
    return String.format(
        Locale.ROOT,
        "<svg width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" xmlns=\"http://www.w3.org/2000/svg\">"
            + "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"%s\"/>"
            + "<text class=\"axis\" x=\"4\" y=\"%d\">%.4g</text><text class=\"axis\" x=\"4\" y=\"%d\">%.4g</text>"
            + "<text class=\"axis\" x=\"%d\" y=\"%d\">step %d</text><text class=\"axis\" x=\"%d\" y=\"%d\">step %d</text></svg>\n",
        WIDTH,
        HEIGHT,
        WIDTH,
        HEIGHT,
        colour,
        points.toString().trim(),
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
