package dev.graft.conformance;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.api.train.JobState;
import dev.graft.model.SafetensorsReader;
import dev.graft.train.job.JobSpec;
import dev.graft.train.job.TrainingJob;
import dev.graft.train.run.Adapters;
import dev.graft.train.run.SftRun;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * LoRA+ and LoRA-FA on stories260K against LoRA with the same seed (so the same A at the start):
 * LoRA+ moves B {@code loraplus_lr_ratio} times as far, LoRA-FA never moves A; both save plain PEFT
 * LoRA adapters that load back with their own method.
 */
class LoraVariantsTest {
  @TempDir static Path dir;

  /**
   * Output folders of one-step lora and lora-plus jobs and a four-step lora-fa job, each with a
   * checkpoint at its last step.
   */
  private static final Map<String, Path> JOBS = new LinkedHashMap<>();

  @BeforeAll
  static void train() throws Exception {
    train("lora", 1);
    train("lora-plus", 1);
    train("lora-fa", 4);
  }

  private static void train(String method, int steps) throws Exception {
    Path job = dir.resolve(method);
    Map<String, String> spec = Fixtures.spec(Files.createDirectories(job), method, steps);
    spec.put("save_steps", Integer.toString(steps));
    JOBS.put(method, Fixtures.train(spec, job.resolve("out"), Fixtures.REGISTRY));
  }

  /** The adapter tensors of a job whose keys end in {@code suffix}, by key. */
  private static Map<String, float[]> tensors(String method, String suffix) throws Exception {
    Map<String, float[]> tensors = new LinkedHashMap<>();
    try (SafetensorsReader adapter =
        SafetensorsReader.open(JOBS.get(method).resolve("adapter/adapter_model.safetensors"))) {
      for (String name : adapter.names()) {
        if (name.endsWith(suffix)) {
          tensors.put(name, adapter.floats(name));
        }
      }
    }
    assertFalse(tensors.isEmpty(), method + " saved tensors ending in " + suffix);
    return tensors;
  }

  private static JsonNode config(Path out) throws Exception {
    return new ObjectMapper().readTree(out.resolve("adapter/adapter_config.json").toFile());
  }

  /**
   * At the first step B = 0 gives A no gradient and both jobs see B's same gradient g; AdamW's
   * first update is lr·g/(|g|+ε) per element, so LoRA+'s B is 16 times LoRA's, element by element.
   */
  @Test
  void loraPlusMovesBSixteenTimesAsFarAsLoraInTheFirstStep() throws Exception {
    Map<String, float[]> lora = tensors("lora", "lora_B.weight");
    Map<String, float[]> plus = tensors("lora-plus", "lora_B.weight");
    assertEquals(lora.keySet(), plus.keySet());
    int moved = 0;
    for (String name : lora.keySet()) {
      float[] l = lora.get(name);
      float[] p = plus.get(name);
      for (int i = 0; i < l.length; i++) {
        assertEquals(16.0 * l[i], p[i], 1e-5 * Math.abs(p[i]), name + " element " + i);
        moved += l[i] != 0 ? 1 : 0;
      }
    }
    assertTrue(moved > 0, "the step moved B");
  }

  @Test
  void loraPlusStartsFromLorasA() throws Exception {
    Map<String, float[]> lora = tensors("lora", "lora_A.weight");
    Map<String, float[]> plus = tensors("lora-plus", "lora_A.weight");
    for (String name : lora.keySet()) {
      assertArrayEquals(lora.get(name), plus.get(name), name);
    }
  }

  /** LoRA's A after one step is its initial A (B = 0 gives it no gradient), LoRA-FA's after 4. */
  @Test
  void loraFaKeepsABitIdenticalToItsInitialisation() throws Exception {
    Map<String, float[]> initial = tensors("lora", "lora_A.weight");
    Map<String, float[]> fa = tensors("lora-fa", "lora_A.weight");
    assertEquals(initial.keySet(), fa.keySet(), "A is saved: PEFT needs it to load");
    for (String name : initial.keySet()) {
      assertArrayEquals(initial.get(name), fa.get(name), name);
    }
  }

  @Test
  void loraFaCarriesNeitherANorItsMomentsFromStepToStep() throws Exception {
    try (SafetensorsReader state =
        SafetensorsReader.open(JOBS.get("lora-fa").resolve("checkpoint-4/state.safetensors"))) {
      assertTrue(
          state.names().stream().anyMatch(n -> n.contains("lora_B")), state.names().toString());
      assertTrue(
          state.names().stream().noneMatch(n -> n.contains("lora_A")), state.names().toString());
    }
  }

