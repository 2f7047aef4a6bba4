package dev.graft.conformance;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.api.model.EvaluationSettings;
import dev.graft.api.model.PreferenceEvaluation;
import dev.graft.model.Tokenizer;
import dev.graft.train.data.Encoded;
import dev.graft.train.data.Jsonl;
import dev.graft.train.data.RowLayout;
import dev.graft.train.job.Run;
import dev.graft.train.run.SftRun;
import dev.graft.train.service.ModelServiceImpl;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * DPO on stories260K against {@code tools/dpo_reference.py}, an independent PyTorch reference (its
 * own BPE, Llama forward, LoRA and DPO loss), whose fixed LoRA adapter, four pairs and expected
 * values are in {@code src/test/resources/dpo-reference}; and DPO training with LoRA and with full
 * fine-tuning.
 */
class DpoTest {
  private static final double TOLERANCE = 1e-4;

  @TempDir Path dir;

  private static Path fixture(String name) throws Exception {
    return Path.of(DpoTest.class.getResource("/dpo-reference/" + name).toURI());
  }

  private static JsonNode expected() throws Exception {
    return new ObjectMapper().readTree(fixture("expected.json").toFile());
  }

  private static EvaluationSettings settings() {
    return new EvaluationSettings("auto", Map.of(), 128, 2, 0, "cpu", true, true, true);
  }

  /** A job on stories260K; its LoRA, if any, is shaped as the reference adapter. */
  private static Map<String, String> job(Path data, String methods, int steps) throws Exception {
    Map<String, String> spec = new java.util.LinkedHashMap<>();
    spec.put("model", Fixtures.shared("models/stories260K").toString());
    spec.put("data", data.toString());
    spec.put("method", methods);
    if (methods.startsWith("lora,")) {
      spec.put("lora.r", "2");
      spec.put("lora.lora_alpha", "4");
      spec.put("lora.target_modules", "q_proj,v_proj");
    }
    spec.put("seed", "1");
    spec.put("per_device_train_batch_size", "4");
    spec.put("max_length", "64");
    spec.put("learning_rate", "1e-2");
    spec.put("max_steps", Integer.toString(steps));
    return spec;
  }

  @Test
  void graftEncodesThePairsAsTheReferenceDoes() throws Exception {
    Tokenizer tokenizer = Tokenizer.load(Fixtures.shared("models/stories260K"));
    List<Jsonl.Line> lines = Jsonl.lines(fixture("pairs.jsonl"), null, Map.of(), 0, List.of());
    JsonNode pairs = expected().get("pairs");
    for (int i = 0; i < lines.size(); i++) {
      List<Encoded> rows =
          Encoded.rows(
              lines.get(i),
              i,
              tokenizer,
              null,
              null,
              RowLayout.PAIRS,
              new Encoded.Settings(128, true, true, false),
              w -> {});
      String[] sides = {"chosen", "rejected"};
      for (int r = 0; r < 2; r++) {
        JsonNode ids = pairs.get(i).get(sides[r]).get("ids");
        int[] want = new int[ids.size()];
        for (int k = 0; k < want.length; k++) {
          want[k] = ids.get(k).asInt();
        }
        assertArrayEquals(want, rows.get(r).ids(), "pair " + i + " " + sides[r]);
      }
    }
  }

  @Test
  void theEvaluationOfAFixedAdapterMatchesTheTorchReference() throws Exception {
    PreferenceEvaluation e =
        new ModelServiceImpl(Fixtures.REGISTRY, Fixtures.BACKENDS)
            .evaluatePreferences(
                Fixtures.shared("models/stories260K"),
                fixture("adapter"),
                fixture("pairs.jsonl"),
                settings(),
                0.1)
            .orElseThrow();
    JsonNode want = expected();
    assertEquals(4, e.pairs());
    assertEquals(want.get("loss").asDouble(), e.loss(), TOLERANCE, "loss");
    assertEquals(want.get("rewards/chosen").asDouble(), e.rewardsChosen(), TOLERANCE);
    assertEquals(want.get("rewards/rejected").asDouble(), e.rewardsRejected(), TOLERANCE);
    assertEquals(want.get("rewards/margins").asDouble(), e.rewardsMargin(), TOLERANCE);
    assertEquals(want.get("rewards/accuracies").asDouble(), e.rewardsAccuracy(), 0);
    // Sums of about 100 log-probabilities: float32 holds them to a few 1e-5 relative.
    assertEquals(want.get("logps/chosen").asDouble(), e.logpsChosen(), 1e-5 * 100);
    assertEquals(want.get("logps/rejected").asDouble(), e.logpsRejected(), 1e-5 * 100);
  }

