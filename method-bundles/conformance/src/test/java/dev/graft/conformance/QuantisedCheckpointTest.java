package dev.graft.conformance;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.api.backend.HostTensor;
import dev.graft.api.quant.FourBit;
import dev.graft.graph.DType;
import dev.graft.model.FourBitCheckpoint;
import dev.graft.model.ModelConfig;
import dev.graft.model.SafetensorsReader;
import dev.graft.model.SafetensorsWriter;
import dev.graft.model.TensorInfo;
import dev.graft.train.run.Adapters;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A 4-bit checkpoint written by {@code graft:quantize} ({@link FourBitCheckpoint}): bitsandbytes'
 * layout, a job with {@code qlora} on it trains as one that quantises the float model at its start
 * (the same codes), a job without it starts from the dequantised weights, a damaged folder is
 * refused in one sentence, and merging writes the dequantised weights plus the update.
 */
class QuantisedCheckpointTest {
  private static final String Q = "model.layers.0.self_attn.q_proj.weight";

  @TempDir Path dir;

  private Path quantised() throws Exception {
    Path out = dir.resolve("q4");
    FourBitCheckpoint.write(
        Fixtures.shared("models/stories260K"), out, FourBit.Type.NF4, true, List.of());
    return out;
  }

  @Test
  void theFolderHoldsBitsandbytesLayoutAndAQuantizationConfig() throws Exception {
    Path q4 = quantised();
    try (SafetensorsReader r = SafetensorsReader.open(q4)) {
      // stories260K: q_proj is (64, 64): 4096 elements, 64 blocks, one group of 256.
      assertEquals(new TensorInfo(Q, dev.graft.model.DType.U8, new long[] {2048, 1}), r.info(Q));
      assertEquals(
          new TensorInfo(Q + ".absmax", dev.graft.model.DType.U8, new long[] {64}),
          r.info(Q + ".absmax"));
      assertEquals(
          new TensorInfo(Q + ".nested_absmax", dev.graft.model.DType.F32, new long[] {1}),
          r.info(Q + ".nested_absmax"));
      assertArrayEquals(FourBit.Type.NF4.code(), r.floats(Q + ".quant_map"));
      assertArrayEquals(FourBit.dynamic(), r.floats(Q + ".nested_quant_map"));
      JsonNode json = new ObjectMapper().readTree(text(r, Q + ".quant_state.bitsandbytes__nf4"));
      assertEquals("nf4", json.get("quant_type").asText());
      assertEquals(64, json.get("blocksize").asInt());
      assertEquals("[64,64]", json.get("shape").toString());
      assertEquals(256, json.get("nested_blocksize").asInt());
      assertTrue(json.has("nested_offset"));
      // Norms and embeddings stay as they were.
      assertEquals(dev.graft.model.DType.F32, r.info("model.norm.weight").dtype());
    }
    JsonNode config = new ObjectMapper().readTree(q4.resolve(ModelConfig.FILE).toFile());
    JsonNode q = config.get("quantization_config");
    assertTrue(q.get("load_in_4bit").asBoolean());
    assertEquals("nf4", q.get("bnb_4bit_quant_type").asText());
    assertTrue(q.get("bnb_4bit_use_double_quant").asBoolean());
    assertEquals("float32", q.get("bnb_4bit_compute_dtype").asText());
    assertTrue(
        Files.exists(q4.resolve("tokenizer.json")) || Files.exists(q4.resolve("tokenizer.model")));
  }

  @Test
  void qloraOnTheQuantisedFolderTrainsAsQloraOnTheFloatModel() throws Exception {
    Path q4 = quantised();
    Map<String, String> spec = Fixtures.spec(dir, "qlora", 2);
    spec.put("lora.target_modules", "all-linear");
    List<Double> onTheFly = GoldenCurveTest.losses(spec, 2);
    spec.put("model", q4.toString());
    List<Double> stored = GoldenCurveTest.losses(spec, 2);
    for (int s = 0; s < 2; s++) {
      assertEquals(onTheFly.get(s), stored.get(s), 1e-5 * onTheFly.get(s), "step " + s);
    }
  }

