package dev.graft.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.api.model.Evaluation;
import dev.graft.api.model.EvaluationSettings;
import dev.graft.api.model.GenerationSettings;
import dev.graft.api.model.ModelService;
import dev.graft.train.run.SftRun;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The sample format an instruction-tuned adapter saved ({@value SftRun#SAMPLE_FORMAT}) applies
 * alike in generation, evaluation and merged models; {@code raw} skips it. Compared with a copy of
 * the adapter without the file, given the Alpaca text by hand.
 */
class SavedFormatTest {
  @TempDir static Path dir;

  static final ModelService SERVICE = ModelServiceTest.SERVICE;
  static final String ALPACA = InstructionTuningTest.ALPACA;
  static final GenerationSettings GREEDY = GenerationSettings.greedy(12);

  static Path model;

  /** A LoRA adapter trained with instruction-tuning's Alpaca template, with its format file. */
  static Path adapter;

  /** The same adapter without the format file. */
  static Path bare;

  /** Prompt/completion pairs, and the same pairs with the prompts in Alpaca's text. */
  static Path pairs;

  static Path alpacaPairs;

  @BeforeAll
  static void train() throws Exception {
    model = Fixtures.shared("models/stories260K");
    ObjectMapper json = new ObjectMapper();
    StringBuilder plain = new StringBuilder();
    StringBuilder formatted = new StringBuilder();
    for (String story : GoldenCurveTest.STORIES) {
      int cut = story.indexOf(". ") + 1;
      String prompt = story.substring(0, cut);
      String completion = story.substring(cut + 1);
      plain.append(json.writeValueAsString(Map.of("prompt", prompt, "completion", completion)));
      formatted.append(
          json.writeValueAsString(
              Map.of("prompt", ALPACA + prompt + "\n\n### Response:\n", "completion", completion)));
      plain.append('\n');
      formatted.append('\n');
    }
    pairs = Files.writeString(dir.resolve("pairs.jsonl"), plain);
    alpacaPairs = Files.writeString(dir.resolve("alpaca.jsonl"), formatted);
    Map<String, String> spec = new LinkedHashMap<>();
    spec.put("model", model.toString());
    spec.put("data", pairs.toString());
    spec.put("method", "lora,instruction-tuning");
    spec.put("lora.target_modules", "all-linear");
    spec.put("instruction-tuning.template", "alpaca");
    spec.put("seed", "5");
    spec.put("per_device_train_batch_size", "4");
    spec.put("max_length", "128");
    spec.put("learning_rate", "1e-2");
    spec.put("max_steps", "6");
    Path out = Fixtures.train(spec, dir.resolve("job"), Fixtures.REGISTRY);
    adapter = out.resolve("adapter");
    bare = Files.createDirectories(dir.resolve("bare"));
    for (String f : List.of("adapter_config.json", "adapter_model.safetensors")) {
      Files.copy(adapter.resolve(f), bare.resolve(f));
    }
  }

  private static Evaluation evaluate(Path modelDir, Path adapterDir, Path data, boolean raw) {
    return SERVICE.evaluate(modelDir, adapterDir, data, EvaluationSettings.defaults().withRaw(raw));
  }

  @Test
  void theFormatThatAppliesIsTheAdaptersOrElseTheModelFolders() {
    assertEquals(
        Optional.of(adapter.resolve(SftRun.SAMPLE_FORMAT)), SERVICE.sampleFormat(model, adapter));
    assertEquals(Optional.empty(), SERVICE.sampleFormat(model, bare));
    assertEquals(Optional.empty(), SERVICE.sampleFormat(model, null));
  }

  @Test
  void evaluationWithTheAdapterRendersSamplesInItsSavedFormat() {
    Evaluation formatted = evaluate(model, adapter, pairs, false);
    Evaluation byHand = evaluate(model, bare, alpacaPairs, false);
    assertEquals(byHand.loss(), formatted.loss(), 1e-5);
    assertEquals(byHand.tokens(), formatted.tokens());
    assertEquals(byHand.exactMatch(), formatted.exactMatch(), 1e-12);
  }

  @Test
  void rawEvaluationUsesTheSamplesAsTheyAre() {
    Evaluation raw = evaluate(model, adapter, pairs, true);
    assertEquals(evaluate(model, bare, pairs, false).loss(), raw.loss(), 1e-5);
    assertNotEquals(evaluate(model, adapter, pairs, false).loss(), raw.loss(), 1e-3);
  }

  @Test
  void generationWithTheAdapterPutsThePromptInItsSavedFormatAndRawSendsItAsGiven() {
    String prompt = "Lily liked to play.";
    assertEquals(
        SERVICE.generate(model, bare, ALPACA + prompt + "\n\n### Response:\n", GREEDY),
        SERVICE.generate(model, adapter, prompt, GREEDY));
    assertEquals(
        SERVICE.generate(model, bare, prompt, GREEDY),
        SERVICE.generate(model, adapter, prompt, GREEDY.withRaw(true)));
  }

  @Test
  void aMergedModelCarriesTheFormatAndAnswersAsBasePlusAdapter() throws Exception {
    Path merged = SERVICE.merge(model, adapter, dir.resolve("merged"));
    assertEquals(
        Files.readString(adapter.resolve(SftRun.SAMPLE_FORMAT)),
        Files.readString(merged.resolve(SftRun.SAMPLE_FORMAT)));
    assertEquals(
        Optional.of(merged.resolve(SftRun.SAMPLE_FORMAT)), SERVICE.sampleFormat(merged, null));
    String prompt = "Lily liked to play.";
    assertEquals(
        SERVICE.generate(model, adapter, prompt, GREEDY),
        SERVICE.generate(merged, null, prompt, GREEDY));
    assertEquals(
        evaluate(model, adapter, pairs, false).loss(),
        evaluate(merged, null, pairs, false).loss(),
        1e-4);
  }

  @Test
  void unmergingTakesTheAdaptersFormatOutWithIt() throws Exception {
    Path merged = SERVICE.merge(model, adapter, dir.resolve("merged-again"));
    Path unmerged = SERVICE.unmerge(merged, adapter, dir.resolve("unmerged"));
    assertFalse(Files.exists(unmerged.resolve(SftRun.SAMPLE_FORMAT)));
    assertTrue(Files.isRegularFile(unmerged.resolve("model.safetensors")));
  }
}