  @Test
  void trainingFromTheFixedAdapterComparesItWithTheAdapterFreeBaseModel() throws Exception {
    // Continuing from the reference adapter, the policy is that adapter; a reference pass that
    // used the adapted weights would give every pair h = 0 and the loss log 2.
    Map<String, String> spec = job(fixture("pairs.jsonl"), "lora,dpo", 1);
    spec.put("adapter", fixture("adapter").toString());
    Run.StepResult first;
    try (SftRun run = MatrixRow.run(spec)) {
      first = run.step(0);
    }
    JsonNode want = expected();
    assertEquals(want.get("loss").asDouble(), first.loss(), TOLERANCE);
    assertEquals(
        want.get("rewards/margins").asDouble(), first.metrics().get("rewards/margins"), TOLERANCE);
  }

  /** Four pairs whose chosen and rejected completions differ in their last word only. */
  private Path oneTokenPairs() throws Exception {
    Path file = dir.resolve("one-token.jsonl");
    Files.writeString(
        file,
        """
        {"prompt": "Once upon a time, there was a little", "chosen": " cat.", "rejected": " dog."}
        {"prompt": "Lily had a red", "chosen": " ball.", "rejected": " hat."}
        {"prompt": "The bird sang a happy", "chosen": " song.", "rejected": " day."}
        {"prompt": "Tim and Anna built a", "chosen": " tower.", "rejected": " house."}
        """);
    return file;
  }

  @Tag("slow")
  @Test
  void loraDpoOnPairsThatDifferInOneTokenReachesARewardAccuracyOfOne() throws Exception {
    double accuracy = Double.NaN;
    double margin = Double.NaN;
    try (SftRun run = MatrixRow.run(job(oneTokenPairs(), "lora,dpo", 30))) {
      assertEquals(0.0, run.step(0).metrics().get("rewards/accuracies"), "no preference at init");
      for (int s = 1; s < 30; s++) {
        Run.StepResult r = run.step(s);
        accuracy = r.metrics().get("rewards/accuracies");
        margin = r.metrics().get("rewards/margins");
      }
    }
    assertEquals(1.0, accuracy, "margin " + margin);
    assertTrue(margin > 0, "margin " + margin);
  }

  @Test
  void fullDpoKeepsAFrozenCopyOfTheStartingModelAsItsReference() throws Exception {
    // If the reference followed the trained weights, every step would see h = 0 and log 2.
    List<Double> losses = GoldenCurveTest.losses(job(oneTokenPairs(), "full,dpo", 3), 3);
    assertEquals(Math.log(2), losses.get(0), 1e-6, "the first step starts from the reference");
    assertTrue(losses.get(2) < Math.log(2) - 1e-3, "then the policy moves away: " + losses);
  }

  @Test
  void aDpoJobWritesItsRewardsToMetricsCsvAndTheReport() throws Exception {
    Path out =
        Fixtures.train(job(oneTokenPairs(), "lora,dpo", 2), dir.resolve("job"), Fixtures.REGISTRY);
    List<String> csv = Files.readAllLines(out.resolve("metrics.csv"));
    assertEquals(
        "step,loss,learning_rate,grad_norm,tokens,tokens_per_second,elapsed_seconds,"
            + "rewards/chosen,rewards/rejected,rewards/accuracies,rewards/margins,"
            + "logps/chosen,logps/rejected",
        csv.get(0));
    assertEquals(3, csv.size(), "a header and a row per step");
    assertTrue(Files.readString(out.resolve("report.html")).contains("<h2>rewards/margins</h2>"));
  }
}
