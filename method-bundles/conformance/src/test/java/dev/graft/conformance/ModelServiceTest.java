package dev.graft.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.api.model.Evaluation;
import dev.graft.api.model.EvaluationSettings;
import dev.graft.api.model.GenerationSettings;
import dev.graft.api.model.ModelService;
import dev.graft.api.model.ModelSummary;
import dev.graft.api.progress.Progress;
import dev.graft.api.progress.ProgressEvent;
import dev.graft.api.progress.ProgressListener;
import dev.graft.api.train.JobState;
import dev.graft.model.Tokenizer;
import dev.graft.train.job.JobSpec;
import dev.graft.train.job.TrainingJob;
import dev.graft.train.run.SftRun;
import dev.graft.train.service.ModelServiceImpl;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

/** The model service on stories260K: inspect, generate, evaluate, merge, and its input checks. */
class ModelServiceTest {
  @TempDir static Path dir;

  static final ModelService SERVICE = new ModelServiceImpl(Fixtures.REGISTRY, Fixtures.BACKENDS);
  static Path model;
  static Path stories;

  /** A LoRA adapter trained for 10 steps on {@link GoldenCurveTest#STORIES}. */
  static Path adapter;

  @BeforeAll
  static void train() throws Exception {
    model = Fixtures.shared("models/stories260K");
    stories = GoldenCurveTest.data(dir);
    Map<String, String> spec = new LinkedHashMap<>();
    spec.put("model", model.toString());
    spec.put("data", stories.toString());
    spec.put("method", "lora");
    spec.put("lora.target_modules", "all-linear");
    spec.put("seed", "7");
    spec.put("per_device_train_batch_size", "4");
    spec.put("max_length", "64");
    spec.put("learning_rate", "3e-3");
    spec.put("max_steps", "10");
    Path out = Fixtures.train(spec, dir.resolve("job"), Fixtures.REGISTRY);
    adapter = out.resolve("adapter");
  }

  private static Evaluation evaluate(Path modelDir, Path adapterDir, Path data, int batchSize) {
    EvaluationSettings d = EvaluationSettings.defaults();
    return SERVICE.evaluate(
        modelDir,
        adapterDir,
        data,
        new EvaluationSettings(
            d.dataFormat(), d.dataColumns(), 64, batchSize, 0, "cpu", true, true));
  }

  @Test
  void inspectDescribesStories260K() {
    ModelSummary s = SERVICE.inspect(model);
    assertEquals("LlamaForCausalLM", s.architecture());
    assertEquals("llama", s.modelType());
    assertEquals(260_032, s.parameters());
    assertEquals(Map.of("F32", new ModelSummary.Count(47, 260_032)), s.dtypes());
    assertEquals(512, s.vocabularySize());
    assertEquals(512, s.contextLength());
    assertEquals(5, s.layers());
    assertEquals(64, s.hiddenSize());
    assertEquals(8, s.attentionHeads());
    assertEquals(4, s.keyValueHeads());
    assertEquals(false, s.chatTemplate());
    assertEquals(true, s.tiedEmbeddings());
  }

  @Test
  void greedyGenerationContinuesTheGoldenStory() throws Exception {
    String golden =
        new ObjectMapper()
            .readTree(model.resolve("golden.json").toFile())
            .get("greedy")
            .get("text")
            .asText();
    String prompt = "Once upon a time";
    String completion = SERVICE.generate(model, null, prompt, GenerationSettings.greedy(30));
    assertTrue(completion.startsWith(", there was a little girl named Lily."), completion);
    assertTrue(golden.startsWith(prompt + completion), prompt + completion);
  }

  @Test
  void generationWithTheAdapterRunsTheAdaptedModel() {
    String completion =
        SERVICE.generate(model, adapter, "Once upon a time", GenerationSettings.greedy(20));
    assertTrue(!completion.isBlank(), completion);
    GenerationSettings sampled = new GenerationSettings(20, 0.8, 40, 0.95, 1.1, 5, "cpu");
    assertEquals(
        SERVICE.generate(model, adapter, "Lily", sampled),
        SERVICE.generate(model, adapter, "Lily", sampled),
        "a seed repeats a sampled completion");
  }

  @Test
  void lossIsAMeanPerTokenWhateverTheBatchingAndPerplexityIsItsExp() {
    Evaluation whole = evaluate(model, null, stories, 8);
    Evaluation threes = evaluate(model, null, stories, 3);
    assertTrue(whole.loss() > 0.5 && whole.loss() < 5, "loss " + whole.loss());
    assertEquals(Math.exp(whole.loss()), whole.perplexity(), 1e-12);
    assertEquals(whole.loss(), threes.loss(), 1e-5);
    assertEquals(8, whole.samples());
    assertTrue(whole.tokens() > 8 * 15, "tokens " + whole.tokens());
    assertTrue(Double.isNaN(whole.exactMatch()), "no exact match for plain text");
  }

