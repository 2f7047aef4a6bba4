package dev.graft.shell;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.graft.api.progress.Progress;
import dev.graft.api.progress.ProgressEvent;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The progress line of long work: in place on a terminal, plain lines when piped. */
class ProgressLineTest {
  private static final long MS = 1_000_000L;

  private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
  private final PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
  private long now;

  private String printed() {
    return bytes.toString(StandardCharsets.UTF_8);
  }

  /** Loads 40 tensors, one every {@code everyMs}, through a line on a terminal or not. */
  private void load(boolean terminal, long everyMs) {
    ProgressLine line = new ProgressLine(out, terminal, () -> now);
    Progress.reportingTo(
        line,
        () -> {
          try (Progress.Task task = Progress.start("loading weights", 40, "tensors")) {
            for (int i = 0; i < 40; i++) {
              now += everyMs * MS;
              task.advance(1);
            }
          }
          return null;
        });
  }

  @Test
  void aTerminalRedrawsOneLineInPlaceAtMostTenTimesASecondAndKeepsItAtTheEnd() {
    load(true, 50); // 2 s in all: a redraw every other tensor
    String text = printed();
    List<String> draws = List.of(text.split("\r", -1)).subList(1, text.split("\r", -1).length);
    assertEquals(22, draws.size(), text); // the start, 20 redraws, the end
    assertEquals(
        "loading weights [######..................] 10/40 tensors | 20.0 tensors/s | ETA 0:02"
            + ProgressLine.ERASE,
        draws.get(5));
    assertEquals(
        "loading weights [########################] 40/40 tensors | 20.0 tensors/s | 2.0 s"
            + ProgressLine.ERASE
            + "\n",
        draws.get(21));
  }

  @Test
  void aTerminalErasesTheLineOfATaskThatEndsWithinASecond() {
    load(true, 10);
    String text = printed();
    assertEquals("\r" + ProgressLine.ERASE, text.substring(text.lastIndexOf('\r')));
    assertEquals(-1, text.indexOf('\n'), text);
  }

  @Test
  void aNoteJustBeforeTheEndOfALongTaskDoesNotLoseItsKeptLine() {
    ProgressLine line = new ProgressLine(out, true, () -> now);
    Progress.reportingTo(
        line,
        () -> {
          try (Progress.Task task = Progress.start("loading weights", 2, "tensors")) {
            now += 1500 * MS;
            task.advance(2);
            Progress.note("1 of 2 tensors was converted from bfloat16.");
          }
          return null;
        });
    String text = printed();
    assertEquals(
        "graft: 1 of 2 tensors was converted from bfloat16.\n\r"
            + "loading weights [########################] 2/2 tensors | 1.3 tensors/s | 1.5 s"
            + ProgressLine.ERASE
            + "\n",
        text.substring(text.indexOf("graft:")));
  }

  @Test
  void pipedAQuickTaskPrintsNothing() {
    load(false, 40); // 1.6 s
    assertEquals("", printed());
  }

  @Test
  void pipedALongTaskPrintsALineEveryTenSecondsAndItsEnd() {
    load(false, 1000); // 40 s
    assertEquals(
        List.of(
            "loading weights [#.......................] 2/40 tensors | 1.0 tensors/s | ETA 0:38",
            "loading weights [#######.................] 12/40 tensors | 1.0 tensors/s | ETA 0:28",
            "loading weights [#############...........] 22/40 tensors | 1.0 tensors/s | ETA 0:18",
            "loading weights [###################.....] 32/40 tensors | 1.0 tensors/s | ETA 0:08",
            "loading weights [########################] 40/40 tensors | 1.0 tensors/s | 40.0 s"),
        printed().lines().toList());
  }

  @Test
  void bytesShowAsSizesAndATaskWithoutACountAsItsTime() {
    assertEquals(
        "writing model.safetensors [############............] 1.00 GB/2.00 GB | 250.0 MB/s"
            + " | ETA 0:04",
        ProgressLine.line(
            new ProgressEvent(
                "writing model.safetensors", 1_000_000_000, 2_000_000_000L, "bytes", false),
            4));
    assertEquals(
        "starting ONNX Runtime | 3.2 s",
        ProgressLine.line(new ProgressEvent("starting ONNX Runtime", 0, 0, "", false), 3.2));
  }
}
