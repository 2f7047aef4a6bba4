package dev.graft.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.graft.api.model.EvaluationSettings;
import dev.graft.api.train.JobState;
import dev.graft.train.job.JobSpec;
import dev.graft.train.job.TrainingJob;
import dev.graft.train.run.SftRun;
import dev.graft.train.service.ModelServiceImpl;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Validation during training on stories260K: eval_loss at the steps eval_steps names, equal to what
 * graft:eval computes on the result; save_best's best/ and checkpoint; early stopping of a job
 * built to stop; validation_split as the source.
 */
class ValidationDuringTrainingTest {
  @TempDir Path dir;

  /** Stories 5 to 8 as validation data; the job trains on all eight. */
  private Path evalData() throws Exception {
    StringBuilder lines = new StringBuilder();
    for (int i = 4; i < GoldenCurveTest.STORIES.length; i++) {
      lines.append("{\"text\": \"").append(GoldenCurveTest.STORIES[i]).append("\"}\n");
    }
    return Files.writeString(dir.resolve("eval.jsonl"), lines);
  }

  /** The job's metrics.csv rows as (step, eval_loss) for the rows that have one. */
  private static Map<Long, Double> evalRows(Path out) throws Exception {
    List<String> csv = Files.readAllLines(out.resolve("metrics.csv"));
    assertTrue(csv.get(0).endsWith(",eval_loss"), csv.get(0));
    Map<Long, Double> rows = new java.util.TreeMap<>();
    for (String line : csv.subList(1, csv.size())) {
      String[] f = line.split(",", -1);
      if (!f[f.length - 1].isEmpty()) {
        rows.put(Long.parseLong(f[0]), Double.parseDouble(f[f.length - 1]));
      }
    }
    return rows;
  }

  private TrainingJob job(Map<String, String> spec, Path out) throws Exception {
    Files.createDirectories(out);
    JobSpec checked = JobSpec.parse(spec, Fixtures.REGISTRY);
    return new TrainingJob(
        "v",
        spec,
        out,
        checked.job().getInt("save_steps"),
        TrainingJob.Validation.of(checked.job()),
        () -> new SftRun(checked, Fixtures.REGISTRY, Fixtures.cpu(), n -> {}),
        (t, p) -> {});
  }

  @Test
  void evalLossIsWrittenAtEveryEvalStepsAndAtTheEndAsGraftEvalComputesIt() throws Exception {
    Map<String, String> spec = Fixtures.spec(dir, "lora", 5);
    Path eval = evalData();
    spec.put("eval_data", eval.toString());
    spec.put("eval_steps", "2");
    spec.put("report_png", "false");
    Path out = dir.resolve("job");
    TrainingJob job = job(spec, out);
    job.run();
    assertEquals(JobState.COMPLETED, job.status().state(), job.status().message());
    Map<Long, Double> rows = evalRows(out);
    assertEquals(List.of(2L, 4L, 5L), List.copyOf(rows.keySet()));
    assertTrue(rows.get(5L) < rows.get(2L), "validation loss falls: " + rows);
    double graftEval =
        new ModelServiceImpl(Fixtures.REGISTRY, Fixtures.BACKENDS)
            .evaluate(
                Path.of(spec.get("model")),
                out.resolve("adapter"),
                eval,
                new EvaluationSettings("auto", Map.of(), 64, 4, 0, "cpu", true, true, false, ""))
            .loss();
    assertEquals(graftEval, rows.get(5L), 1e-5, "eval_loss at the end is graft:eval's loss");
    assertTrue(Files.readString(out.resolve("report.html")).contains("eval_loss"));
  }

