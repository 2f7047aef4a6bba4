package dev.graft.train.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.graft.api.train.JobState;
import dev.graft.api.train.JobStatus;
import java.io.DataInputStream;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * report.html as a real browser renders it: headless Chromium (Debian's {@code chromium}; {@code
 * .ci/run} installs it) lays out every curve with one point per step and logs nothing to its
 * console; the screenshot is a PNG of the window's size. Skipped where no Chromium is installed.
 */
class ReportInBrowserTest {
  private static final int STEPS = 37;

  @TempDir Path dir;
  private Chromium chromium;
  private Path report;

  @BeforeEach
  void writeReport() {
    chromium = Chromium.find().orElse(null);
    Assumptions.assumeTrue(
        chromium != null, "no Chromium installed (apt-get install chromium): skipping");
    List<Metrics.Row> rows = new ArrayList<>();
    for (int s = 1; s <= STEPS; s++) {
      rows.add(new Metrics.Row(s, 3.0 / s + 0.5, 1e-3 * (1 - s / 40.0), 0.8, 64, 1000, s * 0.1));
    }
    report = dir.resolve("report.html");
    Report.write(
        report,
        "job-1",
        Map.of("method", "lora", "learning_rate", "1e-3"),
        List.of(),
        rows,
        new JobStatus(JobState.COMPLETED, STEPS, STEPS, rows.get(STEPS - 1).loss(), 1000, ""),
        List.of("57 of 60 samples were cut to max_length 128."));
  }

  @Test
  void everyCurveIsLaidOutWithOnePointPerStep() throws Exception {
    // The report itself has no script; a copy with a probe appended asks the layout engine.
    Path probe = dir.resolve("probe.html");
    Files.writeString(
        probe,
        Files.readString(report)
            .replace(
                "</body>",
                "<pre id=\"probe\"></pre><script>"
                    + "document.getElementById('probe').textContent = Array.from("
                    + "document.querySelectorAll('svg polyline')).map(p => p.points.numberOfItems"
                    + " + ':' + Math.round(p.getBBox().width) + ':' + Math.round(p.getTotalLength()))"
                    + ".join(' ');</script></body>"));
    String dom = chromium.run(probe, dir.resolve("probe.log"), "--dump-dom");
    Matcher m = Pattern.compile("<pre id=\"probe\">([^<]*)</pre>").matcher(dom);
    assertTrue(m.find(), "the probe ran: " + dom);
    String[] curves = m.group(1).trim().split(" ");
    assertEquals(2, curves.length, "loss and learning-rate curves: " + m.group(1));
    for (String curve : curves) {
      String[] f = curve.split(":");
      assertEquals(STEPS, Integer.parseInt(f[0]), "points of " + curve);
      assertEquals(560, Integer.parseInt(f[1]), "laid out across the chart's width: " + curve);
      assertTrue(Integer.parseInt(f[2]) > 560, "a line, not a dot: " + curve);
    }
  }

  @Test
  void theReportLogsNothingToTheBrowserConsole() throws Exception {
    Path log = dir.resolve("console.log");
    chromium.run(report, log, "--enable-logging=stderr", "--v=0", "--dump-dom");
    List<String> console =
        Files.readAllLines(log).stream().filter(l -> l.contains(":CONSOLE")).toList();
    assertEquals(List.of(), console);
  }

  @Test
  void theScreenshotIsAPngOfTheWindow() throws Exception {
    Path png = dir.resolve("report.png");
    chromium.screenshot(report, png);
    try (InputStream in = Files.newInputStream(png);
        DataInputStream data = new DataInputStream(in)) {
      byte[] magic = new byte[8];
      data.readFully(magic);
      assertEquals((byte) 0x89, magic[0]);
      assertEquals("PNG", new String(magic, 1, 3, java.nio.charset.StandardCharsets.US_ASCII));
      data.readInt(); // IHDR length
      data.readInt(); // "IHDR"
      assertEquals(800, data.readInt(), "width");
      assertEquals(1200, data.readInt(), "height");
    }
    assertEquals(List.of(png), Files.list(dir).filter(p -> p.toString().endsWith(".png")).toList());
  }
}
