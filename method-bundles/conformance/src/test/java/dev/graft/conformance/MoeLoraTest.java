package dev.graft.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.model.Tokenizer;
import dev.graft.train.run.Adapters;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * MoELoRA on stories260K with two tasks that ask for different completions of the same prompt: the
 * task-conditioned gate learns both, which a single LoRA of the same size cannot (it sees the same
 * input for both); saved adapters apply, and merge, one task at a time.
 */
class MoeLoraTest {
  private static final String PROMPT = "Tom saw a";
  private static final Map<String, String> COMPLETIONS = Map.of("cats", " cat.", "dogs", " dog.");

  @TempDir static Path dir;
  private static Path model;
  private static Path moelora;
  private static Path lora;

  @BeforeAll
  static void train() throws Exception {
    model = Fixtures.shared("models/stories260K");
    StringBuilder lines = new StringBuilder();
    for (int i = 0; i < 8; i++) {
      String task = i % 2 == 0 ? "cats" : "dogs";
      lines.append(
          String.format(
              "{\"prompt\": \"%s\", \"completion\": \"%s\", \"task\": \"%s\"}%n",
              PROMPT, COMPLETIONS.get(task), task));
    }
    Path data = dir.resolve("pets.jsonl");
    Files.writeString(data, lines);
    moelora = train("moelora", data);
    lora = train("lora", data);
  }

  private static Path train(String method, Path data) throws Exception {
    Path out = Files.createDirectories(dir.resolve(method));
    Map<String, String> spec = Fixtures.spec(out, method, 30);
    spec.put("data", data.toString());
    spec.put("per_device_train_batch_size", "8");
    spec.put("learning_rate", "3e-2");
    if (method.equals("moelora")) {
      spec.put("moelora.tasks", "cats,dogs");
    }
    return Fixtures.train(spec, out.resolve("out"), Fixtures.REGISTRY);
  }

  /**
   * The probability of the first token where a task's text differs from the other task's (both
   * encoded whole, as training encodes prompt and completion), after their common start, with the
   * adapter applied for {@code settings}.
   */
  private static double probability(Path out, Map<String, String> settings, String task)
      throws Exception {
    Tokenizer tokenizer = Tokenizer.load(model);
    int[] mine = tokenizer.encode(PROMPT + COMPLETIONS.get(task), true);
    int[] other =
        tokenizer.encode(PROMPT + COMPLETIONS.get(task.equals("cats") ? "dogs" : "cats"), true);
    int j = 0;
    while (mine[j] == other[j]) {
      j++;
    }
    long[] ids = new long[j];
    for (int i = 0; i < j; i++) {
      ids[i] = mine[i];
    }
    Adapters.Adapted adapted =
        Adapters.load(model, out.resolve("adapter"), Fixtures.REGISTRY, false, settings);
    float[] logits = Fixtures.logits(adapted.model(), adapted.weights(), ids);
    int vocab = logits.length / ids.length;
    float[] last = Arrays.copyOfRange(logits, (ids.length - 1) * vocab, ids.length * vocab);
    double max = Double.NEGATIVE_INFINITY;
    for (float v : last) {
      max = Math.max(max, v);
    }
    double sum = 0;
    for (float v : last) {
      sum += Math.exp(v - max);
    }
    return Math.exp(last[mine[j]] - max) / sum;
  }

  @Test
  void twoTasksWithConflictingCompletionsAreBothLearned() throws Exception {
    double cats = probability(moelora, Map.of("task", "cats"), "cats");
    double dogs = probability(moelora, Map.of("task", "dogs"), "dogs");
    assertTrue(
        cats > 0.8 && dogs > 0.8, "moelora: p(cat | cats) " + cats + ", p(dog | dogs) " + dogs);
  }

  /**
   * LoRA learns that the prompt goes on with a cat or a dog, but sees the same input for both
   * tasks, so it can only split the probability between them.
   */
  @Test
  void aSingleLoraOfTheSameSizeOnlySplitsTheProbabilityBetweenThem() throws Exception {
    double cat = probability(lora, Map.of(), "cats");
    double dog = probability(lora, Map.of(), "dogs");
    assertTrue(
        cat + dog > 0.8 && Math.max(cat, dog) < 0.8, "lora: p(cat) " + cat + ", p(dog) " + dog);
  }

  @Test
  void aMergedTaskComputesWhatTheAdapterComputesForThatTask() throws Exception {
    Path adapter = moelora.resolve("adapter");
    Adapters.Adapted dogs =
        Adapters.load(model, adapter, Fixtures.REGISTRY, false, Map.of("task", "dogs"));
    Path merged = dir.resolve("merged-dogs");
    Adapters.merge(model, adapter, merged, Fixtures.REGISTRY, false, Map.of("task", "dogs"));
    float[] mergedLogits = Fixtures.baseLogits(merged);
    double diff =
        MatrixRow.relativeDiff(mergedLogits, Fixtures.logits(dogs.model(), dogs.weights()));
    assertTrue(diff < 1e-5, "merged vs unmerged: " + diff);
    Adapters.Adapted cats =
        Adapters.load(model, adapter, Fixtures.REGISTRY, false, Map.of("task", "cats"));
    assertFalse(
        MatrixRow.relativeDiff(mergedLogits, Fixtures.logits(cats.model(), cats.weights())) < 1e-5,
        "the other task's model differs");
  }

  @Test
  void anAdapterOfSeveralTasksAsksWhichTaskToApply() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> Adapters.load(model, moelora.resolve("adapter"), Fixtures.REGISTRY, false));
    assertEquals(
        "This MoELoRA adapter was trained for the tasks [cats, dogs]; choose one with --task NAME"
            + " (graft:generate, graft:eval, graft:merge, graft:export).",
        e.getMessage());
  }

  @Test
  void anUnknownTaskIsAnErrorListingTheKnownTasks() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                Adapters.load(
                    model,
                    moelora.resolve("adapter"),
                    Fixtures.REGISTRY,
                    false,
                    Map.of("task", "birds")));
    assertTrue(
        e.getMessage().endsWith("Unknown task \"birds\"; the known tasks are [cats, dogs]."),
        e.getMessage());
  }

  @Test
  void aTaskOptionForAnAdapterWithoutTasksIsRefusedByName() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                Adapters.load(
                    model,
                    lora.resolve("adapter"),
                    Fixtures.REGISTRY,
                    false,
                    Map.of("task", "cats")));
    assertTrue(e.getMessage().contains("(lora) takes the option \"task\""), e.getMessage());
  }

  @Test
  void theAdapterSavesTheTaskIds() throws Exception {
    var config =
        new ObjectMapper().readTree(moelora.resolve("adapter/adapter_config.json").toFile());
    assertEquals("MOELORA", config.path("peft_type").asText());
    assertEquals(0, config.path("task_ids").path("cats").asInt(-1));
    assertEquals(1, config.path("task_ids").path("dogs").asInt(-1));
  }
}
