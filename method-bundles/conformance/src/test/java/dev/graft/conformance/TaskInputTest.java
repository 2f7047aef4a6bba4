package dev.graft.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.graft.model.SafetensorsReader;
import dev.graft.train.job.JobSpec;
import dev.graft.train.run.SftRun;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A method that reads a per-sample task id ({@code Adaptation.input}) trains on stories260K, and
 * sites a run cannot honour stop the job at its start.
 */
class TaskInputTest {
  @TempDir Path dir;

  /** The golden stories, alternately task 1 and task 2 (ids 0 and 3 never occur). */
  private Path data(boolean withTaskIds) throws Exception {
    StringBuilder lines = new StringBuilder();
    for (int i = 0; i < GoldenCurveTest.STORIES.length; i++) {
      lines.append("{\"text\": \"").append(GoldenCurveTest.STORIES[i]).append('"');
      if (withTaskIds) {
        lines.append(", \"task_id\": ").append(1 + i % 2);
      }
      lines.append("}\n");
    }
    Path file = dir.resolve("tasks.jsonl");
    Files.writeString(file, lines);
    return file;
  }

  private Map<String, String> spec(String method, Path data, boolean packing) {
    Map<String, String> spec = new LinkedHashMap<>();
    spec.put("model", Fixtures.shared("models/stories260K").toString());
    spec.put("data", data.toString());
    spec.put("method", method);
    spec.put("seed", "7");
    spec.put("per_device_train_batch_size", "8"); // every step the whole data: comparable losses
    spec.put("max_length", "256"); // room for several stories in a packed row
    spec.put("packing", Boolean.toString(packing));
    spec.put("learning_rate", "3e-2");
    spec.put("max_steps", "6");
    return spec;
  }

  private static SftRun run(Map<String, String> spec) {
    return new SftRun(
        JobSpec.parse(spec, TestMethods.REGISTRY), TestMethods.REGISTRY, Fixtures.cpu(), n -> {});
  }

  /** The losses of six steps and the trained table's rows. */
  private record Trained(List<Double> losses, float[][] rows) {}

  /** Trains six steps, checks that the loss fell, and reads the trained table. */
  private Trained train(boolean packing) throws Exception {
    List<Double> losses = new ArrayList<>();
    try (SftRun run = run(spec(TestMethods.TASK_BIAS, data(true), packing))) {
      for (int s = 0; s < 6; s++) {
        losses.add(run.step(s).loss());
      }
      run.saveCheckpoint(dir, 6);
    }
    assertTrue(losses.get(5) < losses.get(0), "falls: " + losses);
    try (SafetensorsReader state = SafetensorsReader.open(dir.resolve("state.safetensors"))) {
      float[] flat = state.floats(TestMethods.TASK_TABLE);
      int hidden = flat.length / 4;
      float[][] rows = new float[4][];
      for (int r = 0; r < 4; r++) {
        rows[r] = java.util.Arrays.copyOfRange(flat, r * hidden, (r + 1) * hidden);
      }
      return new Trained(losses, rows);
    }
  }

  private static boolean zero(float[] row) {
    for (float v : row) {
      if (v != 0) {
        return false;
      }
    }
    return true;
  }

  private static void assertOnlyTasksOneAndTwoTrained(float[][] rows) {
    assertTrue(zero(rows[0]), "task 0 is in no sample: its row stays 0");
    assertTrue(!zero(rows[1]) && !zero(rows[2]), "tasks 1 and 2 train");
    assertTrue(zero(rows[3]), "task 3 is in no sample: its row stays 0");
  }

  @Test
  void aTaskIdPerSampleTrainsOnlyTheRowsOfItsTasksInPaddedRows() throws Exception {
    assertOnlyTasksOneAndTwoTrained(train(false).rows());
  }

  @Test
  void aTaskIdPerSampleTrainsOnlyTheRowsOfItsTasksInPackedRows() throws Exception {
    assertOnlyTasksOneAndTwoTrained(train(true).rows());
  }

  /**
   * Each step sees all eight stories, so the mean loss does not depend on how they lie in rows — as
   * long as every token gets its own sample's task id. A packed row fed one id per row would move
   * the curve from the second step on.
   */
  @Test
  void packedAndPaddedRowsFollowTheSameLossCurve() throws Exception {
    List<Double> padded = train(false).losses();
    List<Double> packed = train(true).losses();
    for (int s = 0; s < padded.size(); s++) {
      assertEquals(
          padded.get(s), packed.get(s), 1e-6, "step " + (s + 1) + ": " + padded + " vs " + packed);
    }
  }

  @Test
  void dataWithoutTheTaskColumnStopsTheJobAtStartNamingTheField() throws Exception {
    Path data = data(false);
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class, () -> run(spec(TestMethods.TASK_BIAS, data, false)));
    assertEquals(
        data
            + ":1: field \"task_id\" is missing; the job's methods read it as an integer input of"
            + " every sample.",
        e.getMessage());
  }

  @Test
  void anAdapterWhoseMethodReadsATaskIdIsRefusedByEvaluationAndGeneration() throws Exception {
    Path adapter = Files.createDirectories(dir.resolve("adapter"));
    Files.writeString(
        adapter.resolve("adapter_config.json"), "{\"peft_type\": \"TASK_BIAS_TEST\"}");
    new dev.graft.model.SafetensorsWriter()
        .add(TestMethods.TASK_TABLE, new long[] {4, 64}, new float[4 * 64])
        .write(adapter.resolve("adapter_model.safetensors"));
    Path model = Fixtures.shared("models/stories260K");
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> dev.graft.train.run.Adapters.load(model, adapter, TestMethods.REGISTRY, false));
    assertEquals(
        "The methods of "
            + adapter
            + " read the per-sample inputs [task_id], which evaluation and generation do not"
            + " supply yet.",
        e.getMessage());
  }
}
