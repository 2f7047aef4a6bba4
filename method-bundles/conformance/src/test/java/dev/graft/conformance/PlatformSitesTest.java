package dev.graft.conformance;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.graft.api.FineTuningMethod;
import dev.graft.api.MethodRegistry;
import dev.graft.api.adapt.Adaptation;
import dev.graft.api.adapt.Init;
import dev.graft.api.adapt.LinearSite;
import dev.graft.api.backend.HostTensor;
import dev.graft.graph.DType;
import dev.graft.graph.GraphOps;
import dev.graft.graph.Tensor;
import dev.graft.model.SafetensorsReader;
import dev.graft.train.job.JobSpec;
import dev.graft.train.registry.FixedMethodRegistry;
import dev.graft.train.run.Adapters;
import dev.graft.train.run.SftRun;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Each site of the SPI proven by a small method written here, trained a few steps on stories260K:
 * frozen method-supplied tensors (float32 and uint8 codes dequantised in the graph), state and
 * hooks with a cadence, exposed gradients and outputs, the calibration phase, and the errors at job
 * start for what a run cannot honour.
 */
@Tag("slow")
class PlatformSitesTest {
  @TempDir Path dir;

  private Map<String, String> spec(String method, int steps) throws Exception {
    return Fixtures.spec(dir, method, steps);
  }

  private SftRun run(FineTuningMethod method, int steps) throws Exception {
    MethodRegistry registry = new FixedMethodRegistry(List.of(method));
    return new SftRun(
        JobSpec.parse(spec(method.info().name(), steps), registry),
        registry,
        Fixtures.cpu(),
        n -> {});
  }

  private List<Double> train(FineTuningMethod method, int steps) throws Exception {
    List<Double> losses = new ArrayList<>();
    try (SftRun run = run(method, steps)) {
      for (int s = 0; s < steps; s++) {
        losses.add(run.step(s).loss());
      }
    }
    return losses;
  }

  private static void assertFalls(List<Double> losses) {
    assertTrue(
        losses.get(losses.size() - 1) < losses.get(0) - 0.05, "the loss must fall: " + losses);
  }