  /**
   * Checkpoints do not hold the frozen A: a resumed job draws it again from the job's seed, and so
   * continues the curve of the job that ran through.
   */
  @Test
  void aCancelledAndResumedLoraFaJobReproducesTheUninterruptedCurve() throws Exception {
    Path job = Files.createDirectories(dir.resolve("lora-fa-resumed"));
    Map<String, String> spec = Fixtures.spec(job, "lora-fa", 4);
    Path out = Files.createDirectories(job.resolve("out"));
    JobSpec checked = JobSpec.parse(spec, Fixtures.REGISTRY);
    TrainingJob[] run = new TrainingJob[1];
    run[0] =
        new TrainingJob(
            "t",
            spec,
            out,
            2,
            () -> new SftRun(checked, Fixtures.REGISTRY, Fixtures.cpu(), n -> {}),
            (topic, p) -> {
              if (topic.endsWith("PROGRESS") && ((Long) p.get("step")) == 3) {
                run[0].cancel();
              }
            });
    run[0].run();
    assertEquals(JobState.CANCELLED, run[0].status().state());
    run[0].requeue();
    run[0].run();
    assertEquals(JobState.COMPLETED, run[0].status().state(), run[0].status().message());
    assertEquals(curve(JOBS.get("lora-fa")), curve(out));
  }

  /** Each step's loss, learning rate and gradient norm, as metrics.csv has them. */
  private static List<String> curve(Path out) throws Exception {
    return Files.readAllLines(out.resolve("metrics.csv")).stream()
        .skip(1)
        .map(l -> String.join(",", List.of(l.split(",")).subList(0, 4)))
        .toList();
  }

  @Test
  void loraFaTrainsB() throws Exception {
    for (Map.Entry<String, float[]> b : tensors("lora-fa", "lora_B.weight").entrySet()) {
      double sum = 0;
      for (float v : b.getValue()) {
        sum += Math.abs(v);
      }
      assertTrue(sum > 0, b.getKey() + " moved off zero");
    }
  }

  @Test
  void loraFaLowersTheLoss() throws Exception {
    List<Double> losses =
        Files.readAllLines(JOBS.get("lora-fa").resolve("metrics.csv")).stream()
            .skip(1)
            .map(l -> Double.parseDouble(l.split(",")[1]))
            .toList();
    assertEquals(4, losses.size(), losses.toString());
    assertTrue(losses.get(3) < losses.get(0), "the loss falls: " + losses);
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"lora-plus", "lora-fa"})
  void theAdapterIsAPlainPeftLoraAdapterThatNamesTheVariant(String method) throws Exception {
    JsonNode config = config(JOBS.get(method));
    assertEquals("LORA", config.get("peft_type").asText());
    assertEquals(false, config.get("use_dora").asBoolean());
    assertEquals(method, config.get("graft_methods").get(0).get("name").asText());
    try (SafetensorsReader adapter =
        SafetensorsReader.open(JOBS.get(method).resolve("adapter/adapter_model.safetensors"))) {
      assertEquals(20, adapter.names().size(), "5 layers × (q_proj, v_proj) × (A, B)");
      assertArrayEquals(
          new long[] {8, 64},
          adapter.info("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight").shape());
      assertArrayEquals(
          new long[] {32, 8},
          adapter.info("base_model.model.model.layers.4.self_attn.v_proj.lora_B.weight").shape());
    }
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"lora-plus", "lora-fa"})
  void mergedLogitsEqualUnmergedOnesAndUnmergeRestoresTheBase(String method) throws Exception {
    Path model = Fixtures.shared("models/stories260K");
    Path adapter = JOBS.get(method).resolve("adapter");
    Adapters.Adapted loaded = Adapters.load(model, adapter, Fixtures.REGISTRY, false);
    float[] adapted = Fixtures.logits(loaded.model(), loaded.weights());
    float[] base = Fixtures.baseLogits(model);
    double scale = maxDiff(adapted, new float[adapted.length]);
    assertTrue(maxDiff(base, adapted) > 1e-4 * scale, "the adapter changes the model");

    Path merged = dir.resolve(method + "-merged");
    Adapters.merge(model, adapter, merged, Fixtures.REGISTRY, false);
    // float32: merging rounds W + s·B·A once, so compare relative to the logits' scale.
    assertTrue(maxDiff(adapted, Fixtures.baseLogits(merged)) / scale < 1e-5, "merged");
    Path unmerged = dir.resolve(method + "-unmerged");
    Adapters.merge(merged, adapter, unmerged, Fixtures.REGISTRY, true);
    assertTrue(maxDiff(base, Fixtures.baseLogits(unmerged)) / scale < 1e-5, "unmerged");
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"lora-plus", "lora-fa", "dora", "pissa"})
  void theVariantComposesWithInstructionTuning(String method) throws Exception {
    Path job = Files.createDirectories(dir.resolve(method + "-instruction"));
    Map<String, String> spec = InstructionTuningTest.spec(job, method + ",instruction-tuning");
    spec.put("max_steps", "2");
    spec.put("instruction-tuning.template", "alpaca");
    Path out = Fixtures.train(spec, job.resolve("out"), Fixtures.REGISTRY);
    JsonNode methods = config(out).get("graft_methods");
    assertEquals(method, methods.get(0).get("name").asText());
    assertEquals("instruction-tuning", methods.get(1).get("name").asText());
    assertEquals(
        2,
        Adapters.load(
                Fixtures.shared("models/stories260K"),
                out.resolve("adapter"),
                Fixtures.REGISTRY,
                false)
            .methods()
            .size());
  }

  private static double maxDiff(float[] a, float[] b) {
    double max = 0;
    for (int i = 0; i < a.length; i++) {
      max = Math.max(max, Math.abs(a[i] - b[i]));
    }
    return max;
  }
}
