package dev.graft.conformance;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.model.SafetensorsReader;
import dev.graft.train.run.Adapters;
import dev.graft.train.run.SftRun;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The {@code ia3} example bundle (examples/ia3-bundle), beyond the matrix rows it shares with every
 * method: the vectors start at ones, are saved under PEFT's names and shapes, and merge as a
 * rescaling of W's rows (key, value) or columns (down projection). stories260K: d = 64, 5 blocks, 4
 * key/value heads of 8 (k and v are 32 wide), MLP 172.
 */
class Ia3Test {
  private static final String PREFIX = "base_model.model.";

  @TempDir Path dir;

  private Map<String, String> spec(Map<String, String> options, Path model) throws Exception {
    Map<String, String> spec = Fixtures.spec(dir, "ia3", 2);
    spec.put("model", model.toString());
    spec.put("save_steps", "2");
    spec.putAll(options);
    return spec;
  }

  private static Path stories() {
    return Fixtures.shared("models/stories260K");
  }

  private static JsonNode adapterConfig(Path out) throws Exception {
    return new ObjectMapper().readTree(out.resolve("adapter/adapter_config.json").toFile());
  }

  private static SafetensorsReader adapter(Path out) throws Exception {
    return SafetensorsReader.open(out.resolve("adapter/adapter_model.safetensors"));
  }

  @Test
  void atInitEveryVectorIsOnesAndTheModelIsTheBase() throws Exception {
    Path out = Files.createDirectories(dir.resolve("init"));
    try (SftRun run = MatrixRow.run(spec(Map.of(), stories()))) {
      run.finish(out);
    }
    try (SafetensorsReader adapter = adapter(out)) {
      for (String name : adapter.names()) {
        for (float v : adapter.floats(name)) {
          assertEquals(1f, v, name);
        }
      }
    }
    assertArrayEquals(Fixtures.baseLogits(stories()), MatrixRow.load(out, stories()).logits(), 0f);
  }

  @Test
  void onLlamaTheAdapterHasPeftsKeysShapesAndConfig() throws Exception {
    Path out = Fixtures.train(spec(Map.of(), stories()), dir.resolve("out"), Fixtures.REGISTRY);
    try (SafetensorsReader adapter = adapter(out)) {
      Set<String> keys = new TreeSet<>(adapter.names());
      assertEquals(15, keys.size(), keys.toString());
      String block = PREFIX + "model.layers.3.";
      assertArrayEquals(new long[] {32, 1}, adapter.info(block + "self_attn.k_proj.ia3_l").shape());
      assertArrayEquals(new long[] {32, 1}, adapter.info(block + "self_attn.v_proj.ia3_l").shape());
      assertArrayEquals(new long[] {1, 172}, adapter.info(block + "mlp.down_proj.ia3_l").shape());
    }
    JsonNode config = adapterConfig(out);
    assertEquals("IA3", config.get("peft_type").asText());
    assertEquals("[\"k_proj\",\"v_proj\",\"down_proj\"]", config.get("target_modules").toString());
    assertEquals("[\"down_proj\"]", config.get("feedforward_modules").toString());
    assertTrue(config.get("init_ia3_weights").asBoolean());
    AdapterRoundTripTest.assertRoundTrip(
        spec(Map.of(), stories()), out, Fixtures.REGISTRY, stories());
  }

  /**
   * Merging scales k_proj's row o by l_o and down_proj's column i by l_i, and the merged model
   * computes what the adapted one does; unmerging gives the base weights back.
   */
  @Test
  void mergeScalesRowsOrColumnsAndEqualsTheUnmergedModel() throws Exception {
    Path out = Fixtures.train(spec(Map.of(), stories()), dir.resolve("out"), Fixtures.REGISTRY);
    Path merged = dir.resolve("merged");
    Adapters.merge(stories(), out.resolve("adapter"), merged, Fixtures.REGISTRY, false);
    String k = "model.layers.1.self_attn.k_proj";
    String down = "model.layers.1.mlp.down_proj";
    try (SafetensorsReader adapter = adapter(out);
        SafetensorsReader base = SafetensorsReader.open(stories());
        SafetensorsReader model = SafetensorsReader.open(merged)) {
      float[] lk = adapter.floats(PREFIX + k + ".ia3_l"); // (32, 1)
      float[] lff = adapter.floats(PREFIX + down + ".ia3_l"); // (1, 172)
      assertTrue(moved(lk) && moved(lff), "two steps moved the vectors away from ones");
      float[] wk = base.floats(k + ".weight"); // (32, 64)
      float[] wd = base.floats(down + ".weight"); // (64, 172)
      float[] expectedK = new float[wk.length];
      for (int i = 0; i < wk.length; i++) {
        expectedK[i] = wk[i] * lk[i / 64];
      }
      float[] expectedDown = new float[wd.length];
      for (int i = 0; i < wd.length; i++) {
        expectedDown[i] = wd[i] * lff[i % 172];
      }
      assertArrayEquals(expectedK, model.floats(k + ".weight"), 0f);
      assertArrayEquals(expectedDown, model.floats(down + ".weight"), 0f);
    }
    float[] adapted = MatrixRow.load(out, stories()).logits();
    float[] fromMerged = Fixtures.baseLogits(merged);
    assertTrue(MatrixRow.relativeDiff(fromMerged, adapted) < 1e-5, "merged equals unmerged");

    Path unmerged = dir.resolve("unmerged");
    Adapters.merge(merged, out.resolve("adapter"), unmerged, Fixtures.REGISTRY, true);
    try (SafetensorsReader base = SafetensorsReader.open(stories());
        SafetensorsReader back = SafetensorsReader.open(unmerged)) {
      assertArrayEquals(base.floats(down + ".weight"), back.floats(down + ".weight"), 1e-6f);
    }
  }

