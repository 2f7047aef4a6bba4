package dev.graft.train.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The metrics an objective reports beside the loss (DPO's rewards) reach every place a job reports
 * to: metrics.csv columns, the progress events and a chart in report.html; a resumed job keeps its
 * earlier rows with their metrics.
 */
class ObjectiveMetricsTest {
  @TempDir Path out;

  private final List<Map<String, Object>> progress = new ArrayList<>();

  /** {@link TrainingJobTest.ToyRun} that also reports {@code rewards/margins} = step / 10. */
  private static TrainingJobTest.ToyRun run(long total, Runnable onStep) {
    return new TrainingJobTest.ToyRun(total, -1, onStep) {
      @Override
      public List<String> metricNames() {
        return List.of("rewards/margins");
      }

      @Override
      public StepResult step(long step) {
        StepResult r = super.step(step);
        return new StepResult(
            r.loss(),
            r.learningRate(),
            r.gradNorm(),
            r.tokens(),
            Map.of("rewards/margins", step / 10.0));
      }
    };
  }

  private TrainingJob job(TrainingJobTest.ToyRun run) {
    return new TrainingJob(
        "job-1",
        Map.of("model", "m"),
        out,
        2,
        () -> run,
        (topic, p) -> {
          if (topic.endsWith("/PROGRESS")) {
            progress.add(p);
          }
        });
  }

  @Test
  void eachStepsMetricsAreAColumnOfMetricsCsv() throws Exception {
    job(run(3, () -> {})).run();
    List<String> csv = Files.readAllLines(out.resolve("metrics.csv"));
    assertEquals(Metrics.HEADER + ",rewards/margins", csv.get(0));
    assertEquals(
        List.of("0.00000", "0.100000", "0.200000"),
        csv.stream().skip(1).map(l -> l.substring(l.lastIndexOf(',') + 1)).toList());
  }

  @Test
  void progressEventsCarryTheMetricsByName() {
    job(run(3, () -> {})).run();
    assertEquals(0.2, progress.get(2).get("rewards/margins"));
  }

  @Test
  void theReportChartsEachMetric() throws Exception {
    job(run(3, () -> {})).run();
    assertTrue(Files.readString(out.resolve("report.html")).contains("<h2>rewards/margins</h2>"));
  }

  @Test
  void aResumedJobKeepsTheEarlierRowsWithTheirMetrics() throws Exception {
    TrainingJob[] job = new TrainingJob[1];
    int[] steps = {0};
    job[0] =
        job(
            run(
                4,
                () -> {
                  if (++steps[0] == 3) {
                    job[0].cancel();
                  }
                }));
    job[0].run();
    job[0].requeue();
    job[0].run();
    List<String> csv = Files.readAllLines(out.resolve("metrics.csv"));
    assertEquals(5, csv.size(), String.join("\n", csv));
    assertTrue(csv.get(2).endsWith(",0.100000"), csv.get(2));
  }
}
