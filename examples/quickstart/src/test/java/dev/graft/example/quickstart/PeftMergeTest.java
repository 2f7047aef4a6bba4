package dev.graft.example.quickstart;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.graft.api.train.Job;
import dev.graft.api.train.JobState;
import dev.graft.model.SafetensorsReader;
import dev.graft.model.SafetensorsWriter;
import dev.graft.train.run.Adapters;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PeftMergeTest {
  static final String Q = "model.layers.0.self_attn.q_proj";
  static final String DOWN = "model.layers.1.mlp.down_proj";

  @TempDir Path dir;
  Path base;
  Path adapter;

  @BeforeEach
  void baseModel() throws Exception {
    base = dir.resolve("base");
    adapter = dir.resolve("adapter");
    TinyLlama.write(base, 3);
    Files.createDirectories(adapter);
  }

  /** A hand-written adapter on two layers with rank 2; returns its tensors by key. */
  Map<String, float[]> writeAdapter(String config) throws Exception {
    Files.writeString(adapter.resolve("adapter_config.json"), config);
    Random random = new Random(1);
    Map<String, float[]> tensors = new LinkedHashMap<>();
    SafetensorsWriter w = new SafetensorsWriter().metadata("format", "pt");
    for (String module : List.of(Q, DOWN)) {
      int in = module.equals(DOWN) ? TinyLlama.INTERMEDIATE : TinyLlama.HIDDEN;
      float[] a = random(random, 2 * in);
      float[] b = random(random, TinyLlama.HIDDEN * 2);
      w.add("base_model.model." + module + ".lora_A.weight", new long[] {2, in}, a);
      w.add("base_model.model." + module + ".lora_B.weight", new long[] {TinyLlama.HIDDEN, 2}, b);
      tensors.put(module + ".A", a);
      tensors.put(module + ".B", b);
    }
    w.write(adapter.resolve("adapter_model.safetensors"));
    return tensors;
  }

  static float[] random(Random random, int n) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) random.nextGaussian();
    }
    return v;
  }

  /** W + s·B·A for an (out, in) weight and rank-2 factors. */
  static float[] expected(float[] w, float[] a, float[] b, int in, double s) {
    float[] out = w.clone();
    for (int i = 0; i < out.length / in; i++) {
      for (int j = 0; j < in; j++) {
        double update = b[i * 2] * a[j] + b[i * 2 + 1] * a[in + j];
        out[i * in + j] = (float) (w[i * in + j] + s * update);
      }
    }
    return out;
  }

  @Test
  void addsTheScaledProductToTheAdaptedWeightsAndCopiesTheRest() throws Exception {
    Map<String, float[]> t =
        writeAdapter(
            "{\"peft_type\": \"LORA\", \"r\": 2, \"lora_alpha\": 4, \"use_rslora\": false}");
    Path merged = dir.resolve("merged");
    assertEquals(2, PeftMerge.merge(base, adapter, merged));
    try (SafetensorsReader before = SafetensorsReader.open(base);
        SafetensorsReader after = SafetensorsReader.open(merged)) {
      int h = TinyLlama.HIDDEN;
      assertArrayEquals(
          expected(before.floats(Q + ".weight"), t.get(Q + ".A"), t.get(Q + ".B"), h, 2.0),
          after.floats(Q + ".weight"),
          1e-5f);
      String k = "model.layers.0.self_attn.k_proj.weight";
      assertEquals(before.bytes(k), after.bytes(k));
      assertEquals(before.names(), after.names());
    }
    assertEquals(
        -1, Files.mismatch(base.resolve("tokenizer.json"), merged.resolve("tokenizer.json")));
  }

  @Test
  void rsLoraDividesBySqrtRankAndAlphaPatternsOverrideLoraAlpha() throws Exception {
    Map<String, float[]> t =
        writeAdapter(
            "{\"peft_type\": \"LORA\", \"r\": 2, \"lora_alpha\": 4, \"use_rslora\": true,"
                + " \"alpha_pattern\": {\"down_proj\": 8}}");
    Path merged = dir.resolve("merged");
    PeftMerge.merge(base, adapter, merged);
    try (SafetensorsReader before = SafetensorsReader.open(base);
        SafetensorsReader after = SafetensorsReader.open(merged)) {
      int in = TinyLlama.INTERMEDIATE;
      assertArrayEquals(
          expected(
              before.floats(DOWN + ".weight"),
              t.get(DOWN + ".A"),
              t.get(DOWN + ".B"),
              in,
              8 / Math.sqrt(2)),
          after.floats(DOWN + ".weight"),
          1e-5f);
      assertArrayEquals(
          expected(
              before.floats(Q + ".weight"),
              t.get(Q + ".A"),
              t.get(Q + ".B"),
              TinyLlama.HIDDEN,
              4 / Math.sqrt(2)),
          after.floats(Q + ".weight"),
          1e-5f);
    }
  }

  @Test
  void refusesAnAdapterThatIsNotPlainLora() throws Exception {
    writeAdapter("{\"peft_type\": \"LORA\", \"r\": 2, \"lora_alpha\": 4, \"use_dora\": true}");
    var e =
        assertThrows(
            IllegalArgumentException.class,
            () -> PeftMerge.merge(base, adapter, dir.resolve("merged")));
    assertTrue(e.getMessage().contains("only plain LoRA"), e.getMessage());
  }

  @Test
  void agreesWithThePlatformsMergeOfATrainedAdapter() throws Exception {
    Path data = dir.resolve("data.jsonl");
    Facts.writePromptCompletion(data, Facts.task(1));
    Map<String, String> spec = new LinkedHashMap<>();
    spec.put("model", base.toString());
    spec.put("data", data.toString());
    spec.put("method", "lora");
    spec.put("lora.target_modules", "all-linear");
    spec.put("lora.use_rslora", "true");
    spec.put("learning_rate", "1e-2");
    spec.put("max_steps", "3");
    spec.put("output_dir", dir.resolve("job").toString());
    Job job = new LocalTraining().submit(spec);
    while (!job.status().state().isFinal()) {
      Thread.sleep(20);
    }
    assertEquals(JobState.COMPLETED, job.status().state(), job.status().message());
    Path trained = job.outputDirectory().resolve("adapter");

    Path ours = dir.resolve("ours");
    Path platform = dir.resolve("platform");
    assertEquals(14, PeftMerge.merge(base, trained, ours));
    Adapters.merge(base, trained, platform, LocalTraining.METHOD_REGISTRY, false);
    try (SafetensorsReader a = SafetensorsReader.open(ours);
        SafetensorsReader b = SafetensorsReader.open(platform)) {
      assertEquals(b.names(), a.names());
      for (String name : a.names()) {
        assertArrayEquals(b.floats(name), a.floats(name), 1e-6f, name);
      }
    }
  }
}