  /** Uniform values on ±bound from a fixed seed. */
  private static float[] uniform(int n, double bound, long seed) {
    Random random = new Random(seed);
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) ((random.nextDouble() * 2 - 1) * bound);
    }
    return v;
  }

  @Test
  void aFrozenParameterThatAMethodDeclaresIsFedAndNeverTrained() throws Exception {
    Map<String, float[]> seenA = new LinkedHashMap<>();
    List<float[]> frozenA = new ArrayList<>();
    FineTuningMethod method =
        new TestMethod(
            "frozen-a",
            a -> {
              for (LinearSite site : TestMethod.queries(a)) {
                float[] values = uniform(4 * site.inFeatures(), 0.1, site.layer());
                frozenA.add(values);
                Tensor aw =
                    a.parameter(
                        site.module(),
                        "lora_A.weight",
                        new long[] {4, site.inFeatures()},
                        Init.of(values),
                        false);
                Tensor bw =
                    a.parameter(
                        site.module(),
                        "lora_B.weight",
                        new long[] {site.outFeatures(), 4},
                        Init.zeros(),
                        true);
                a.rewriteLinear(
                    site,
                    (g, x, base, s) ->
                        g.add(base, g.mul(g.linear(g.linear(x, aw, null), bw, null), 2.0)));
              }
              a.onStep(
                  c -> {
                    for (LinearSite site : TestMethod.queries(a)) {
                      seenA.put(site.module(), c.read(site.module() + ".lora_A.weight"));
                    }
                  },
                  0);
            });
    assertFalls(train(method, 6));
    assertEquals(5, seenA.size(), "the hook ran at the end of the phase");
    int i = 0;
    for (float[] read : seenA.values()) {
      assertArrayEquals(frozenA.get(i++), read, "A is frozen at the values the method gave");
    }
  }

  @Test
  void uint8CodesWithBfloat16ScalesAreDequantisedInTheGraphInPlaceOfABaseWeight() throws Exception {
    FineTuningMethod quantised =
        new TestMethod(
            "int8-base",
            a -> {
              for (LinearSite site : TestMethod.queries(a)) {
                quantise(a, site);
                TestMethod.lora(a, site, 4, 0);
              }
            });
    FineTuningMethod plain =
        new TestMethod(
            "plain",
            a -> {
              for (LinearSite site : TestMethod.queries(a)) {
                TestMethod.lora(a, site, 4, 0);
              }
            });
    List<Double> losses = train(quantised, 6);
    assertFalls(losses);
    double base = train(plain, 1).get(0);
    assertEquals(base, losses.get(0), 2e-2 * base, "8-bit weights change the loss little");
    assertTrue(losses.get(0) != base, "the dequantised weights are used, not the checkpoint's");
  }

  /**
   * Replaces the weight of {@code site} by 8-bit codes dequantised in the graph: per-row absmax
   * codes 0..254 around 127 (UINT8) and one scale per row stored as bfloat16, W ≈ (codes − 127)·s.
   */
  private static void quantise(Adaptation a, LinearSite site) {
    float[] w = a.weight(site.weight());
    int out = site.outFeatures();
    int in = site.inFeatures();
    ByteBuffer codes = ByteBuffer.allocateDirect(out * in).order(ByteOrder.LITTLE_ENDIAN);
    ByteBuffer bf16 = ByteBuffer.allocateDirect(2 * out).order(ByteOrder.LITTLE_ENDIAN);
    for (int r = 0; r < out; r++) {
      float max = 1e-12f;
      for (int c = 0; c < in; c++) {
        max = Math.max(max, Math.abs(w[r * in + c]));
      }
      float scale = max / 127;
      for (int c = 0; c < in; c++) {
        codes.put(r * in + c, (byte) (Math.round(w[r * in + c] / scale) + 127));
      }
      bf16.putShort(2 * r, (short) (Float.floatToIntBits(scale) >>> 16)); // upper half
    }
    Tensor q =
        a.frozen(site.module(), "codes", new HostTensor(DType.UINT8, new long[] {out, in}, codes));
    Tensor s =
        a.frozen(
            site.module(), "scales", new HostTensor(DType.BFLOAT16, new long[] {out, 1}, bf16));
    GraphOps g = a.graph();
    a.replaceWeight(
        site.weight(),
        g.mul(
            g.sub(g.cast(q, DType.FLOAT32), g.scalar(127, DType.FLOAT32)),
            g.cast(s, DType.FLOAT32))); // (out, in)
  }

  @Test
  void methodTensorsAndStateAreSavedAndLoadBackBitExact() throws Exception {
    FineTuningMethod method =
        new TestMethod(
            "supplied",
            a -> {
              LinearSite site = TestMethod.queries(a).get(0);
              quantise(a, site);
              Tensor aw =
                  a.frozen(
                      site.module(),
                      "lora_A.weight",
                      HostTensor.ofFloats(
                          new long[] {4, site.inFeatures()},
                          uniform(4 * site.inFeatures(), 0.1, 1)));
              Tensor bw =
                  a.parameter(
                      site.module(),
                      "lora_B.weight",
                      new long[] {site.outFeatures(), 4},
                      Init.zeros(),
                      true);
              Tensor gate = a.state(site.module(), "gate", HostTensor.ofFloats(new long[] {1}, 1f));
              a.rewriteLinear(
                  site,
                  (g, x, base, s) ->
                      g.add(base, g.mul(g.linear(g.linear(x, aw, null), bw, null), gate)));
              a.onStep(c -> c.write(site.module() + ".gate", new float[] {1f + c.step()}), 1);
            });
    MethodRegistry registry = new FixedMethodRegistry(List.of(method));
    Map<String, String> spec = spec("supplied", 3);
    spec.put("save_steps", "3");
    Path out = Fixtures.train(spec, dir.resolve("job"), registry);
    Path base = Fixtures.shared("models/stories260K");
    String module = "model.layers.0.self_attn.q_proj";
    try (SafetensorsReader adapter =
            SafetensorsReader.open(out.resolve("adapter/adapter_model.safetensors"));
        SafetensorsReader state =
            SafetensorsReader.open(out.resolve("checkpoint-3/state.safetensors"))) {
      assertEquals(
          Set.of(
              "base_model.model." + module + ".lora_B.weight",
              "base_model.model." + module + ".gate"),
          adapter.names(),
          "trainables and state are saved; frozen tensors (A, codes, scales) are computed again");
      Adapters.Adapted loaded = Adapters.load(base, out.resolve("adapter"), registry, false);
      Map<String, HostTensor> w = loaded.weights();
      assertArrayEquals(
          state.floats(module + ".lora_B.weight"), w.get(module + ".lora_B.weight").floats());
      assertArrayEquals(
          new float[] {4f}, w.get(module + ".gate").floats(), "the hook's last write");
      assertArrayEquals(
          uniform(4 * 64, 0.1, 1),
          w.get(module + ".lora_A.weight").floats(),
          "the method computed A again");
      assertEquals(DType.UINT8, w.get(module + ".codes").dtype());
      float[] logits = Fixtures.logits(loaded.model(), w);
      float[] plain = Fixtures.baseLogits(base);
      double diff = 0;
      for (int i = 0; i < logits.length; i++) {
        diff = Math.max(diff, Math.abs(logits[i] - plain[i]));
      }
      assertTrue(diff > 1e-3, "the trained adapter changes the logits: " + diff);
    }
  }

  @Test
  void hooksRunAtTheirCadenceReadGradientsAndOutputsAndWriteStateThatCheckpointsKeep()
      throws Exception {
    List<String> calls = new ArrayList<>();
    FineTuningMethod method =
        new TestMethod(
            "hooked",
            a -> {
              LinearSite site = TestMethod.queries(a).get(0);
              Tensor branch = TestMethod.lora(a, site, 4, 0);
              a.output("branch", branch);
              String b = site.module() + ".lora_B.weight";
              String aName = site.module() + ".lora_A.weight";
              a.exposeGradient(b);
              a.state("", "hook.count", HostTensor.ofFloats(new long[] {1}, 0f));
              a.onStep(
                  c -> {
                    float count = c.read("hook.count")[0] + 1;
                    c.write("hook.count", new float[] {count});
                    float[] grad = c.gradient(b);
                    assertEquals(site.outFeatures() * 4, grad.length);
                    double norm = 0;
                    for (float v : grad) {
                      norm += v * v;
                    }
                    assertTrue(norm > 0, "B's gradient is non-zero");
                    assertTrue(c.output("branch").length > 0);
                    // Zero A's first row: the next read sees it.
                    float[] av = c.read(aName);
                    java.util.Arrays.fill(av, 0, site.inFeatures(), 0f);
                    c.write(aName, av);
                    assertEquals(0f, c.read(aName)[0]);
                    calls.add(
                        c.phase()
                            + "@"
                            + c.step()
                            + (c.phaseEnd() ? " end" : "")
                            + " #"
                            + (int) count);
                  },
                  2);
            });
    Path checkpoint = Files.createDirectories(dir.resolve("checkpoint"));
    try (SftRun run = run(method, 5)) {
      for (int s = 0; s < 4; s++) {
        run.step(s);
      }
      run.saveCheckpoint(checkpoint, 4);
    }
    assertEquals(List.of("train@2 #1", "train@4 #2"), calls);
    try (SftRun resumed = run(method, 5)) {
      assertEquals(4, resumed.restore(checkpoint));
      resumed.step(4);
    }
    assertEquals(
        List.of("train@2 #1", "train@4 #2", "train@5 end #3"),
        calls,
        "the count lives in state that the checkpoint carried");
  }

  @Test
  void aCalibrationPhaseTrainsMeasuresRebuildsAndIsReplayedOnResume() throws Exception {
    List<Map<String, Double>> answers = new ArrayList<>();
    int[] chosen = {-1};
    FineTuningMethod method =
        new TestMethod(
            "calibrated",
            a -> {
              List<LinearSite> sites = TestMethod.queries(a);
              if (chosen[0] < 0) {
                for (LinearSite site : sites) {
                  a.output("norm." + site.layer(), TestMethod.lora(a, site, 4, 0));
                }
                a.calibration(2);
              } else {
                TestMethod.lora(a, sites.get(chosen[0]), 4, 0);
              }
            },
            (calibration, builds) -> {
              Map<String, Double> norms = calibration.meanSquaredNorms(2);
              answers.add(norms);
              String top =
                  norms.entrySet().stream().max(Map.Entry.comparingByValue()).get().getKey();
              chosen[0] = Integer.parseInt(top.substring("norm.".length()));
            });
    Path checkpoint = Files.createDirectories(dir.resolve("checkpoint"));
    List<Double> losses = new ArrayList<>();
    try (SftRun run = run(method, 4)) {
      for (int s = 0; s < 2; s++) {
        losses.add(run.step(s).loss());
      }
      run.saveCheckpoint(checkpoint, 2);
    }
    assertEquals(1, answers.size());
    assertEquals(5, answers.get(0).size(), "one answer per declared output");
    assertTrue(
        answers.get(0).values().stream().allMatch(v -> v > 0),
        "two warm-up steps moved B off zero: " + answers.get(0));
    assertTrue(Files.exists(checkpoint.resolve("calibration.json")));
    int first = chosen[0];
    chosen[0] = -1;
    try (SftRun resumed = run(method, 4)) {
      resumed.restore(checkpoint);
      losses.add(resumed.step(2).loss());
      losses.add(resumed.step(3).loss());
    }
    assertEquals(2, answers.size());
    assertEquals(answers.get(0), answers.get(1), "the resumed job replays the recorded answers");
    assertEquals(first, chosen[0]);
    assertFalls(losses);
  }

  @Test
  void sitesARunCannotHonourAreErrorsAtJobStart() {
    FineTuningMethod frozenGradient =
        new TestMethod(
            "frozen-gradient",
            a -> {
              TestMethod.lora(a, TestMethod.queries(a).get(0), 4, 0);
              a.exposeGradient(TestMethod.queries(a).get(0).weight());
            });
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> run(frozenGradient, 2));
    assertTrue(e.getMessage().contains("does not train"), e.getMessage());

    FineTuningMethod nothingToMeasure =
        new TestMethod(
            "blind-calibration",
            a -> {
              TestMethod.lora(a, TestMethod.queries(a).get(0), 4, 0);
              a.calibration(1);
            });
    e = assertThrows(IllegalArgumentException.class, () -> run(nothingToMeasure, 2));
    assertTrue(e.getMessage().contains("declared no output"), e.getMessage());

    FineTuningMethod badCadence =
        new TestMethod(
            "bad-cadence",
            a -> {
              TestMethod.lora(a, TestMethod.queries(a).get(0), 4, 0);
              a.onStep(c -> {}, -1);
            });
    e = assertThrows(IllegalArgumentException.class, () -> run(badCadence, 2));
    assertTrue(e.getMessage().contains("cadence"), e.getMessage());

    FineTuningMethod twice =
        new TestMethod(
            "twice",
            a -> {
              TestMethod.lora(a, TestMethod.queries(a).get(0), 4, 0);
              a.state("", "s", HostTensor.ofFloats(new long[] {1}, 0f));
              a.frozen("", "s", HostTensor.ofFloats(new long[] {1}, 0f));
            });
    e = assertThrows(IllegalArgumentException.class, () -> run(twice, 2));
    assertTrue(e.getMessage().contains("declared twice"), e.getMessage());
  }
}
