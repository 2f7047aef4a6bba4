package dev.graft.train.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.graft.api.train.JobState;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Validation during training as a job drives it: eval_loss at the steps {@code eval_steps} names
 * and at the end, in metrics.csv (empty between), the progress events and report.html; {@code
 * save_best} keeping the best result and its checkpoint; early stopping after {@code patience}
 * evaluations without a better loss, as a completed job that says why.
 */
class ValidationTest {
  @TempDir Path out;

  private final List<Map<String, Object>> progress = new ArrayList<>();

  /** A {@link TrainingJobTest.ToyRun} whose n-th evaluation returns {@code losses[n]}. */
  private static class EvaluatedRun extends TrainingJobTest.ToyRun {
    private final double[] losses;
    private int evaluations;

    EvaluatedRun(long total, double... losses) {
      super(total, -1, () -> {});
      this.losses = losses;
    }

    @Override
    public boolean evaluates() {
      return true;
    }

    @Override
    public double evaluate(Path dir) {
      try {
        Files.writeString(dir.resolve("result.txt"), "evaluation " + evaluations);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      return losses[evaluations++];
    }
  }

  private TrainingJob job(TrainingJob.Validation validation, long saveSteps, EvaluatedRun run) {
    return new TrainingJob(
        "job-1",
        Map.of("model", "m"),
        out,
        saveSteps,
        validation,
        () -> run,
        (topic, p) -> {
          if (topic.endsWith("/PROGRESS")) {
            progress.add(p);
          }
        });
  }

  /** The eval_loss column of metrics.csv, "" where a step was not evaluated. */
  private List<String> evalColumn() throws IOException {
    List<String> csv = Files.readAllLines(out.resolve("metrics.csv"));
    assertEquals(Metrics.HEADER + ",eval_loss", csv.get(0));
    return csv.stream().skip(1).map(l -> l.substring(l.lastIndexOf(',') + 1)).toList();
  }

  @Test
  void evalLossIsWrittenEveryEvalStepsAndAtTheEndAndEmptyBetween() throws Exception {
    job(new TrainingJob.Validation(2, false, 0, 0), 0, new EvaluatedRun(5, 3, 2, 1)).run();
    assertEquals(List.of("", "3.00000", "", "2.00000", "1.00000"), evalColumn());
    assertEquals(2.0, progress.get(3).get("eval_loss"));
    assertFalse(progress.get(2).containsKey("eval_loss"));
    assertFalse(Files.exists(out.resolve(".evaluated")), "the evaluated result is removed");
  }

  @Test
  void withoutEvalStepsTheJobEvaluatesAtTheEndOnly() throws Exception {
    job(TrainingJob.Validation.AT_END, 0, new EvaluatedRun(3, 1.5)).run();
    assertEquals(List.of("", "", "1.50000"), evalColumn());
  }

  @Test
  void theReportDrawsTheValidationCurveBesideTheTrainingLoss() throws Exception {
    job(new TrainingJob.Validation(1, false, 0, 0), 0, new EvaluatedRun(3, 3, 2, 1)).run();
    String report = Files.readString(out.resolve("report.html"));
    int loss = report.indexOf("<h2>Loss</h2>");
    int rate = report.indexOf("<h2>Learning rate</h2>");
    String chart = report.substring(loss, rate);
    assertEquals(2, chart.split("<polyline", -1).length - 1, chart);
    assertTrue(chart.contains("eval_loss"), chart);
    assertFalse(report.contains("<h2>eval_loss</h2>"), "no chart of its own");
  }

  @Test
  void saveBestKeepsTheBestResultAndItsCheckpointPastRotation() throws Exception {
    // Evaluated at steps 2, 4, 6, 8: the best is the second, at step 4.
    TrainingJob job =
        job(new TrainingJob.Validation(2, true, 0, 0), 2, new EvaluatedRun(8, 3, 1, 2, 4));
    job.run();
    assertEquals(JobState.COMPLETED, job.status().state());
    assertEquals("evaluation 1", Files.readString(out.resolve("best/result.txt")));
    assertEquals(
        "{\"step\": 4, \"eval_loss\": 1.000000}",
        Files.readString(out.resolve("best/best.json")).trim());
    assertTrue(Files.exists(out.resolve("checkpoint-4")), "the best checkpoint stays");
    assertTrue(Files.exists(out.resolve("checkpoint-8")));
    assertTrue(Files.exists(out.resolve("checkpoint-6")), "the newest two stay");
    assertFalse(Files.exists(out.resolve("checkpoint-2")), "others go");
  }

  @Test
  void aJobStopsEarlyAfterPatienceEvaluationsWithoutImprovementAndCompletes() throws Exception {
    // 2.0 then 1.95 and 1.9: better, but not by more than the threshold 0.1.
    TrainingJob job =
        job(new TrainingJob.Validation(1, false, 2, 0.1), 0, new EvaluatedRun(10, 2, 1.95, 1.9, 1));
    job.run();
    assertEquals(JobState.COMPLETED, job.status().state());
    assertEquals(3, job.status().step());
    assertTrue(
        job.status().message().startsWith("Stopped early after step 3:"), job.status().message());
    assertTrue(job.status().message().contains("2.0000 at step 1"), job.status().message());
    assertEquals("done", Files.readString(out.resolve("result.txt")));
    assertTrue(Files.exists(out.resolve("checkpoint-3")));
  }

  @Test
  void anImprovementResetsThePatience() throws Exception {
    TrainingJob job =
        job(new TrainingJob.Validation(1, false, 2, 0), 0, new EvaluatedRun(5, 3, 3, 2, 2, 1));
    job.run();
    assertEquals(5, job.status().step(), job.status().message());
    assertEquals("", job.status().message());
  }

  @Test
  void aResumedJobCountsTheEvaluationsBeforeItsCheckpoint() throws Exception {
    TrainingJob[] job = new TrainingJob[1];
    int[] steps = {0};
    EvaluatedRun run =
        new EvaluatedRun(10, 2, 3, 4, 5) {
          @Override
          public StepResult step(long step) {
            if (++steps[0] == 2) {
              job[0].cancel();
            }
            return super.step(step);
          }
        };
    job[0] = job(new TrainingJob.Validation(1, false, 2, 0), 1, run);
    job[0].run();
    assertEquals(JobState.CANCELLED, job[0].status().state());
    job[0].requeue();
    job[0].run();
    // Evaluations 2 (step 1) and 3 (step 2) before the cancel; 4 at step 3 is the second miss.
    assertEquals(3, job[0].status().step(), job[0].status().message());
  }
}
