package dev.graft.conformance;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtLoraAdapter;
import ai.onnxruntime.OrtSession;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.api.model.GenerationSettings;
import dev.graft.api.model.ModelService;
import dev.graft.graph.DType;
import dev.graft.model.Generator;
import dev.graft.model.Tokenizer;
import dev.graft.train.run.Adapters;
import dev.graft.train.service.ModelServiceImpl;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link ModelService#export}: the exported model, run by plain ONNX Runtime in a greedy loop that
 * feeds its key-value cache back (no Graft code in the loop), generates the tokens that Graft's
 * {@link Generator} and {@link ModelService#generate} do, for the base model, a merged LoRA
 * adapter, a prompt-tuning adapter kept in the graph and each task of a MoELoRA adapter.
 */
class OnnxExportTest {
  @TempDir static Path dir;

  static final ModelService SERVICE = new ModelServiceImpl(Fixtures.REGISTRY, Fixtures.BACKENDS);
  static final Path PROMPT_TUNING = Path.of("src/test/resources/prompt-tuning-stories260K");
  static final String PROMPT = "Tom";
  static final int NEW_TOKENS = 24;

  static Path model;
  static Tokenizer tokenizer;

  /** A LoRA adapter on all linear layers, trained for 2 steps. */
  static Path lora;

  /** Another LoRA adapter of {@link #lora}'s shape. */
  static Path otherLora;

  /**
   * A MoELoRA adapter for the tasks cats and dogs, which go on from {@link #PROMPT} differently.
   */
  static Path moelora;

  @BeforeAll
  static void load() throws Exception {
    model = Fixtures.shared("models/stories260K");
    tokenizer = Tokenizer.load(model);
    lora = trainLora("lora", "1e-2", "3");
    otherLora = trainLora("other-lora", "3e-2", "5");
    moelora = trainMoeLora();
  }

  /** A LoRA adapter on all linear layers trained for 2 steps; others differ in rate and seed. */
  private static Path trainLora(String name, String learningRate, String seed) throws Exception {
    Map<String, String> spec = Fixtures.spec(dir, "lora", 2);
    spec.put("lora.target_modules", "all-linear");
    spec.put("learning_rate", learningRate);
    spec.put("seed", seed);
    return Fixtures.train(spec, dir.resolve(name), Fixtures.REGISTRY).resolve("adapter");
  }

  /**
   * MoELoRA trained on {@link #PROMPT} going on with a cat for task cats, a dog for dogs; after 12
   * steps each task's greedy continuation names its animal (after 4, neither does).
   */
  private static Path trainMoeLora() throws Exception {
    StringBuilder lines = new StringBuilder();
    for (int i = 0; i < 8; i++) {
      String animal = i % 2 == 0 ? "cat" : "dog";
      lines.append(
          String.format(
              "{\"prompt\": \"%s\", \"completion\": \" saw a %s.\", \"task\": \"%ss\"}%n",
              PROMPT, animal, animal));
    }
    Map<String, String> spec = Fixtures.spec(dir, "moelora", 12);
    spec.put("data", Files.writeString(dir.resolve("pets.jsonl"), lines).toString());
    spec.put("per_device_train_batch_size", "8");
    spec.put("learning_rate", "3e-2");
    spec.put("moelora.tasks", "cats,dogs");
    return Fixtures.train(spec, dir.resolve("moelora"), Fixtures.REGISTRY).resolve("adapter");
  }

  @Test
  void theBaseModelGeneratesAsGraftDoes() throws Exception {
    Path out = SERVICE.export(model, null, dir.resolve("base"), false);
    assertEquals("none", manifest(out).path("adapter").asText());
    assertGeneratesAsGraft(out, null, "");
  }

  @Test
  void aLoraAdapterIsMergedAndGeneratesAsGraftDoes() throws Exception {
    Path out = SERVICE.export(model, lora, dir.resolve("lora-export"), false);
    assertEquals("merged", manifest(out).path("adapter").asText());
    int[] tokens = assertGeneratesAsGraft(out, lora, "");
    assertFalse(Arrays.equals(baseTokens(), tokens), "the adapter changed nothing");
  }

  @Test
  void eachTaskOfAMoeLoraAdapterIsMergedAndGeneratesAsGraftDoesForThatTask() throws Exception {
    Path cats = SERVICE.export(model, moelora, dir.resolve("moelora-cats"), false, "cats");
    Path dogs = SERVICE.export(model, moelora, dir.resolve("moelora-dogs"), false, "dogs");
    JsonNode manifest = manifest(cats);
    assertEquals("merged", manifest.path("adapter").asText());
    assertEquals("cats", manifest.path("adapter_settings").path("task").asText());
    int[] catTokens = assertGeneratesAsGraft(cats, moelora, "cats");
    int[] dogTokens = assertGeneratesAsGraft(dogs, moelora, "dogs");
    assertFalse(Arrays.equals(catTokens, dogTokens), "the two tasks generate alike");
  }

  @Test
  void aMoeLoraTaskKeptInTheGraphGeneratesAsGraftDoesForThatTask() throws Exception {
    Path out = SERVICE.export(model, moelora, dir.resolve("moelora-in-graph"), true, "dogs");
    assertEquals("in-graph", manifest(out).path("adapter").asText());
    assertGeneratesAsGraft(out, moelora, "dogs");
  }

  @Test
  void aMoeLoraAdapterOfSeveralTasksIsExportedOnlyForANamedTask() {
    Path out = dir.resolve("moelora-no-task");
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class, () -> SERVICE.export(model, moelora, out, false));
    assertTrue(e.getMessage().contains("graft:export"), e.getMessage());
    assertFalse(Files.exists(out));
  }

  @Test
  void anOnnxAdapterFileSwapsInAnotherLoraOfTheSameShape() throws Exception {
    Path out = SERVICE.export(model, lora, dir.resolve("swap"), true);
    Path other = SERVICE.export(model, otherLora, dir.resolve("swap-other"), true);
    JsonNode manifest = manifest(out);
    assertEquals("in-graph", manifest.path("adapter").asText());
    Path file = other.resolve(manifest.path("onnx_adapter").asText());
    assertTrue(Files.isRegularFile(file), file.toString());
    // Without an active adapter the inputs keep their defaults: the exported adapter's values.
    int[] own = assertGeneratesAsGraft(out, lora, "");
    int[] prompt = tokenizer.encode(PROMPT, true);
    Set<Integer> eos = new HashSet<>();
    manifest.path("eos_token_id").forEach(n -> eos.add(n.asInt()));
    int[] swapped = ortGreedy(out, manifest, prompt, eos, file);
    assertFalse(Arrays.equals(own, swapped), "the two adapters generate alike");
    try (Generator generator = graftGenerator(otherLora, "")) {
      assertArrayEquals(
          generator
              .generate(prompt, Generator.Options.greedy(NEW_TOKENS).withStopTokens(eos))
              .ids(),
          swapped);
    }
  }

  @Test
  void anOnnxAdapterFileNeedsAnAdapter() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> SERVICE.export(model, null, dir.resolve("no-adapter"), true));
    assertTrue(e.getMessage().contains("--adapter"), e.getMessage());
  }

  @Test
  void promptTuningKeepsItsVirtualTokensInTheGraph() throws Exception {
    Path out = SERVICE.export(model, PROMPT_TUNING, dir.resolve("prompt-export"), false);
    JsonNode manifest = manifest(out);
    assertEquals("in-graph", manifest.path("adapter").asText());
    assertEquals(8, manifest.path("prefix_length").asInt());
    int[] tokens = assertGeneratesAsGraft(out, PROMPT_TUNING, "");
    assertFalse(Arrays.equals(baseTokens(), tokens), "the adapter changed nothing");
  }

  @Test
  void theExportHoldsItsWeightsAsExternalDataBesideTheTokenizer() throws Exception {
    Path out = SERVICE.export(model, null, dir.resolve("files"), false);
    Set<String> files = new HashSet<>();
    try (Stream<Path> list = Files.list(out)) {
      list.forEach(p -> files.add(p.getFileName().toString()));
    }
    assertTrue(
        files.containsAll(
            List.of("model.onnx", "model.onnx.data", "export.json", "tokenizer.json")),
        files.toString());
    // 260,032 float32 weights lie in the data file; the model file holds the graph and constants.
    assertTrue(Files.size(out.resolve("model.onnx.data")) >= 260_032L * 4);
    assertTrue(Files.size(out.resolve("model.onnx")) < Files.size(out.resolve("model.onnx.data")));
    JsonNode m = manifest(out);
    assertEquals(5 * 2, m.path("cache").path("present_to_past").size());
    assertEquals(
        "past_key_values.0.key",
        m.path("cache").path("present_to_past").path("present.0.key").asText());
    try (Stream<Path> beside = Files.list(dir)) {
      assertFalse(beside.anyMatch(p -> p.getFileName().toString().endsWith(".tmp")));
    }
  }

  @Test
  void refusesAFolderThatIsNotEmptyOrLiesInsideTheModel() throws Exception {
    Path full = Files.createDirectories(dir.resolve("full"));
    Files.writeString(full.resolve("notes.txt"), "keep");
    IllegalArgumentException notEmpty =
        assertThrows(
            IllegalArgumentException.class, () -> SERVICE.export(model, null, full, false));
    assertTrue(notEmpty.getMessage().contains("is not empty"), notEmpty.getMessage());
    assertEquals("keep", Files.readString(full.resolve("notes.txt")));
    IllegalArgumentException inside =
        assertThrows(
            IllegalArgumentException.class,
            () -> SERVICE.export(model, null, model.resolve("onnx"), false));
    assertTrue(inside.getMessage().contains("inside the model folder"), inside.getMessage());
    assertFalse(Files.exists(model.resolve("onnx")));
  }

  /**
   * Greedy generation of {@link #PROMPT} with the export in plain ONNX Runtime equals Graft's
   * generator (token ids) and {@link ModelService#generate} (text), with the adapter applied for
   * {@code task} (empty: none).
   */
  private static int[] assertGeneratesAsGraft(Path export, Path adapter, String task)
      throws Exception {
    int[] prompt = tokenizer.encode(PROMPT, true);
    JsonNode manifest = manifest(export);
    Set<Integer> eos = new HashSet<>();
    manifest.path("eos_token_id").forEach(n -> eos.add(n.asInt()));
    int[] expected;
    Generator.Options options = Generator.Options.greedy(NEW_TOKENS).withStopTokens(eos);
    try (Generator generator = graftGenerator(adapter, task)) {
      expected = generator.generate(prompt, options).ids();
    }
    int[] actual = ortGreedy(export, manifest, prompt, eos);
    assertArrayEquals(expected, actual);
    assertTrue(actual.length > 5, "too few tokens to compare: " + actual.length);
    String text =
        SERVICE.generate(
            model,
            adapter,
            PROMPT,
            new GenerationSettings(NEW_TOKENS, 0, 0, 1, 1, 0, "cpu", true, task));
    int[] all = new int[prompt.length + actual.length];
    System.arraycopy(prompt, 0, all, 0, prompt.length);
    System.arraycopy(actual, 0, all, prompt.length, actual.length);
    assertEquals(
        tokenizer.decode(all, true).substring(tokenizer.decode(prompt, true).length()), text);
    return actual;
  }

  /** The base model's greedy tokens, from its export. */
  private static int[] baseTokens() throws Exception {
    Path out = dir.resolve("base-for-comparison");
    if (!Files.exists(out)) {
      SERVICE.export(model, null, out, false);
    }
    Set<Integer> eos = new HashSet<>();
    manifest(out).path("eos_token_id").forEach(n -> eos.add(n.asInt()));
    return ortGreedy(out, manifest(out), tokenizer.encode(PROMPT, true), eos);
  }

  private static Generator graftGenerator(Path adapter, String task) throws Exception {
    if (adapter == null) {
      return Generator.open(Fixtures.cpu(), model, DType.FLOAT32);
    }
    Adapters.Adapted a =
        Adapters.load(
            model,
            adapter,
            Fixtures.REGISTRY,
            true,
            task.isEmpty() ? Map.of() : Map.of("task", task));
    return Generator.open(
        Fixtures.cpu(), a.model(), a.weights(), tokenizer, Generator.Options.read(model));
  }

  /**
   * Greedy decoding with ONNX Runtime alone, as {@code export.json} describes the model: one batch
   * row, a cache of as many slots as the prompt and the new tokens need (zeros at first), the
   * prompt in one run, then one token per run with the present keys and values fed back as past.
   */
  static int[] ortGreedy(Path export, JsonNode manifest, int[] prompt, Set<Integer> eos)
      throws OrtException {
    return ortGreedy(export, manifest, prompt, eos, null);
  }

  /** {@link #ortGreedy(Path, JsonNode, int[], Set)} with an active ONNX Runtime LoRA adapter. */
  static int[] ortGreedy(
      Path export, JsonNode manifest, int[] prompt, Set<Integer> eos, Path adapterFile)
      throws OrtException {
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    int slots = prompt.length + NEW_TOKENS - 1;
    long[] cacheShape = {
      1, slots, manifest.path("num_key_value_heads").asInt(), manifest.path("head_dim").asInt()
    };
    Map<String, String> presentToPast = new HashMap<>();
    manifest
        .path("cache")
        .path("present_to_past")
        .fields()
        .forEachRemaining(e -> presentToPast.put(e.getKey(), e.getValue().asText()));
    List<Integer> out = new ArrayList<>();
    try (OrtSession.SessionOptions options = new OrtSession.SessionOptions();
        OrtSession.RunOptions run = new OrtSession.RunOptions();
        OrtLoraAdapter lora =
            adapterFile == null ? null : OrtLoraAdapter.create(adapterFile.toString());
        OrtSession session =
            env.createSession(
                export.resolve(manifest.path("model").asText()).toString(), options)) {
      if (lora != null) {
        run.addActiveLoraAdapter(lora);
      }
      Map<String, OnnxTensor> past = new HashMap<>();
      for (String name : presentToPast.values()) {
        past.put(
            name,
            OnnxTensor.createTensor(
                env,
                FloatBuffer.allocate((int) (slots * cacheShape[2] * cacheShape[3])),
                cacheShape));
      }
      long[] mask = new long[slots];
      Arrays.fill(mask, 1);
      long[] tokens = new long[prompt.length];
      for (int i = 0; i < prompt.length; i++) {
        tokens[i] = prompt[i];
      }
      int from = 0;
      OrtSession.Result previous = null;
      while (true) {
        int n = tokens.length;
        long[] positions = new long[n];
        for (int t = 0; t < n; t++) {
          positions[t] = from + t;
        }
        Map<String, OnnxTensor> feeds = new HashMap<>(past);
        feeds.put("input_ids", longs(env, tokens, 1, n));
        feeds.put("position_ids", longs(env, positions, 1, n));
        feeds.put("cache_position", longs(env, positions, n));
        feeds.put("attention_mask", longs(env, mask, 1, slots));
        OrtSession.Result result = session.run(feeds, run);
        for (String input :
            List.of("input_ids", "position_ids", "cache_position", "attention_mask")) {
          feeds.get(input).close();
        }
        if (previous != null) {
          previous.close();
        } else {
          past.values().forEach(OnnxTensor::close);
        }
        previous = result;
        FloatBuffer logits = ((OnnxTensor) result.get("logits").orElseThrow()).getFloatBuffer();
        int next = 0;
        for (int v = 1; v < logits.limit(); v++) {
          next = logits.get(v) > logits.get(next) ? v : next;
        }
        out.add(next);
        if (eos.contains(next) || out.size() == NEW_TOKENS) {
          result.close();
          return out.stream().mapToInt(Integer::intValue).toArray();
        }
        for (Map.Entry<String, String> e : presentToPast.entrySet()) {
          past.put(e.getValue(), (OnnxTensor) result.get(e.getKey()).orElseThrow());
        }
        from += n;
        tokens = new long[] {next};
      }
    }
  }

  private static OnnxTensor longs(OrtEnvironment env, long[] values, long... shape)
      throws OrtException {
    return OnnxTensor.createTensor(env, LongBuffer.wrap(values), shape);
  }

  private static JsonNode manifest(Path export) throws Exception {
    return new ObjectMapper().readTree(export.resolve("export.json").toFile());
  }
}