  @Test
  void theLossIsTheTrainingLossOfTheSameBatch() throws Exception {
    // GoldenCurveTest's first loss is the base model's on its first batch: with seed 7, the first 4
    // of the 8 stories after the job's shuffle (Split) and the first epoch's (Batches, one sample
    // per row without packing).
    List<Integer> order = new ArrayList<>(List.of(0, 1, 2, 3, 4, 5, 6, 7));
    Collections.shuffle(order, new Random(7));
    Collections.shuffle(order, new Random(7));
    StringBuilder lines = new StringBuilder();
    for (int i : order.subList(0, 4)) {
      lines.append("{\"text\": \"").append(GoldenCurveTest.STORIES[i]).append("\"}\n");
    }
    Path batch = Files.writeString(dir.resolve("batch0.jsonl"), lines);
    assertEquals(GoldenCurveTest.LORA[0], evaluate(model, null, batch, 4).loss(), 2e-5);
  }

  @Test
  void theTrainedAdapterLowersTheLossOnItsTrainingData() {
    double base = evaluate(model, null, stories, 8).loss();
    double adapted = evaluate(model, adapter, stories, 8).loss();
    assertTrue(adapted < base - 0.2, "base " + base + ", adapted " + adapted);
  }

  @Test
  void mergedModelEvaluatesLikeTheAdapterAndUnmergeRestoresTheBase() {
    Path merged = SERVICE.merge(model, adapter, dir.resolve("merged"));
    assertTrue(Files.isRegularFile(merged.resolve("model.safetensors")));
    assertTrue(Files.isRegularFile(merged.resolve("tokenizer.json")));
    assertEquals(
        evaluate(model, adapter, stories, 8).loss(),
        evaluate(merged, null, stories, 8).loss(),
        1e-4);
    Path unmerged = SERVICE.unmerge(merged, adapter, dir.resolve("unmerged"));
    assertEquals(
        evaluate(model, null, stories, 8).loss(),
        evaluate(unmerged, null, stories, 8).loss(),
        1e-4);
  }

  /** Every task's events, by task: each starts at 0 and ends finished. */
  private static Map<String, List<ProgressEvent>> progressOf(Runnable work) {
    Map<String, List<ProgressEvent>> tasks = new LinkedHashMap<>();
    Progress.reportingTo(
        e -> tasks.computeIfAbsent(e.task(), t -> new ArrayList<>()).add(e),
        () -> {
          work.run();
          return null;
        });
    return tasks;
  }

  @Test
  void longWorkReportsItsProgressToTheCallersListener() throws Exception {
    Path data = dir.resolve("progress.jsonl");
    Files.writeString(
        data,
        """
        {"prompt": "Once upon a time", "completion": ", there was a little girl named Lily. "}
        {"prompt": "Lily saw a big red ball.", "completion": " She ran to get it."}
        {"prompt": "Tom had a dog.", "completion": " The dog was happy."}
        """);
    Map<String, List<ProgressEvent>> eval = progressOf(() -> evaluate(model, adapter, data, 2));
    assertTrue(
        eval.keySet()
            .containsAll(
                List.of(
                    "loading weights",
                    "starting ONNX Runtime",
                    "evaluating loss",
                    "generating for exact match")),
        eval.keySet().toString());
    // 3 samples in batches of 2: two batches; the exact-match task counts samples.
    assertEquals(
        List.of(0L, 1L, 2L, 2L), eval.get("evaluating loss").stream().map(e -> e.done()).toList());
    ProgressEvent generated = last(eval.get("generating for exact match"));
    assertEquals(
        List.of(3L, 3L, true), List.of(generated.done(), generated.total(), generated.finished()));
    Map<String, List<ProgressEvent>> merge =
        progressOf(() -> SERVICE.merge(model, adapter, dir.resolve("merged-progress")));
    ProgressEvent written = last(merge.get("writing model.safetensors"));
    assertEquals("bytes", written.unit());
    assertEquals(Files.size(dir.resolve("merged-progress/model.safetensors")), written.done());
    assertTrue(merge.containsKey("merging"), merge.keySet().toString());
    for (Map<String, List<ProgressEvent>> tasks : List.of(eval, merge)) {
      tasks.forEach(
          (task, events) -> {
            assertEquals(0, events.get(0).done(), task);
            assertTrue(last(events).finished(), task);
          });
    }
  }

  private static ProgressEvent last(List<ProgressEvent> events) {
    return events.get(events.size() - 1);
  }

  @Test
  void exactMatchComparesTheGreedyCompletionWithTheReference() throws Exception {
    Path data = dir.resolve("pc.jsonl");
    Files.writeString(
        data,
        """
        {"prompt": "Once upon a time", "completion": ", there was a little girl named Lily. "}
        {"prompt": "Once upon a time", "completion": ", a dragon ate the moon."}
        {"prompt": "Once upon a time, there was a little girl named Lily.", "completion": " She"}
        """);
    Evaluation e = evaluate(model, null, data, 2);
    assertEquals(2.0 / 3, e.exactMatch(), 1e-12);
    assertEquals(3, e.samples());
    assertTrue(Double.isFinite(e.loss()), "loss " + e.loss());
  }

