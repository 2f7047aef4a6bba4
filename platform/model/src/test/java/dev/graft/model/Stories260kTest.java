package dev.graft.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.api.backend.HostTensor;
import dev.graft.backend.cpu.CpuBackend;
import dev.graft.backend.cpu.Steps;
import dev.graft.graph.DType;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The real stories260K Llama (shared/models/stories260K) against its golden.json. */
class Stories260kTest {

  private static final CpuBackend BACKEND = Steps.cpu(1);
  private static Path folder;
  private static JsonNode golden;
  private static Generator generator;

  @BeforeAll
  static void load() throws IOException {
    folder = Shared.path("models/stories260K");
    golden = new ObjectMapper().readTree(folder.resolve("golden.json").toFile());
    generator = Generator.open(BACKEND, folder, DType.FLOAT32);
  }

  @AfterAll
  static void close() {
    if (generator != null) {
      generator.close();
    }
  }

  @Test
  void float32LogitsOnTheCpuBackendMatchTheGoldenValues() throws IOException {
    JsonNode expected = golden.get("logits");
    long[] prompt = longs(expected.get("prompt_ids"));
    ModelGraph m = ModelGraph.build(ModelConfig.read(folder), DType.FLOAT32);
    double[] logits =
        Runs.onBackend(BACKEND, m, Runs.weights(m, folder, DType.FLOAT32), feeds(prompt));
    int vocab = m.config().vocabSize();
    double error = 0;
    for (int t = 0; t < prompt.length; t++) {
      JsonNode first8 = expected.get("all_positions_first8").get(t);
      for (int v = 0; v < 8; v++) {
        error = Math.max(error, Math.abs(logits[t * vocab + v] - first8.get(v).asDouble()));
      }
    }
    assertTrue(error < 1e-4, "max abs error " + error);
    double[] last = Arrays.copyOfRange(logits, (prompt.length - 1) * vocab, prompt.length * vocab);
    int[] top5 =
        IntStream.range(0, vocab)
            .boxed()
            .sorted(Comparator.comparingDouble(i -> -last[i]))
            .limit(5)
            .mapToInt(Integer::intValue)
            .toArray();
    assertArrayEquals(ints(expected.get("last_position_top5")), top5);
  }

  @Test
  void float32BackendAgreesWithTheFloat64Interpreter() throws IOException {
    long[] prompt = {1, 403, 407};
    ModelConfig c = ModelConfig.read(folder);
    ModelGraph m64 = ModelGraph.build(c, DType.FLOAT64);
    double[] reference =
        Runs.interpret(m64, Runs.weights(m64, folder, DType.FLOAT64), feeds(prompt));
    ModelGraph m32 = ModelGraph.build(c, DType.FLOAT32);
    double[] logits =
        Runs.onBackend(BACKEND, m32, Runs.weights(m32, folder, DType.FLOAT32), feeds(prompt));
    double error = 0;
    for (int i = 0; i < logits.length; i++) {
      error = Math.max(error, Math.abs(logits[i] - reference[i]));
    }
    assertTrue(error < 1e-4, "max abs error " + error);
  }

  @Test
  void greedyContinuationOfBosMatchesTheGoldenIdsAndText() {
    JsonNode expected = golden.get("greedy");
    Generator.Completion c =
        generator.generate(
            ints(expected.get("prompt_ids")),
            Generator.Options.greedy(expected.get("max_new_tokens").asInt()));
    assertArrayEquals(ints(expected.get("new_ids")), c.ids());
    assertEquals(expected.get("text").asText(), c.text());
    assertEquals(Generator.Finish.LENGTH, c.finish());
  }

  @Test
  void generationStopsOnBosBetweenStoriesWhenAskedTo() {
    Generator.Options options =
        generator.defaults().withMaxNewTokens(400).withStopTokens(List.of(1, 2));
    Generator.Completion c = generator.generate(new int[] {1}, options);
    assertEquals(Generator.Finish.STOP_TOKEN, c.finish());
    assertEquals(1, c.ids()[c.ids().length - 1]);
    assertTrue(Arrays.stream(c.ids(), 0, c.ids().length - 1).noneMatch(id -> id == 1 || id == 2));
    int[] golden64 = ints(golden.get("greedy").get("new_ids"));
    assertArrayEquals(golden64, Arrays.copyOf(c.ids(), golden64.length));
  }

  @Test
  void aStopStringEndsTheCompletionWithTheTokenThatCompletedIt() {
    Generator.Completion c =
        generator.generate(
            "Once upon a time", Generator.Options.greedy(64).withStopStrings(List.of("Lily")));
    assertEquals(Generator.Finish.STOP_STRING, c.finish());
    assertEquals(", there was a little girl named Lily", c.text());
  }

  @Test
  void theFolderDefaultsStopOnTheEosOfGenerationConfig() {
    assertEquals(Set.of(2), generator.defaults().stopTokens());
    assertEquals(false, generator.defaults().sample());
  }

  private static Map<String, HostTensor> feeds(long[] prompt) {
    long[] positions = new long[prompt.length];
    long[] segments = new long[prompt.length];
    Arrays.setAll(positions, i -> i);
    Arrays.fill(segments, 1);
    return Map.of(
        "input_ids", Runs.longs(new long[][] {prompt}),
        "position_ids", Runs.longs(new long[][] {positions}),
        "segment_ids", Runs.longs(new long[][] {segments}));
  }

  private static int[] ints(JsonNode array) {
    int[] out = new int[array.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = array.get(i).asInt();
    }
    return out;
  }

  private static long[] longs(JsonNode array) {
    return Arrays.stream(ints(array)).asLongStream().toArray();
  }
}