  @Test
  void saveBestKeepsTheAdapterAndCheckpointOfTheLowestEvalLoss() throws Exception {
    Map<String, String> spec = Fixtures.spec(dir, "lora", 6);
    spec.put("eval_data", evalData().toString());
    spec.put("eval_steps", "1");
    spec.put("save_steps", "2");
    spec.put("save_best", "true");
    spec.put("learning_rate", "1e-1"); // overshoots after step 1: the first result is best
    spec.put("report_png", "false");
    Path out = dir.resolve("best-job");
    TrainingJob job = job(spec, out);
    job.run();
    assertEquals(JobState.COMPLETED, job.status().state(), job.status().message());
    Map<Long, Double> rows = evalRows(out);
    long bestStep =
        rows.entrySet().stream().min(Map.Entry.comparingByValue()).orElseThrow().getKey();
    String best = Files.readString(out.resolve("best/best.json"));
    assertTrue(best.startsWith("{\"step\": " + bestStep + ","), best + " " + rows);
    assertTrue(Files.exists(out.resolve("best/adapter/adapter_model.safetensors")));
    assertEquals(1, bestStep, rows.toString());
    assertTrue(Files.exists(out.resolve("checkpoint-1")), "written and kept for the best");
    assertFalse(Files.exists(out.resolve("checkpoint-2")), "rotation goes on around it");
    assertTrue(Files.exists(out.resolve("checkpoint-6")));
  }

  @Test
  void aJobThatCannotImproveEnoughStopsEarlyAsCompleted() throws Exception {
    Map<String, String> spec = Fixtures.spec(dir, "lora", 20);
    spec.put("eval_data", evalData().toString());
    spec.put("eval_steps", "1");
    spec.put("learning_rate", "1e-7");
    spec.put("early_stopping_patience", "1");
    spec.put("early_stopping_threshold", "1.0");
    spec.put("report_png", "false");
    Path out = dir.resolve("stop-job");
    TrainingJob job = job(spec, out);
    job.run();
    assertEquals(JobState.COMPLETED, job.status().state(), job.status().message());
    assertEquals(2, job.status().step());
    assertTrue(
        job.status().message().startsWith("Stopped early after step 2: eval_loss has not fallen"),
        job.status().message());
    assertTrue(Files.exists(out.resolve("adapter/adapter_model.safetensors")), "result written");
    assertEquals(List.of(1L, 2L), List.copyOf(evalRows(out).keySet()));
  }

  @Test
  void aPairwiseObjectiveSkipsValidationWithANoteAndRefusesTheKeysThatNeedIt() throws Exception {
    Map<String, String> spec = Fixtures.spec(dir, "lora,dpo", 1);
    spec.put("data", GoldenCurveTest.pairs(dir).toString());
    spec.put("validation_split", "0.25");
    List<String> notes = new ArrayList<>();
    try (SftRun run =
        new SftRun(
            JobSpec.parse(spec, Fixtures.REGISTRY),
            Fixtures.REGISTRY,
            Fixtures.cpu(),
            notes::add)) {
      assertFalse(run.evaluates());
    }
    assertTrue(
        notes.stream().anyMatch(n -> n.startsWith("Validation is skipped: the pairwise objective")),
        notes.toString());
    spec.put("save_best", "true");
    IllegalArgumentException e =
        org.junit.jupiter.api.Assertions.assertThrows(
            IllegalArgumentException.class,
            () ->
                new SftRun(
                    JobSpec.parse(spec, Fixtures.REGISTRY),
                    Fixtures.REGISTRY,
                    Fixtures.cpu(),
                    n -> {}));
    assertTrue(
        e.getMessage()
            .startsWith(
                "eval_steps, save_best and early_stopping_patience need a validation loss, but the pairwise objective"),
        e.getMessage());
  }

  @Test
  void validationSplitIsTheSourceWithoutEvalData() throws Exception {
    Map<String, String> spec = Fixtures.spec(dir, "lora", 2);
    spec.put("validation_split", "0.25");
    spec.put("report_png", "false");
    Path out = dir.resolve("split-job");
    List<String> notes = new ArrayList<>();
    Files.createDirectories(out);
    JobSpec checked = JobSpec.parse(spec, Fixtures.REGISTRY);
    TrainingJob job =
        new TrainingJob(
            "s",
            spec,
            out,
            0,
            TrainingJob.Validation.of(checked.job()),
            () -> new SftRun(checked, Fixtures.REGISTRY, Fixtures.cpu(), notes::add),
            (t, p) -> {});
    job.run();
    assertEquals(JobState.COMPLETED, job.status().state(), job.status().message());
    assertEquals(List.of(2L), List.copyOf(evalRows(out).keySet()), "only at the end by default");
    assertTrue(notes.contains("Validation: 2 samples, evaluated at the end."), notes.toString());
    assertTrue(Files.exists(out.resolve("validation.jsonl")));
    assertFalse(Files.exists(out.resolve("best")), "no best/ without save_best");
  }
}