  /** Text of at least {@code tokens} stories260K tokens: a story sentence repeated. */
  private static String longText(int tokens) throws Exception {
    Tokenizer t = Tokenizer.load(model);
    StringBuilder text = new StringBuilder("Lily saw a big red ball in the park.");
    while (t.encode(text.toString(), false).length < tokens) {
      text.append(" She ran to get it and played with her friend Tom all day.");
    }
    return text.toString();
  }

  @Test
  void samplesLongerThanTheContextAreCutToItAsInTraining() throws Exception {
    Path data = dir.resolve("long.jsonl");
    Files.writeString(
        data, new ObjectMapper().writeValueAsString(Map.of("text", longText(700))) + "\n");
    // max_length 1024 by default, twice the model's 512 positions: cut to 512, 511 targets.
    List<String> notes = new ArrayList<>();
    Evaluation e =
        Progress.reportingTo(
            new ProgressListener() {
              @Override
              public void progress(ProgressEvent event) {}

              @Override
              public void note(String sentence) {
                notes.add(sentence);
              }
            },
            () -> SERVICE.evaluate(model, null, data, EvaluationSettings.defaults()));
    assertEquals(511, e.tokens());
    assertEquals(List.of("1 of 1 samples were cut to max_length 512."), notes);
    assertTrue(Double.isFinite(e.loss()), "loss " + e.loss());
  }

  @Test
  void trainingCutsSamplesToTheContextWhenMaxLengthIsLongerAndSaysSo() throws Exception {
    Path data = dir.resolve("long-train.jsonl");
    Files.writeString(
        data, new ObjectMapper().writeValueAsString(Map.of("text", longText(700))) + "\n");
    Map<String, String> spec = new LinkedHashMap<>();
    spec.put("model", model.toString());
    spec.put("data", data.toString());
    spec.put("method", "lora");
    spec.put("max_length", "1024");
    spec.put("max_steps", "1");
    List<String> notes = new ArrayList<>();
    JobSpec checked = JobSpec.parse(spec, Fixtures.REGISTRY);
    TrainingJob job =
        new TrainingJob(
            "long",
            spec,
            Files.createDirectories(dir.resolve("long-job")),
            100,
            () -> new SftRun(checked, Fixtures.REGISTRY, Fixtures.cpu(), notes::add),
            (t, p) -> {});
    job.run();
    assertEquals(JobState.COMPLETED, job.status().state(), job.status().message());
    assertTrue(
        notes.contains(
            "max_length 1024 is more than the model's context (max_position_embeddings 512);"
                + " samples are cut to 512."),
        notes.toString());
  }

  @Test
  void exactMatchBatchesOnlyPromptsWhoseBudgetsFitTheContextTogether() throws Exception {
    ObjectMapper json = new ObjectMapper();
    // 300 prompt tokens with a short answer, and a short prompt with a 300-token answer: as one
    // batch they would need 600 positions of the model's 512.
    Path data = dir.resolve("uneven.jsonl");
    Files.writeString(
        data,
        json.writeValueAsString(Map.of("prompt", longText(300), "completion", " She"))
            + "\n"
            + json.writeValueAsString(
                Map.of("prompt", "Once upon a time", "completion", longText(300)))
            + "\n");
    Evaluation e = SERVICE.evaluate(model, null, data, EvaluationSettings.defaults());
    assertEquals(2, e.samples());
    assertTrue(e.exactMatch() >= 0 && e.exactMatch() <= 1, "exact match " + e.exactMatch());
  }

  @Test
  void badInputIsNamedInOneSentence() throws Exception {
    Path missing = dir.resolve("nowhere");
    Path empty = Files.writeString(dir.resolve("empty.jsonl"), "\n");
    GenerationSettings greedy = GenerationSettings.greedy(4);
    assertMessage(
        "Model folder " + missing + " does not exist.",
        () -> SERVICE.generate(missing, null, "x", greedy));
    assertMessage("Model folder " + dir + " has no config.json", () -> SERVICE.inspect(dir));
    assertMessage(
        "Adapter folder " + missing + " does not exist.",
        () -> SERVICE.generate(model, missing, "x", greedy));
    assertMessage(
        "Unknown backend \"cdua\"",
        () -> SERVICE.generate(model, null, "x", new GenerationSettings(4, 0, 0, 1, 1, 0, "cdua")));
    assertMessage(
        "Data file " + empty + " holds no samples.", () -> evaluate(model, null, empty, 8));
    assertMessage(
        "Data file " + missing + " does not exist.", () -> evaluate(model, null, missing, 8));
    assertMessage("would replace " + model, () -> SERVICE.merge(model, adapter, model.getParent()));
    assertMessage(
        "exceeds max_position_embeddings 512",
        () -> SERVICE.generate(model, null, "x", GenerationSettings.greedy(600)));
    assertMessage(
        "Temperature must be 0 (greedy) or above, not -1.0.",
        () -> new GenerationSettings(4, -1, 0, 1, 1, 0, "cpu"));
  }

  private static void assertMessage(String expected, Executable call) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
    assertTrue(e.getMessage().contains(expected), e.getMessage());
  }
}
