package dev.graft.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.graft.api.backend.HostTensor;
import dev.graft.api.backend.Program;
import dev.graft.api.backend.Session;
import dev.graft.backend.cpu.CpuBackend;
import dev.graft.backend.cpu.Steps;
import dev.graft.graph.DType;
import dev.graft.graph.Graph;
import dev.graft.graph.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ModelGraphTest {

  private static final CpuBackend BACKEND = Steps.cpu(1);

  /**
   * Two rows of seven tokens. Row 0 is one sample at the top of the position range (positions max-7
   * … max-1); row 1 packs a sample of three tokens and one of two, then two padding tokens.
   */
  private static final long[][] IDS = {{5, 17, 3, 44, 9, 30, 12}, {7, 7, 21, 40, 2, 0, 0}};

  private static final long[][] SEGMENTS = {{1, 1, 1, 1, 1, 1, 1}, {1, 1, 1, 2, 2, 0, 0}};

  @TempDir Path dir;

  @BeforeAll
  static void backendIsUp() {
    assertTrue(BACKEND.availability().available(), BACKEND.availability().reason());
  }

  @ParameterizedTest
  @ValueSource(strings = {"llama", "mistral", "qwen2", "gpt2"})
  void float64GraphOnTheInterpreterMatchesThePlainLoopReference(String arch) throws IOException {
    Path folder = TinyModels.write(dir, TinyModels.ALL.get(arch), 7);
    ModelGraph m = ModelGraph.build(ModelConfig.read(folder), DType.FLOAT64);
    double[] logits = Runs.interpret(m, Runs.weights(m, folder, DType.FLOAT64), feeds(m.config()));
    double error = compare(folder, m.config(), logits);
    assertTrue(error < 1e-10, arch + ": max |graph - reference| = " + error);
  }

  @ParameterizedTest
  @ValueSource(strings = {"llama", "mistral", "qwen2", "gpt2"})
  void float32GraphOnTheCpuBackendMatchesThePlainLoopReference(String arch) throws IOException {
    Path folder = TinyModels.write(dir, TinyModels.ALL.get(arch), 11);
    ModelGraph m = ModelGraph.build(ModelConfig.read(folder), DType.FLOAT32);
    double[] logits =
        Runs.onBackend(BACKEND, m, Runs.weights(m, folder, DType.FLOAT32), feeds(m.config()));
    double error = compare(folder, m.config(), logits);
    assertTrue(error < 1e-4, arch + ": max |graph - reference| = " + error);
  }

  @Test
  void gpt2CheckpointsWithoutTheTransformerPrefixLoad() throws IOException {
    Path folder = TinyModels.write(dir.resolve("prefixed"), TinyModels.GPT2, 3);
    Path bare = Files.createDirectories(dir.resolve("bare"));
    Files.copy(folder.resolve(ModelConfig.FILE), bare.resolve(ModelConfig.FILE));
    try (SafetensorsReader r = SafetensorsReader.open(folder)) {
      SafetensorsWriter w = new SafetensorsWriter();
      for (String name : r.names()) {
        TensorInfo info = r.info(name);
        w.add(name.substring("transformer.".length()), info.dtype(), info.shape(), r.bytes(name));
      }
      w.write(bare.resolve(SafetensorsReader.SINGLE_FILE));
    }
    ModelGraph m = ModelGraph.build(ModelConfig.read(bare), DType.FLOAT64);
    assertEquals(
        "transformer.h.0.attn.c_attn.weight",
        m.checkpointNames().get("transformer.h.0.attn.c_attn.weight"));
    double[] logits = Runs.interpret(m, Runs.weights(m, bare, DType.FLOAT64), feeds(m.config()));
    assertTrue(compare(folder, m.config(), logits) < 1e-10);
  }

  @ParameterizedTest
  @ValueSource(strings = {"llama", "mistral", "qwen2", "gpt2"})
  void parametersAreTheCheckpointTensorsByTheirNamesAllFrozen(String arch) throws IOException {
    Path folder = TinyModels.write(dir, TinyModels.ALL.get(arch), 1);
    ModelConfig c = ModelConfig.read(folder);
    ModelGraph m = ModelGraph.build(c, DType.FLOAT32);
    Set<String> names =
        m.graph().parameters().stream().map(Tensor::name).collect(Collectors.toSet());
    assertEquals(c.expectedTensors().keySet(), names);
    assertEquals(c.expectedTensors().keySet(), m.checkpointNames().keySet());
    assertTrue(m.graph().trainables().isEmpty());
    assertEquals(List.of("input_ids", "position_ids", "segment_ids"), inputNames(m.graph()));
    assertEquals(Set.of("logits"), m.graph().outputs().keySet());
    assertEquals(c.numHiddenLayers(), m.blocks().size());
  }

  /**
   * Weights the checkpoint stores in the compute type go to the backend as places in the file,
   * which ONNX Runtime reads itself; others (here F32 stored, FLOAT64 computed) as converted
   * tensors. Both give the logits of the weights passed through Java.
   */
  @Test
  void weightsStoredInTheComputeTypeAreReadFromTheCheckpointFile() throws IOException {
    Path folder = TinyModels.write(dir, TinyModels.LLAMA, 4);
    Map<String, HostTensor> feeds =
        Map.of(
            "input_ids", Runs.longs(new long[][] {{1, 5, 9, 2}}),
            "position_ids", Runs.longs(new long[][] {{0, 1, 2, 3}}),
            "segment_ids", Runs.longs(new long[][] {{1, 1, 1, 1}}));
    for (DType type : List.of(DType.FLOAT32, DType.FLOAT64)) {
      ModelGraph m = ModelGraph.build(ModelConfig.read(folder), type);
      double[] expected = Runs.onBackend(BACKEND, m, Runs.weights(m, folder, type), feeds);
      try (SafetensorsReader r = SafetensorsReader.open(folder)) {
        Program program = m.program(r, Map.of(), Steps.dtypes(m.graph()), false);
        if (type == DType.FLOAT32) {
          assertEquals(Map.of(), program.weights());
          assertEquals(folder.toAbsolutePath(), program.weightFolder());
        } else {
          assertEquals(m.weights(r, type).keySet(), program.weights().keySet());
          assertNull(program.weightFolder());
        }
        try (Session s = BACKEND.open(program)) {
          double[] actual = Steps.values(s.run(feeds, Set.of("logits")).get("logits"));
          assertEquals(expected.length, actual.length);
          for (int i = 0; i < actual.length; i++) {
            assertEquals(expected[i], actual[i], 0, "logit " + i + " of " + type);
          }
        }
      }
    }
  }

  @Test
  void llamaListsItsLinearsInModuleOrderWithTheUntiedHeadLast() throws IOException {
    ModelGraph m = ModelGraph.build(config(TinyModels.LLAMA), DType.FLOAT32);
    List<String> expected = new ArrayList<>();
    for (int i = 0; i < 2; i++) {
      for (String s :
          List.of("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj")) {
        expected.add("model.layers." + i + "." + s);
      }
      for (String s : List.of("mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")) {
        expected.add("model.layers." + i + "." + s);
      }
    }
    expected.add("lm_head");
    assertEquals(expected, m.linears().stream().map(ModelGraph.Linear::module).toList());
    ModelGraph.Linear k = m.linears().get(1);
    assertEquals(0, k.layer());
    assertEquals("model.layers.0.self_attn.k_proj.weight", k.weight().name());
    assertEquals(32, k.input().shape().dim(-1).size());
    assertEquals(16, k.output().shape().dim(-1).size()); // 2 key-value heads of 8
    assertNull(k.bias());
    assertEquals(-1, m.linears().get(m.linears().size() - 1).layer());
    assertTrue(m.linears().stream().noneMatch(ModelGraph.Linear::fanInFanOut));
  }

  @Test
  void qwen2HasBiasesOnQueryKeyAndValueOnly() throws IOException {
    ModelGraph m = ModelGraph.build(config(TinyModels.QWEN2), DType.FLOAT32);
    Map<String, Boolean> biased = new LinkedHashMap<>();
    m.linears().stream()
        .filter(l -> l.layer() == 0)
        .forEach(
            l -> biased.put(l.module().substring("model.layers.0.".length()), l.bias() != null));
    assertEquals(
        Map.of(
            "self_attn.q_proj", true,
            "self_attn.k_proj", true,
            "self_attn.v_proj", true,
            "self_attn.o_proj", false,
            "mlp.gate_proj", false,
            "mlp.up_proj", false,
            "mlp.down_proj", false),
        biased);
    // Tied: no lm_head.
    assertTrue(m.linears().stream().allMatch(l -> l.layer() >= 0));
  }

  @Test
  void gpt2ListsItsConv1dLayersAsFanInFanOut() throws IOException {
    ModelGraph m = ModelGraph.build(config(TinyModels.GPT2), DType.FLOAT32);
    assertEquals(
        List.of(
            "transformer.h.0.attn.c_attn",
            "transformer.h.0.attn.c_proj",
            "transformer.h.0.mlp.c_fc",
            "transformer.h.0.mlp.c_proj",
            "transformer.h.1.attn.c_attn",
            "transformer.h.1.attn.c_proj",
            "transformer.h.1.mlp.c_fc",
            "transformer.h.1.mlp.c_proj"),
        m.linears().stream().map(ModelGraph.Linear::module).toList());
    ModelGraph.Linear fc = m.linears().get(2);
    assertTrue(fc.fanInFanOut());
    assertNotNull(fc.bias());
    assertEquals(128, fc.output().shape().dim(-1).size());
  }

  @Test
  void replacingBlockOutputsAndLinearOutputsChangesTheLogits() throws IOException {
    Path folder = TinyModels.write(dir, TinyModels.LLAMA, 5);
    ModelConfig c = ModelConfig.read(folder);
    Map<String, HostTensor> feeds = feeds(c);
    double[] base = logits(folder, c, m -> {}, feeds);
    List<java.util.function.Consumer<ModelGraph>> rewrites =
        List.of(
            m -> halve(m.graph(), m.blocks().get(0).attentionOutput()),
            m -> halve(m.graph(), m.blocks().get(1).mlpOutput()),
            m -> halve(m.graph(), m.linears().get(0).output()),
            m -> halve(m.graph(), m.linears().get(m.linears().size() - 1).output()));
    for (java.util.function.Consumer<ModelGraph> rewrite : rewrites) {
      double[] changed = logits(folder, c, rewrite, feeds);
      assertTrue(maxDiff(base, changed) > 1e-3, "the rewrite left the logits unchanged");
    }
  }

  @Test
  void aMissingOrMisshapenTensorGivesTheConfigCheckMessage() throws IOException {
    Path folder = TinyModels.write(dir.resolve("ok"), TinyModels.QWEN2, 2);
    ModelConfig c = ModelConfig.read(folder);
    ModelGraph m = ModelGraph.build(c, DType.FLOAT32);
    for (String variant : List.of("missing", "misshapen")) {
      Path broken = Files.createDirectories(dir.resolve(variant));
      SafetensorsWriter w = new SafetensorsWriter();
      try (SafetensorsReader r = SafetensorsReader.open(folder)) {
        for (String name : r.names()) {
          boolean target = name.equals("model.layers.1.self_attn.k_proj.bias");
          if (!target) {
            w.add(name, r.info(name).shape(), r.floats(name));
          } else if (variant.equals("misshapen")) {
            w.add(name, new long[] {3}, new float[3]);
          }
        }
      }
      w.write(broken.resolve(SafetensorsReader.SINGLE_FILE));
      try (SafetensorsReader r = SafetensorsReader.open(broken)) {
        IllegalArgumentException expected =
            assertThrows(IllegalArgumentException.class, () -> c.check(r));
        IllegalArgumentException e =
            assertThrows(IllegalArgumentException.class, () -> m.weights(r, DType.FLOAT32));
        assertEquals(expected.getMessage(), e.getMessage());
        assertTrue(e.getMessage().contains("model.layers.1.self_attn.k_proj.bias"), e.getMessage());
      }
    }
  }

  @Test
  void anUnknownArchitectureListsTheSupportedOnes() throws IOException {
    Files.writeString(
        dir.resolve(ModelConfig.FILE),
        TinyModels.LLAMA.replace("LlamaForCausalLM", "FalconForCausalLM"));
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> ModelConfig.read(dir));
    assertEquals(
        "config.json: Unsupported architecture \"FalconForCausalLM\". Supported:"
            + " LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, GPT2LMHeadModel.",
        e.getMessage());
  }

  @Test
  void anUnsupportedActivationOrComputeTypeIsRejected() throws IOException {
    ModelConfig relu = config(TinyModels.GPT2.replace("gelu_new", "relu"));
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> ModelGraph.build(relu, DType.FLOAT32));
    assertEquals(
        "config.json: hidden_act \"relu\" is not supported; supported: silu, swish, gelu_new,"
            + " gelu_pytorch_tanh, gelu.",
        e.getMessage());
    ModelConfig llama = config(TinyModels.LLAMA);
    assertThrows(IllegalArgumentException.class, () -> ModelGraph.build(llama, DType.INT64));
  }

  @Test
  void weightsConvertHalfPrecisionCheckpointsToTheComputeType() throws IOException {
    Path folder = TinyModels.write(dir.resolve("f32"), TinyModels.LLAMA, 9);
    Path half = Files.createDirectories(dir.resolve("f16"));
    Files.copy(folder.resolve(ModelConfig.FILE), half.resolve(ModelConfig.FILE));
    String name = "model.layers.0.mlp.up_proj.weight";
    float[] original;
    try (SafetensorsReader r = SafetensorsReader.open(folder)) {
      original = r.floats(name);
      SafetensorsWriter w = new SafetensorsWriter();
      for (String n : r.names()) {
        float[] v = r.floats(n);
        java.nio.ByteBuffer b =
            java.nio.ByteBuffer.allocate(2 * v.length).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        for (float x : v) {
          b.putShort(n.equals(name) ? Half.fromFloat(x) : Half.toBfloat16(x));
        }
        w.add(
            n,
            n.equals(name) ? dev.graft.model.DType.F16 : dev.graft.model.DType.BF16,
            r.info(n).shape(),
            b.flip());
      }
      w.write(half.resolve(SafetensorsReader.SINGLE_FILE));
    }
    ModelConfig c = ModelConfig.read(half);
    ModelGraph m32 = ModelGraph.build(c, DType.FLOAT32);
    ModelGraph m16 = ModelGraph.build(c, DType.FLOAT16);
    try (SafetensorsReader r = SafetensorsReader.open(half)) {
      float[] asFloat = m32.weights(r, DType.FLOAT32).get(name).floats();
      for (int i = 0; i < original.length; i++) {
        // binary16 keeps 11 significant bits: relative error at most 2^-11.
        assertEquals(original[i], asFloat[i], Math.abs(original[i]) * 0x1p-11 + 1e-7);
      }
      HostTensor f16 = m16.weights(r, DType.FLOAT16).get(name);
      assertEquals(r.bytes(name), f16.data());
      assertThrows(IllegalArgumentException.class, () -> m16.weights(r, DType.FLOAT32));
    }
  }

  // ---------------------------------------------------------------- helpers

  private ModelConfig config(String json) throws IOException {
    Files.writeString(dir.resolve(ModelConfig.FILE), json);
    return ModelConfig.read(dir);
  }

  private static List<String> inputNames(Graph g) {
    return g.inputs().stream().map(Tensor::name).toList();
  }

  private static void halve(Graph g, Tensor t) {
    g.replaceUses(t, g.mul(t, 0.5));
  }

  private static double[] logits(
      Path folder,
      ModelConfig c,
      java.util.function.Consumer<ModelGraph> rewrite,
      Map<String, HostTensor> feeds)
      throws IOException {
    ModelGraph m = ModelGraph.build(c, DType.FLOAT64);
    rewrite.accept(m);
    return Runs.interpret(m, Runs.weights(m, folder, DType.FLOAT64), feeds);
  }

  private static long[][] positions(ModelConfig c) {
    long[][] p = {new long[7], {0, 1, 2, 0, 1, 0, 0}};
    for (int t = 0; t < 7; t++) {
      p[0][t] = c.maxPositionEmbeddings() - 7 + t;
    }
    return p;
  }

  private static Map<String, HostTensor> feeds(ModelConfig c) {
    return Map.of(
        "input_ids", Runs.longs(IDS),
        "position_ids", Runs.longs(positions(c)),
        "segment_ids", Runs.longs(SEGMENTS));
  }

  /**
   * The largest difference between the graph's logits (2, 7, V) and the reference run on each
   * sample alone; padding positions must be finite.
   */
  private static double compare(Path folder, ModelConfig c, double[] logits) throws IOException {
    ReferenceLm ref = new ReferenceLm(folder);
    int vocab = c.vocabSize();
    long[][] positions = positions(c);
    double error = 0;
    for (int b = 0; b < 2; b++) {
      int t = 0;
      while (t < 7) {
        int start = t;
        long segment = SEGMENTS[b][t];
        while (t < 7 && SEGMENTS[b][t] == segment) {
          t++;
        }
        if (segment == 0) {
          for (int i = (b * 7 + start) * vocab; i < (b * 7 + t) * vocab; i++) {
            assertTrue(Double.isFinite(logits[i]), "padding logits must be finite");
          }
          continue;
        }
        int[] ids = new int[t - start];
        int[] pos = new int[t - start];
        for (int i = 0; i < ids.length; i++) {
          ids[i] = (int) IDS[b][start + i];
          pos[i] = (int) positions[b][start + i];
        }
        double[][] expected = ref.logits(ids, pos);
        for (int i = 0; i < ids.length; i++) {
          for (int v = 0; v < vocab; v++) {
            double actual = logits[((b * 7) + start + i) * vocab + v];
            error = Math.max(error, Math.abs(actual - expected[i][v]));
          }
        }
      }
    }
    return error;
  }

  private static double maxDiff(double[] a, double[] b) {
    double d = 0;
    for (int i = 0; i < a.length; i++) {
      d = Math.max(d, Math.abs(a[i] - b[i]));
    }
    return d;
  }
}
