package dev.graft.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.graft.api.train.JobState;
import dev.graft.model.SafetensorsReader;
import dev.graft.train.job.JobSpec;
import dev.graft.train.job.Run.StepResult;
import dev.graft.train.job.TrainingJob;
import dev.graft.train.run.SftRun;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A batch that turns the loss into NaN on purpose ({@code poison-test}: one story of eight, one
 * story per step): the job stops at that step naming it and keeps the last good checkpoint, or,
 * with {@code skip_nonfinite_steps}, skips it without applying the update or advancing the
 * optimizer's step count, and a resumed job follows the same curve.
 */
class NonFiniteStepsTest {
  private static final int STEPS = 8;

  @TempDir Path dir;

  private Map<String, String> spec(int skip) throws Exception {
    return spec(skip, Set.of(5));
  }

  /** The golden stories, one per step, the {@code poisoned} ones with {@code "poison": 1}. */
  private Map<String, String> spec(int skip, Set<Integer> poisoned) throws Exception {
    StringBuilder lines = new StringBuilder();
    for (int i = 0; i < STEPS; i++) {
      lines
          .append("{\"text\": \"")
          .append(GoldenCurveTest.STORIES[i])
          .append("\", \"poison\": ")
          .append(poisoned.contains(i) ? 1 : 0)
          .append("}\n");
    }
    Path data = dir.resolve("poisoned.jsonl");
    Files.writeString(data, lines);
    Map<String, String> spec = new LinkedHashMap<>();
    spec.put("model", Fixtures.shared("models/stories260K").toString());
    spec.put("data", data.toString());
    spec.put("method", "lora," + TestMethods.POISON);
    spec.put("seed", "3");
    spec.put("per_device_train_batch_size", "1");
    spec.put("max_length", "64");
    spec.put("learning_rate", "1e-2");
    spec.put("lr_scheduler_type", "constant");
    spec.put("max_steps", Integer.toString(STEPS));
    spec.put("save_steps", "1");
    spec.put("skip_nonfinite_steps", Integer.toString(skip));
    return spec;
  }

  private static SftRun run(Map<String, String> spec) {
    return new SftRun(
        JobSpec.parse(spec, TestMethods.REGISTRY), TestMethods.REGISTRY, Fixtures.cpu(), n -> {});
  }

  /** Every step of an uninterrupted run with skipping on. */
  private List<StepResult> steps(Map<String, String> spec) {
    List<StepResult> results = new ArrayList<>();
    try (SftRun run = run(spec)) {
      for (int s = 0; s < STEPS; s++) {
        results.add(run.step(s));
      }
    }
    return results;
  }

  private static int poisonedStep(List<StepResult> results) {
    for (int s = 0; s < results.size(); s++) {
      if (results.get(s).skipped()) {
        return s;
      }
    }
    throw new AssertionError("no step was skipped: " + results);
  }

  @Test
  void aNanLossStopsTheJobNamingTheStepAndKeepsTheLastGoodCheckpoint() throws Exception {
    int poisoned = poisonedStep(steps(spec(1)));
    Path out = dir.resolve("job");
    Files.createDirectories(out);
    JobSpec checked = JobSpec.parse(spec(0), TestMethods.REGISTRY);
    TrainingJob job =
        new TrainingJob(
            "nan",
            spec(0),
            out,
            1,
            () -> new SftRun(checked, TestMethods.REGISTRY, Fixtures.cpu(), n -> {}),
            (t, p) -> {});
    job.run();

    assertEquals(JobState.FAILED, job.status().state());
    assertTrue(
        job.status()
            .message()
            .startsWith(
                "The loss became NaN at step "
                    + (poisoned + 1)
                    + "; the checkpoint after step "
                    + poisoned
                    + " is kept."),
        job.status().message());
    Path kept = out.resolve("checkpoint-" + poisoned);
    try (SafetensorsReader state = SafetensorsReader.open(kept.resolve("state.safetensors"))) {
      for (String name : state.names()) {
        for (float v : state.floats(name)) {
          assertTrue(Float.isFinite(v), name + " in the kept checkpoint is finite");
        }
      }
    }
  }

  @Test
  void aSkippedStepLeavesTrainablesAndMomentsAsTheyWere() throws Exception {
    int poisoned = poisonedStep(steps(spec(1)));
    try (SftRun run = run(spec(1))) {
      for (int s = 0; s < poisoned; s++) {
        assertFalse(run.step(s).skipped());
      }
      run.saveCheckpoint(Files.createDirectories(dir.resolve("before")), poisoned);
      StepResult bad = run.step(poisoned);
      assertTrue(bad.skipped());
      assertEquals("loss became NaN", bad.nonFinite());
      run.saveCheckpoint(Files.createDirectories(dir.resolve("after")), poisoned + 1);
    }
    try (SafetensorsReader before =
            SafetensorsReader.open(dir.resolve("before/state.safetensors"));
        SafetensorsReader after = SafetensorsReader.open(dir.resolve("after/state.safetensors"))) {
      assertEquals(before.names(), after.names());
      for (String name : before.names()) {
        assertEquals(before.bytes(name), after.bytes(name), name + " is unchanged");
      }
      assertEquals("0", before.metadata().get("graft.skipped_steps"));
      assertEquals("1", after.metadata().get("graft.skipped_steps"));
    }
  }

  @Test
  void aNonFiniteStepBeyondTheLimitIsReportedAndNotSkipped() throws Exception {
    List<StepResult> results = steps(spec(1, Set.of(2, 5)));
    assertEquals(1, results.stream().filter(StepResult::skipped).count(), "" + results);
    assertEquals(2, results.stream().filter(r -> !r.nonFinite().isEmpty()).count(), "" + results);
  }

  @Test
  void resumingAfterASkippedStepFollowsTheUninterruptedCurve() throws Exception {
    List<StepResult> whole = steps(spec(1));
    int poisoned = poisonedStep(whole);
    Path checkpoint = Files.createDirectories(dir.resolve("checkpoint"));
    try (SftRun run = run(spec(1))) {
      for (int s = 0; s <= poisoned; s++) {
        run.step(s);
      }
      run.saveCheckpoint(checkpoint, poisoned + 1);
    }
    try (SftRun resumed = run(spec(1))) {
      assertEquals(poisoned + 1, resumed.restore(checkpoint));
      for (int s = poisoned + 1; s < STEPS; s++) {
        assertEquals(whole.get(s).loss(), resumed.step(s).loss(), 0, "step " + (s + 1));
      }
    }
    assertTrue(poisoned + 1 < STEPS, "a step follows the skipped one");
  }
}
