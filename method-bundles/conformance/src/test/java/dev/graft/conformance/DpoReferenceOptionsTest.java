package dev.graft.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.graft.api.model.EvaluationSettings;
import dev.graft.api.model.PreferenceEvaluation;
import dev.graft.train.job.Run;
import dev.graft.train.run.SftRun;
import dev.graft.train.service.ModelServiceImpl;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The reference model's job keys on stories260K: {@code precompute_ref_log_probs} gives the losses
 * of the reference pass run before each step, across epochs, accumulation and a resume; {@code
 * ref_adapter} makes the base model with a saved adapter the reference.
 */
class DpoReferenceOptionsTest {
  @TempDir Path dir;

  private static Path fixture(String name) throws Exception {
    return Path.of(DpoReferenceOptionsTest.class.getResource("/dpo-reference/" + name).toURI());
  }

  /** Six pairs of different lengths, so that rows are padded differently in each batch. */
  private Path pairs() throws Exception {
    Path file = dir.resolve("pairs.jsonl");
    Files.writeString(
        file,
        """
        {"prompt": "Once upon a time, there was a little", "chosen": " cat.", "rejected": " dog who liked to run."}
        {"prompt": "Lily had a red", "chosen": " ball that she loved very much.", "rejected": " hat."}
        {"prompt": "The bird sang a happy", "chosen": " song.", "rejected": " day."}
        {"prompt": "Tim and Anna built a", "chosen": " tower.", "rejected": " big house by the sea."}
        {"prompt": "One day, the sun", "chosen": " was warm and bright.", "rejected": " hid."}
        {"prompt": "The dog ran to the", "chosen": " park.", "rejected": " tree and barked."}
        """);
    return file;
  }

  /** lora,dpo in batches of 2 pairs, 2 micro-batches a step: 3 batches an epoch. */
  private Map<String, String> job(boolean precompute) throws Exception {
    Map<String, String> spec = new LinkedHashMap<>();
    spec.put("model", Fixtures.shared("models/stories260K").toString());
    spec.put("data", pairs().toString());
    spec.put("method", "lora,dpo");
    spec.put("lora.r", "2");
    spec.put("lora.target_modules", "q_proj,v_proj");
    spec.put("seed", "5");
    spec.put("per_device_train_batch_size", "2");
    spec.put("gradient_accumulation_steps", "2");
    spec.put("max_length", "64");
    spec.put("learning_rate", "1e-2");
    spec.put("max_steps", "4");
    spec.put("precompute_ref_log_probs", Boolean.toString(precompute));
    return spec;
  }

  /** Loss and margin of each step from {@code from} to 4, of a run that starts or resumes. */
  private static List<double[]> steps(SftRun run, int from) {
    List<double[]> out = new ArrayList<>();
    for (int s = from; s < 4; s++) {
      Run.StepResult r = run.step(s);
      out.add(new double[] {r.loss(), r.metrics().get("rewards/margins")});
    }
    return out;
  }

  private static void assertSameSteps(List<double[]> want, List<double[]> got, int from) {
    assertEquals(want.size() - from, got.size());
    for (int s = 0; s < got.size(); s++) {
      assertEquals(want.get(from + s)[0], got.get(s)[0], 1e-6, "loss of step " + (from + s));
      assertEquals(want.get(from + s)[1], got.get(s)[1], 1e-5, "margin of step " + (from + s));
    }
  }

  @Test
  void precomputedReferenceSumsGiveTheLossesOfTheReferencePassAcrossEpochsAndAResume()
      throws Exception {
    List<double[]> live;
    try (SftRun run = MatrixRow.run(job(false))) {
      live = steps(run, 0);
    }
    assertTrue(live.get(0)[0] > 0 && Math.abs(live.get(3)[1]) > 1e-3, "the run trains");
    try (SftRun run = MatrixRow.run(job(true))) {
      assertSameSteps(live, steps(run, 0), 0);
    }
    Path checkpoint = Files.createDirectories(dir.resolve("checkpoint-2"));
    try (SftRun run = MatrixRow.run(job(true))) {
      run.step(0);
      run.step(1);
      run.saveCheckpoint(checkpoint, 2);
    }
    try (SftRun run = MatrixRow.run(job(true))) {
      assertEquals(2, run.restore(checkpoint));
      assertSameSteps(live, steps(run, 2), 2);
    }
  }

