package dev.graft.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.graft.api.FineTuningMethod;
import dev.graft.api.adapt.MethodInstance;
import dev.graft.api.backend.HostTensor;
import dev.graft.api.train.JobState;
import dev.graft.model.SafetensorsReader;
import dev.graft.train.job.JobSpec;
import dev.graft.train.job.TrainingJob;
import dev.graft.train.run.Adapters;
import dev.graft.train.run.SftRun;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The conformance matrix (PEFT's {@code tests/test_custom_models.py}): every installed method
 * ({@link Fixtures#METHODS}) on a tiny Llama and a tiny GPT-2 ({@link MatrixRow}), trained on the
 * CPU backend. A method that adds no parameters runs composed with lora. What a row expects comes
 * from the method's own answers: {@link MethodInstance#differenceAtInit()} and {@link
 * MethodInstance#mergeable()}. The options rows are in {@link MethodOptionsTest}; stopping a
 * method's bundle under a running job is in the framework tests (itests {@code
 * MethodBundleStopTest}).
 */
class MethodMatrixTest {
  /**
   * float32 rounding of logits whose largest is about 10: a split or fold of W (PiSSA, a merge)
   * moves them by a few 1e-7 relative; a wrong rewrite by far more.
   */
  private static final double ROUNDING = 1e-5;

  @TempDir Path dir;

  @Test
  void aCompositionLeftOutOfTheMatrixIsRefusedInOneSentenceNamingBothMethods() {
    for (FineTuningMethod m : Fixtures.METHODS) {
      if (m.companion().isEmpty()) {
        continue;
      }
      for (FineTuningMethod c : Fixtures.METHODS) {
        MatrixRow.refusal(m, c)
            .ifPresent(
                message -> {
                  assertTrue(message.contains("\"" + m.info().name() + "\""), message);
                  assertTrue(message.contains("\"" + c.info().name() + "\""), message);
                  assertFalse(message.contains("\n"), message);
                });
      }
    }
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("dev.graft.conformance.MatrixRow#rows")
  void theModelAtInitComputesTheBaseOutputUnlessTheMethodSaysWhyNot(MatrixRow row)
      throws Exception {
    Map<String, String> spec = row.spec(dir, 1);
    Path out = Files.createDirectories(dir.resolve("init"));
    try (SftRun run = MatrixRow.run(spec)) {
      run.finish(out);
    }
    Path base = row.modelDir(dir);
    double diff =
        MatrixRow.relativeDiff(MatrixRow.load(out, base).logits(), Fixtures.baseLogits(base));
    Optional<String> why =
        MatrixRow.instances(spec).stream()
            .map(MethodInstance::differenceAtInit)
            .flatMap(Optional::stream)
            .findFirst();
    if (why.isEmpty()) {
      assertTrue(diff < ROUNDING, "at init the logits equal the base model's: " + diff);
    } else {
      assertTrue(diff > ROUNDING, "the method says \"" + why.get() + "\" but the logits equal");
    }
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("dev.graft.conformance.MatrixRow#rows")
  void afterAStepOnlyTheTrainablesHaveChanged(MatrixRow row) throws Exception {
    Path before = Files.createDirectories(dir.resolve("before"));
    Path after = Files.createDirectories(dir.resolve("after"));
    Path checkpoint = Files.createDirectories(dir.resolve("checkpoint"));
    try (SftRun run = MatrixRow.run(row.spec(dir, 1))) {
      // A method that calibrates (LoRA-drop) trains the graph it rebuilt: compare with that one.
      run.calibrateNow();
      run.finish(before);
      run.step(0);
      run.saveCheckpoint(checkpoint, 1);
      run.finish(after);
    }
    Path base = row.modelDir(dir);
    Map<String, HostTensor> initial = MatrixRow.load(before, base).weights();
    MatrixRow.Loaded loadedAfter = MatrixRow.load(after, base);
    Map<String, HostTensor> stepped = loadedAfter.weights();
    assertEquals(initial.keySet(), stepped.keySet(), "the same weights before and after");
    Set<String> trainables = new TreeSet<>();
    try (SafetensorsReader state =
        SafetensorsReader.open(checkpoint.resolve("state.safetensors"))) {
      // The step carries its trainables (and moments and state) from run to run.
      state.names().stream().filter(stepped::containsKey).forEach(trainables::add);
    }
    Set<String> changed = new TreeSet<>();
    for (String name : initial.keySet()) {
      if (!initial.get(name).data().equals(stepped.get(name).data())) {
        changed.add(name);
      }
    }
    assertFalse(changed.isEmpty(), "a step changes a trainable of " + trainables);
    changed.removeAll(trainables);
    // A folded encoder's output changes with the encoder's trained parameters.
    Map<String, String> spec = row.spec(dir, 1);
    changed.removeAll(
        MatrixRow.folded(
            loadedAfter.fromAdapter(),
            MatrixRow.atCheckpoint(spec, Fixtures.REGISTRY, base, checkpoint)));
    assertEquals(Set.of(), changed, "weights that changed but do not train");
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("dev.graft.conformance.MatrixRow#rows")
  void saveThenLoadGivesTheTrainedModelExactly(MatrixRow row) throws Exception {
    Map<String, String> spec = row.spec(dir, 2);
    Path out = Fixtures.train(spec, dir.resolve("job"), Fixtures.REGISTRY);
    Path base = row.modelDir(dir);
    float[] loaded = AdapterRoundTripTest.assertRoundTrip(spec, out, Fixtures.REGISTRY, base);
    assertFalse(Arrays.equals(Fixtures.baseLogits(base), loaded), "two steps change the logits");
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("dev.graft.conformance.MatrixRow#rows")
  void mergingGivesTheUnmergedOutputAndUnmergingTheBaseOrIsRefusedByName(MatrixRow row)
      throws Exception {
    Path out = Fixtures.train(row.spec(dir, 2), dir.resolve("job"), Fixtures.REGISTRY);
    Path adapter = out.resolve("adapter");
    Assumptions.assumeTrue(
        Files.isDirectory(adapter),
        row + " saves a whole model folder (model/), not an adapter: nothing to merge");
    // An adapter trained together with model weights applies to the job's model/.
    Path modelDir =
        Files.isDirectory(out.resolve("model")) ? out.resolve("model") : row.modelDir(dir);
    Adapters.Adapted adapted = Adapters.load(modelDir, adapter, Fixtures.REGISTRY, false);
    List<String> unmergeable =
        adapted.methods().stream()
            .filter(m -> !m.tensors().isEmpty() && !m.instance().mergeable())
            .map(Adapters.Method::name)
            .toList();
    Path merged = dir.resolve("merged");
    if (!unmergeable.isEmpty()) {
      IllegalArgumentException e =
          assertThrows(
              IllegalArgumentException.class,
              () -> Adapters.merge(modelDir, adapter, merged, Fixtures.REGISTRY, false));
      assertTrue(e.getMessage().contains("method " + unmergeable.get(0)), e.getMessage());
      return;
    }
    Adapters.merge(modelDir, adapter, merged, Fixtures.REGISTRY, false);
    float[] unmerged = Fixtures.logits(adapted.model(), adapted.weights());
    double diff = MatrixRow.relativeDiff(Fixtures.baseLogits(merged), unmerged);
    assertTrue(diff < ROUNDING, "merged vs unmerged: " + diff);
    // An adapter that holds model weights themselves (BitFit's biases, as PEFT's bias="all")
    // does not keep the originals it replaced: unmerging it is refused, naming them.
    Adapters.Adapted onMerged = Adapters.load(merged, adapter, Fixtures.REGISTRY, false);
    Set<String> replaced = new TreeSet<>(onMerged.fromAdapter());
    replaced.retainAll(onMerged.model().checkpointNames().keySet());
    if (!replaced.isEmpty()) {
      IllegalArgumentException e =
          assertThrows(
              IllegalArgumentException.class,
              () ->
                  Adapters.merge(
                      merged, adapter, dir.resolve("unmerged"), Fixtures.REGISTRY, true));
      assertTrue(e.getMessage().contains(replaced.iterator().next()), e.getMessage());
      return;
    }
    try {
      Adapters.merge(merged, adapter, dir.resolve("unmerged"), Fixtures.REGISTRY, true);
    } catch (IllegalArgumentException e) {
      // A merge that the merged weights alone cannot undo (DoRA) is refused, naming the method.
      assertTrue(
          adapted.methods().stream().anyMatch(m -> e.getMessage().contains("(method " + m.name())),
          e.getMessage());
      return;
    }
    // A method that changes the base itself (QLoRA) leaves it changed: unmerging gives the model
    // the job started from.
    float[] start = startLogits(row, modelDir);
    diff = MatrixRow.relativeDiff(Fixtures.baseLogits(dir.resolve("unmerged")), start);
    assertTrue(diff < ROUNDING, "unmerging gives the model back: " + diff);
  }

  @Tag("slow")
  @ParameterizedTest(name = "{0}")
  @MethodSource("dev.graft.conformance.MatrixRow#pretrainedRows")
  void aShortRunLowersTheLoss(MatrixRow row) throws Exception {
    // Two batches alternate (eight stories, four a batch): compare means over both, first and last.
    List<Double> losses = GoldenCurveTest.losses(row.spec(dir, 12), 12);
    double first = (losses.get(0) + losses.get(1)) / 2;
    double last = (losses.get(10) + losses.get(11)) / 2;
    assertTrue(last < first - 0.05, "the loss falls over 12 steps: " + losses);
  }

  @Tag("slow")
  @ParameterizedTest(name = "{0}")
  @MethodSource("dev.graft.conformance.MatrixRow#rows")
  void aCancelledJobResumesOnTheUninterruptedCurve(MatrixRow row) throws Exception {
    Map<String, String> spec = row.spec(dir, 4);
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
    assertEquals(
        3, job[0].status().step(), "the cancel stops the job after step 3, with a checkpoint");
    job[0].requeue();
    job[0].run();
    assertEquals(JobState.COMPLETED, job[0].status().state(), job[0].status().message());
    assertEquals(MatrixRow.losses(whole), MatrixRow.losses(parts));
  }

  /**
   * The logits the job started from: the base model's, or, when a method says its model differs at
   * init, those of the adapted model before its first step.
   */
  private float[] startLogits(MatrixRow row, Path modelDir) throws Exception {
    Map<String, String> spec = row.spec(dir, 1);
    boolean differs =
        MatrixRow.instances(spec).stream().anyMatch(m -> m.differenceAtInit().isPresent());
    if (!differs) {
      return Fixtures.baseLogits(modelDir);
    }
    Path out = Files.createDirectories(dir.resolve("start"));
    try (SftRun run = MatrixRow.run(spec)) {
      run.finish(out);
    }
    return MatrixRow.load(out, modelDir).logits();
  }
}
