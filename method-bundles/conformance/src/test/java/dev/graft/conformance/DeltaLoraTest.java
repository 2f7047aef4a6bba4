package dev.graft.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.api.train.JobState;
import dev.graft.model.SafetensorsReader;
import dev.graft.train.job.JobSpec;
import dev.graft.train.job.TrainingJob;
import dev.graft.train.run.Adapters;
import dev.graft.train.run.SftRun;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Delta-LoRA on stories260K: the frozen W that its adapter implies moves by exactly λ·s·Δ(B·A) per
 * step from step K on, as a plain loop over the saved factors computes it, and merging folds that
 * change in.
 */
class DeltaLoraTest {
  private static final String PREFIX = "base_model.model.model.layers.0.self_attn.q_proj.";
  private static final int START = 2;
  private static final int STEPS = 5;

  @TempDir Path dir;

  /** The adapter after 0, 1, …, {@link #STEPS} steps of a job with K = {@link #START}. */
  private List<Path> adapterAfterEveryStep() throws Exception {
    Map<String, String> spec = Fixtures.spec(dir, "delta-lora", STEPS);
    spec.put("delta-lora.update_start_step", Integer.toString(START));
    List<Path> adapters = new ArrayList<>();
    try (SftRun run = MatrixRow.run(spec)) {
      for (int t = 0; t <= STEPS; t++) {
        Path out = Files.createDirectories(dir.resolve("after-" + t));
        run.finish(out);
        adapters.add(out.resolve("adapter"));
        if (t < STEPS) {
          run.step(t);
        }
      }
    }
    return adapters;
  }

  private static float[] read(Path adapter, String key) throws Exception {
    try (SafetensorsReader r =
        SafetensorsReader.open(adapter.resolve("adapter_model.safetensors"))) {
      return r.floats(key);
    }
  }

  /** B·A of q_proj in layer 0 from an adapter, (out, in) flattened; B is (out, r), A (r, in). */
  private static double[] product(Path adapter, String b, String a) throws Exception {
    float[] bs = read(adapter, PREFIX + b);
    float[] as = read(adapter, PREFIX + a);
    int r = 8;
    int out = bs.length / r;
    int in = as.length / r;
    double[] p = new double[out * in];
    for (int o = 0; o < out; o++) {
      for (int i = 0; i < in; i++) {
        for (int k = 0; k < r; k++) {
          p[o * in + i] += (double) bs[o * r + k] * as[k * in + i];
        }
      }
    }
    return p;
  }

  @Test
  void theFrozenWeightMovesByLambdaTimesTheChangeOfBaEveryStepFromKOn() throws Exception {
    List<Path> adapters = adapterAfterEveryStep();
    double lambda = 2; // the default delta_lambda; s = lora_alpha / r = 1
    double[] loop = new double[product(adapters.get(0), "lora_B.weight", "lora_A.weight").length];
    for (int t = 0; t <= STEPS; t++) {
      Path adapter = adapters.get(t);
      if (t > START) {
        // The plain loop of the paper: after step t-1 ≥ K, W += λ·s·(B_t·A_t − B_{t−1}·A_{t−1}).
        double[] now = product(adapter, "lora_B.weight", "lora_A.weight");
        double[] before = product(adapters.get(t - 1), "lora_B.weight", "lora_A.weight");
        for (int j = 0; j < loop.length; j++) {
          loop[j] += lambda * (now[j] - before[j]);
        }
      }
      // What the adapter implies: λ_t·s·(B_t·A_t − B_K·A_K).
      double applied = read(adapter, "base_model.model.delta_lora_lambda")[0];
      double[] now = product(adapter, "lora_B.weight", "lora_A.weight");
      double[] start = product(adapter, "delta_lora_B_start", "delta_lora_A_start");
      double largest = 0;
      double error = 0;
      for (int j = 0; j < loop.length; j++) {
        double implied = applied * (now[j] - start[j]);
        error = Math.max(error, Math.abs(implied - loop[j]));
        largest = Math.max(largest, Math.abs(loop[j]));
      }
      assertEquals(t < START ? 0 : lambda, applied, "λ_t after " + t + " steps");
      assertTrue(error <= 1e-6 * Math.max(largest, 1e-3), "after " + t + " steps: " + error);
      assertEquals(t > START, largest > 0, "W has moved after " + t + " steps: " + largest);
    }
  }

  @Test
  void mergingFoldsTheLoraUpdateAndTheAccumulatedChangeOfW() throws Exception {
    Path adapter = adapterAfterEveryStep().get(STEPS);
    Path model = Fixtures.shared("models/stories260K");
    Adapters.Adapted unmerged = Adapters.load(model, adapter, Fixtures.REGISTRY, false);
    Path merged = dir.resolve("merged");
    Adapters.merge(model, adapter, merged, Fixtures.REGISTRY, false);
    double diff =
        MatrixRow.relativeDiff(
            Fixtures.baseLogits(merged), Fixtures.logits(unmerged.model(), unmerged.weights()));
    assertTrue(diff < 1e-5, "merged vs unmerged: " + diff);
  }

  /**
   * A job cancelled after step 3 (with a checkpoint there) and resumed follows the uninterrupted
   * loss curve, whether step K lies before the checkpoint or on it (the start factors come back
   * from it) or after it (the hook takes them on the resumed run).
   */
  @ParameterizedTest(name = "K = {0}")
  @ValueSource(ints = {1, 3, 4})
  void aResumedJobFollowsTheUninterruptedCurveAcrossStepK(int start) throws Exception {
    Map<String, String> spec = Fixtures.spec(dir, "delta-lora", 5);
    spec.put("delta-lora.update_start_step", Integer.toString(start));
    spec.put("save_steps", "2");
    Path whole = Fixtures.train(spec, dir.resolve("whole"), Fixtures.REGISTRY);
    Path parts = Files.createDirectories(dir.resolve("parts"));
    JobSpec checked = JobSpec.parse(spec, Fixtures.REGISTRY);
    TrainingJob[] job = new TrainingJob[1];
    job[0] =
        new TrainingJob(
            "t",
            spec,
            parts,
            2,
            () -> new SftRun(checked, Fixtures.REGISTRY, Fixtures.cpu(), n -> {}),
            (topic, p) -> {
              if (topic.endsWith("PROGRESS") && ((Long) p.get("step")) == 3) {
                job[0].cancel();
              }
            });
    job[0].run();
    assertEquals(JobState.CANCELLED, job[0].status().state());
    job[0].requeue();
    job[0].run();
    assertEquals(JobState.COMPLETED, job[0].status().state(), job[0].status().message());
    assertEquals(MatrixRow.losses(whole), MatrixRow.losses(parts));
  }

  @Test
  void theAdapterNamesGraftsOwnPeftTypeAndTheDeltaSettings() throws Exception {
    Path adapter = adapterAfterEveryStep().get(1);
    var config = new ObjectMapper().readTree(adapter.resolve("adapter_config.json").toFile());
    assertEquals("DELTA_LORA", config.path("peft_type").asText());
    assertEquals(2.0, config.path("delta_lambda").asDouble());
    assertEquals(START, config.path("update_start_step").asInt());
  }
}