  /** The fixture's four pairs in one batch, as {@link DpoTest} trains them. */
  private static Map<String, String> fixtureJob() throws Exception {
    Map<String, String> spec = new LinkedHashMap<>();
    spec.put("model", Fixtures.shared("models/stories260K").toString());
    spec.put("data", fixture("pairs.jsonl").toString());
    spec.put("method", "lora,dpo");
    spec.put("lora.r", "2");
    spec.put("lora.lora_alpha", "4");
    spec.put("lora.target_modules", "q_proj,v_proj");
    spec.put("per_device_train_batch_size", "4");
    spec.put("max_length", "128");
    spec.put("max_steps", "1");
    return spec;
  }

  @Test
  void aReferenceAdapterMakesTheReferenceSumsThoseOfBasePlusThatAdapter() throws Exception {
    PreferenceEvaluation withAdapter =
        new ModelServiceImpl(Fixtures.REGISTRY, Fixtures.BACKENDS)
            .evaluatePreferences(
                Fixtures.shared("models/stories260K"),
                fixture("adapter"),
                fixture("pairs.jsonl"),
                new EvaluationSettings("auto", Map.of(), 128, 2, 0, "cpu", true, true, true),
                0.1)
            .orElseThrow();
    Map<String, String> spec = fixtureJob();
    spec.put("ref_adapter", fixture("adapter").toString());
    for (boolean precompute : new boolean[] {false, true}) {
      spec.put("precompute_ref_log_probs", Boolean.toString(precompute));
      Map<String, Double> m;
      try (SftRun run = MatrixRow.run(spec)) {
        m = run.step(0).metrics();
      }
      // At step 0 the policy is the base model (LoRA's B is 0): logps are the base's sums, and
      // rewards are β·(policy − reference), so the reference's mean sums are logps − rewards/β.
      double chosen = m.get("logps/chosen") - m.get("rewards/chosen") / 0.1;
      double rejected = m.get("logps/rejected") - m.get("rewards/rejected") / 0.1;
      assertEquals(withAdapter.logpsChosen(), chosen, 1e-3, "precompute " + precompute);
      assertEquals(withAdapter.logpsRejected(), rejected, 1e-3, "precompute " + precompute);
      assertTrue(
          Math.abs(chosen - m.get("logps/chosen")) > 1, "differs from the base: " + m.toString());
    }
  }

  @Test
  void continuingFromAnAdapterThatIsAlsoTheReferenceStartsAtLn2() throws Exception {
    Map<String, String> spec = fixtureJob();
    spec.put("adapter", fixture("adapter").toString());
    spec.put("ref_adapter", fixture("adapter").toString());
    try (SftRun run = MatrixRow.run(spec)) {
      Run.StepResult first = run.step(0);
      assertEquals(Math.log(2), first.loss(), 1e-6);
      assertEquals(0, first.metrics().get("rewards/margins"), 1e-6);
    }
  }

  @Test
  void theReferenceKeysWithoutAnObjectiveThatHasAReferenceAreRefused() throws Exception {
    Map<String, String> spec = Fixtures.spec(dir, "lora", 1);
    spec.put("ref_adapter", fixture("adapter").toString());
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> MatrixRow.run(spec).close());
    assertEquals(
        "ref_adapter sets up the reference model of an objective that compares against one, and"
            + " this job's methods set none; add such a method (dpo) or remove the key.",
        e.getMessage());
  }

  @Test
  void aReferenceAdapterThatDoesNotFitTheModelIsRefusedBeforeAnyStep() throws Exception {
    Map<String, String> spec = fixtureJob();
    // The folder holds LoRA tensors of another rank than its adapter_config.json says.
    Path bad = Files.createDirectories(dir.resolve("bad"));
    Files.copy(
        fixture("adapter").resolve("adapter_model.safetensors"),
        bad.resolve("adapter_model.safetensors"));
    Files.writeString(
        bad.resolve("adapter_config.json"),
        Files.readString(fixture("adapter").resolve("adapter_config.json"))
            .replaceFirst("\"r\": *2", "\"r\": 4"));
    spec.put("ref_adapter", bad.toString());
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> MatrixRow.run(spec).close());
    assertTrue(e.getMessage().startsWith(bad.toString()), e.getMessage());
  }
}