  @Test
  void aJobWithoutQloraOnTheFolderStartsFromTheDequantisedWeights() throws Exception {
    Path q4 = quantised();
    Map<String, String> spec = Fixtures.spec(dir, "qlora", 1);
    spec.put("lora.target_modules", "all-linear");
    double quantisedInTheGraph = GoldenCurveTest.losses(spec, 1).get(0);
    spec.put("model", q4.toString());
    spec.put("method", "lora");
    double dequantisedAtStart = GoldenCurveTest.losses(spec, 1).get(0);
    // B starts at zero: both first losses are the 4-bit base's.
    assertEquals(quantisedInTheGraph, dequantisedAtStart, 1e-5 * quantisedInTheGraph);
  }

  @Test
  void theProgramHoldsTheStoredCodesAndNoFloatWeight() throws Exception {
    Path q4 = quantised();
    Map<String, String> spec = Fixtures.spec(dir, "qlora", 1);
    spec.put("model", q4.toString());
    Path out = Fixtures.train(spec, dir.resolve("job"), Fixtures.REGISTRY);
    Map<String, HostTensor> w =
        Adapters.load(q4, out.resolve("adapter"), Fixtures.REGISTRY, false).weights();
    assertEquals(DType.UINT8, w.get(Q + ".codes").dtype());
    assertEquals(DType.UINT8, w.get(Q + ".absmax_codes").dtype());
    assertFalse(w.containsKey(Q), "the float32 W is not part of the program");
  }

  @Test
  void aFolderThatLacksATensorOfTheLayoutIsRefusedInOneSentence() throws Exception {
    Path q4 = quantised();
    Path damaged = dir.resolve("damaged");
    Files.createDirectories(damaged);
    Files.copy(q4.resolve(ModelConfig.FILE), damaged.resolve(ModelConfig.FILE));
    try (SafetensorsReader r = SafetensorsReader.open(q4)) {
      SafetensorsWriter w = new SafetensorsWriter();
      for (String name : r.names()) {
        if (!name.equals(Q + ".absmax")) {
          w.add(name, r.info(name).dtype(), r.info(name).shape(), r.bytes(name));
        }
      }
      w.write(damaged.resolve(SafetensorsReader.SINGLE_FILE));
    }
    ModelConfig config = ModelConfig.read(damaged);
    try (SafetensorsReader r = SafetensorsReader.open(damaged)) {
      IllegalArgumentException e =
          assertThrows(IllegalArgumentException.class, () -> config.check(r));
      assertEquals(
          "model.safetensors: 4-bit weight \""
              + Q
              + "\" lacks \""
              + Q
              + ".absmax\"; the folder"
              + " is damaged or incomplete: write it again with graft:quantize.",
          e.getMessage());
    }
  }

  @Test
  void quantisingAQuantisedFolderIsRefused() throws Exception {
    Path q4 = quantised();
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                FourBitCheckpoint.write(
                    q4, dir.resolve("again"), FourBit.Type.NF4, true, List.of()));
    assertTrue(e.getMessage().endsWith("; quantise a float model."), e.getMessage());
  }

  @Test
  void mergingIntoTheQuantisedFolderWritesTheDequantisedWeightsPlusTheUpdate() throws Exception {
    Path q4 = quantised();
    Map<String, String> spec = Fixtures.spec(dir, "qlora", 2);
    spec.put("model", q4.toString());
    Path out = Fixtures.train(spec, dir.resolve("job"), Fixtures.REGISTRY);
    Path merged = dir.resolve("merged");
    Adapters.merge(q4, out.resolve("adapter"), merged, Fixtures.REGISTRY, false);
    Adapters.Adapted unmerged = Adapters.load(q4, out.resolve("adapter"), Fixtures.REGISTRY, false);
    float[] expected = Fixtures.logits(unmerged.model(), unmerged.weights());
    float[] actual = Fixtures.baseLogits(merged);
    for (int i = 0; i < expected.length; i++) {
      assertEquals(expected[i], actual[i], 1e-4, "logit " + i);
    }
    try (SafetensorsReader r = SafetensorsReader.open(merged)) {
      assertEquals(dev.graft.model.DType.F32, r.info(Q).dtype());
      assertFalse(r.contains(Q + ".absmax"));
    }
    assertFalse(Files.readString(merged.resolve(ModelConfig.FILE)).contains("quantization_config"));
  }

  /** A U8 tensor's bytes as UTF-8 text. */
  private static String text(SafetensorsReader r, String name) {
    java.nio.ByteBuffer b = r.bytes(name);
    byte[] bytes = new byte[b.remaining()];
    b.get(bytes);
    return new String(bytes, StandardCharsets.UTF_8);
  }
}