  /** GPT-2: c_attn's output (3d wide, its bias scaled too) and mlp.c_proj's input (4d wide). */
  @Test
  void onGpt2TheConv1dLayersAreRescaledAndMergeEqualsUnmerged() throws Exception {
    Path gpt2 = TinyGpt2.write(Files.createDirectories(dir.resolve("gpt2")));
    Path out = Fixtures.train(spec(Map.of(), gpt2), dir.resolve("out"), Fixtures.REGISTRY);
    try (SafetensorsReader adapter = adapter(out)) {
      assertArrayEquals(
          new long[] {48, 1}, adapter.info(PREFIX + "transformer.h.1.attn.c_attn.ia3_l").shape());
      assertArrayEquals(
          new long[] {1, 64}, adapter.info(PREFIX + "transformer.h.1.mlp.c_proj.ia3_l").shape());
      assertEquals(4, adapter.names().size(), adapter.names().toString());
    }
    JsonNode config = adapterConfig(out);
    assertTrue(config.get("fan_in_fan_out").asBoolean());
    assertEquals("[\"mlp.c_proj\"]", config.get("feedforward_modules").toString());
    Path merged = dir.resolve("merged");
    Adapters.merge(gpt2, out.resolve("adapter"), merged, Fixtures.REGISTRY, false);
    float[] adapted = MatrixRow.load(out, gpt2).logits();
    assertTrue(MatrixRow.relativeDiff(Fixtures.baseLogits(merged), adapted) < 1e-5);
  }

  @Test
  void aFeedforwardModuleThatIsNotTargetedIsRefused() throws Exception {
    Map<String, String> spec =
        spec(
            Map.of("ia3.target_modules", "k_proj,v_proj", "ia3.feedforward_modules", "down_proj"),
            stories());
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> MatrixRow.run(spec).close());
    assertEquals(
        "feedforward_modules names \"down_proj\", which is none of the targeted modules; name a"
            + " subset of target_modules.",
        e.getMessage());
  }

  @Test
  void targetsWithoutTheDownProjectionRescaleOnlyOutputs() throws Exception {
    Path out =
        Fixtures.train(
            spec(Map.of("ia3.target_modules", "q_proj,o_proj"), stories()),
            dir.resolve("out"),
            Fixtures.REGISTRY);
    assertEquals("[]", adapterConfig(out).get("feedforward_modules").toString());
    try (SafetensorsReader adapter = adapter(out)) {
      assertArrayEquals(
          new long[] {64, 1},
          adapter.info(PREFIX + "model.layers.0.self_attn.o_proj.ia3_l").shape());
    }
  }

  /** all-linear: every linear of the blocks, the down projection still by its input. */
  @Test
  void allLinearRescalesEveryBlockLinearAndIsSavedAsPeftsString() throws Exception {
    Path out =
        Fixtures.train(
            spec(Map.of("ia3.target_modules", "all-linear"), stories()),
            dir.resolve("out"),
            Fixtures.REGISTRY);
    assertEquals("\"all-linear\"", adapterConfig(out).get("target_modules").toString());
    try (SafetensorsReader adapter = adapter(out)) {
      assertEquals(35, adapter.names().size(), adapter.names().toString());
      assertArrayEquals(
          new long[] {1, 172}, adapter.info(PREFIX + "model.layers.4.mlp.down_proj.ia3_l").shape());
      assertArrayEquals(
          new long[] {172, 1}, adapter.info(PREFIX + "model.layers.4.mlp.up_proj.ia3_l").shape());
    }
  }

  private static boolean moved(float[] l) {
    for (float v : l) {
      if (v != 1f) {
        return true;
      }
    }
    return false;
  }
}
