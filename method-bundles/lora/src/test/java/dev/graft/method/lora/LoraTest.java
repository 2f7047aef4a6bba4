package dev.graft.method.lora;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.graft.api.Options;
import dev.graft.api.adapt.Adaptation;
import dev.graft.api.adapt.LinearSite;
import dev.graft.api.adapt.ModelSpec;
import dev.graft.api.adapt.WeightEditor;
import dev.graft.graph.DType;
import dev.graft.graph.Graph;
import dev.graft.graph.Interpreter;
import dev.graft.graph.NdArray;
import dev.graft.graph.Shape;
import dev.graft.graph.Tensor;
import dev.graft.graph.TrainingStep;
import dev.graft.method.lora.spi.Lora;
import dev.graft.method.lora.spi.LoraConfig;
import dev.graft.train.adapt.AdaptableModel;
import dev.graft.train.adapt.GraphAdaptation;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** LoRA through the platform's real Adaptation, evaluated with the reference interpreter. */
class LoraTest {
  /**
   * A two-block toy model in Llama naming: h = tanh(q_proj(x)); y = down_proj(h) + v_proj(x), with
   * biases on q_proj, weights drawn at random.
   */
  static final class Toy implements AdaptableModel {
    final Graph graph = new Graph();
    final Tensor x = graph.input("x", DType.FLOAT64, Shape.with("batch", 4));
    final List<Linear> linears = new ArrayList<>();
    final Map<String, float[]> weights = new LinkedHashMap<>();
    final Tensor y;

    Toy(long seed) {
      Random random = new Random(seed);
      Tensor h = x;
      Tensor sum = null;
      for (int layer = 0; layer < 2; layer++) {
        String p = "model.layers." + layer;
        Tensor q = linear(p + ".self_attn.q_proj", layer, h, 4, 4, true, random);
        Tensor v = linear(p + ".self_attn.v_proj", layer, h, 4, 4, false, random);
        Tensor down = linear(p + ".mlp.down_proj", layer, graph.tanh(q), 4, 4, false, random);
        h = graph.add(down, v);
        sum = h;
      }
      y = sum;
      graph.output("y", y);
    }

    private Tensor linear(
        String module, int layer, Tensor in, int inF, int outF, boolean bias, Random random) {
      Tensor w = graph.parameter(module + ".weight", DType.FLOAT64, Shape.of(outF, inF), false);
      weights.put(w.name(), values(outF * inF, random));
      Tensor b = null;
      if (bias) {
        b = graph.parameter(module + ".bias", DType.FLOAT64, Shape.of(outF), false);
        weights.put(b.name(), values(outF, random));
      }
      Tensor out = graph.linear(in, w, b);
      linears.add(
          new Linear(
              new LinearSite(
                  module, layer, inF, outF, w.name(), b == null ? null : b.name(), false),
              in,
              out));
      return out;
    }

    private static float[] values(int n, Random random) {
      float[] v = new float[n];
      for (int i = 0; i < n; i++) {
        v[i] = (float) random.nextGaussian();
      }
      return v;
    }

    @Override
    public Graph graph() {
      return graph;
    }

    @Override
    public ModelSpec spec() {
      return new ModelSpec(
          "LlamaForCausalLM",
          4,
          2,
          1,
          1,
          4,
          4,
          10,
          linears.stream().map(l -> l.site().module()).toList(),
          List.of("q_proj", "v_proj"));
    }

    @Override
    public List<Linear> linears() {
      return linears;
    }

    @Override
    public List<Block> blocks() {
      return List.of();
    }

    @Override
    public float[] weight(String parameter) {
      return weights.get(parameter).clone();
    }
  }

  private static Lora lora(Map<String, String> options) {
    return (Lora) new LoraMethod().create(Options.parse(LoraMethod.INFO, options));
  }

  private static NdArray array(long[] shape, float[] v) {
    double[] d = new double[v.length];
    for (int i = 0; i < v.length; i++) {
      d[i] = v[i];
    }
    return NdArray.of(DType.FLOAT64, shape, d);
  }

  private static Map<String, NdArray> feeds(
      Toy toy, Map<String, float[]> extra, GraphAdaptation a) {
    Map<String, NdArray> feeds = new HashMap<>();
    double[] x = new double[3 * 4];
    Random random = new Random(9);
    for (int i = 0; i < x.length; i++) {
      x[i] = random.nextGaussian();
    }
    feeds.put("x", NdArray.of(DType.FLOAT64, new long[] {3, 4}, x));
    for (Tensor p : toy.graph.parameters()) {
      float[] v = extra.containsKey(p.name()) ? extra.get(p.name()) : toy.weights.get(p.name());
      feeds.put(p.name(), array(p.shape().sizes(), v));
    }
    return feeds;
  }

  @Test
  void theDefaultTargetsAreThoseOfTheArchitecture() {
    Toy toy = new Toy(1);
    GraphAdaptation a = new GraphAdaptation(toy, true, DType.FLOAT64);
    lora(Map.of()).adapt(a);
    assertEquals(
        List.of(
            "model.layers.0.self_attn.q_proj.lora_A.weight",
            "model.layers.0.self_attn.q_proj.lora_B.weight",
            "model.layers.0.self_attn.v_proj.lora_A.weight",
            "model.layers.0.self_attn.v_proj.lora_B.weight",
            "model.layers.1.self_attn.q_proj.lora_A.weight",
            "model.layers.1.self_attn.q_proj.lora_B.weight",
            "model.layers.1.self_attn.v_proj.lora_A.weight",
            "model.layers.1.self_attn.v_proj.lora_B.weight"),
        List.copyOf(a.declared()));
  }

  @Test
  void targetsByListRegexAllLinearExcludeAndLayers() {
    assertEquals(6, targets(Map.of("target_modules", "all-linear")));
    assertEquals(2, targets(Map.of("target_modules", "down_proj")));
    assertEquals(1, targets(Map.of("target_modules", "model.layers.1.mlp.down_proj")));
    assertEquals(
        2, targets(Map.of("target_modules", ".*\\.(q|v)_proj", "layers_to_transform", "0")));
    assertEquals(
        4, targets(Map.of("target_modules", "all-linear", "exclude_modules", "down_proj")));
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class, () -> targets(Map.of("target_modules", "q_prj")));
    assertEquals(
        "Unknown target module \"q_prj\". LlamaForCausalLM's linear layers end in: down_proj, q_proj, v_proj. Did you mean"
            + " \"q_proj\"?",
        e.getMessage());
  }

  private static int targets(Map<String, String> options) {
    GraphAdaptation a = new GraphAdaptation(new Toy(1), true, DType.FLOAT64);
    lora(options).adapt(a);
    return a.declared().size() / 2;
  }

  @Test
  void ranksAndScalesFollowPatternsAndRsLora() {
    LoraConfig c =
        LoraConfig.of(
            Options.parse(
                LoraMethod.INFO,
                Map.of(
                    "r",
                    "8",
                    "lora_alpha",
                    "16",
                    "rank_pattern",
                    "q_proj=4",
                    "alpha_pattern",
                    "layers.1.*down_proj=2")));
    assertEquals(4, c.rankOf("model.layers.0.self_attn.q_proj"));
    assertEquals(8, c.rankOf("model.layers.0.self_attn.v_proj"));
    assertEquals(16.0 / 4, c.scale("model.layers.0.self_attn.q_proj"));
    assertEquals(2.0 / 8, c.scale("model.layers.1.mlp.down_proj"));
    LoraConfig rs =
        LoraConfig.of(
            Options.parse(
                LoraMethod.INFO, Map.of("r", "16", "lora_alpha", "8", "use_rslora", "true")));
    assertEquals(8 / 4.0, rs.scale("anything"));
    assertThrows(IllegalArgumentException.class, () -> lora(Map.of("r", "0")));
  }

  @Test
  void loraIsAnExactNoOpAtInitialisation() {
    Toy base = new Toy(3);
    NdArray before = Interpreter.run(base.graph, feeds(base, Map.of(), null)).get("y");
    Toy toy = new Toy(3);
    GraphAdaptation a = new GraphAdaptation(toy, false, DType.FLOAT64);
    lora(Map.of("target_modules", "all-linear", "lora_dropout", "0.1")).adapt(a);
    NdArray after = Interpreter.run(toy.graph, feeds(toy, a.initialValues(42), a)).get("y");
    assertArrayEquals(before.data(), after.data());
  }

  @Test
  void aTrainingStepChangesOnlyLoraTensors() {
    Toy toy = new Toy(4);
    GraphAdaptation a = new GraphAdaptation(toy, true, DType.FLOAT64);
    lora(Map.of("target_modules", "q_proj,down_proj")).adapt(a);
    Tensor target = toy.graph.input("target", DType.FLOAT64, Shape.with("batch", 4));
    Tensor loss = toy.graph.mseLoss(toy.y, target);
    TrainingStep step = TrainingStep.builder(toy.graph, loss).weightDecay(0).build();
    assertEquals(a.declared().size(), toy.graph.trainables().size());
    Map<String, float[]> init = a.initialValues(42);
    Map<String, NdArray> feeds = feeds(toy, init, a);
    feeds.put("target", NdArray.of(DType.FLOAT64, new long[] {3, 4}, new double[12]));
    feeds.put("step", NdArray.scalar(DType.FLOAT64, 1));
    feeds.put("lr.default", NdArray.scalar(DType.FLOAT64, 0.1));
    for (Tensor p : toy.graph.trainables()) {
      feeds.put("m." + p.name(), NdArray.zeros(DType.FLOAT64, p.shape().sizes()));
      feeds.put("v." + p.name(), NdArray.zeros(DType.FLOAT64, p.shape().sizes()));
    }
    Map<String, NdArray> out = Interpreter.run(step.graph(), feeds);
    for (String name : a.declared()) {
      double[] next = out.get("next." + name).data();
      double[] was = feeds.get(name).data();
      if (name.endsWith("lora_B.weight")) {
        assertNotEquals(
            0.0, java.util.Arrays.stream(next).map(Math::abs).sum(), name + " moved off zero");
      } else {
        // With B = 0 the first step gives A no gradient (dL/dA = Bᵀ·…), as in PEFT.
        assertArrayEquals(was, next, name);
      }
    }
    assertEquals(
        a.declared().size() * 3L,
        step.carry().keySet().stream().filter(k -> k.startsWith("next.")).count(),
        "only LoRA tensors and their moments are carried: " + step.carry().keySet());
  }

  @Test
  void mergedLogitsEqualUnmergedOnes() {
    Toy toy = new Toy(5);
    GraphAdaptation a = new GraphAdaptation(toy, false, DType.FLOAT64);
    Lora lora = lora(Map.of("target_modules", "all-linear", "r", "2", "lora_alpha", "3"));
    lora.adapt(a);
    Map<String, float[]> trained = new HashMap<>(a.initialValues(42));
    Random random = new Random(6);
    trained.replaceAll(
        (k, v) -> {
          float[] w = v.clone();
          for (int i = 0; i < w.length; i++) {
            w[i] = (float) random.nextGaussian();
          }
          return w;
        });
    NdArray adapted = Interpreter.run(toy.graph, feeds(toy, trained, a)).get("y");

    Map<String, float[]> values = new HashMap<>(toy.weights);
    values.putAll(trained);
    lora.merge(
        new WeightEditor() {
          @Override
          public float[] read(String p) {
            return values.get(p).clone();
          }

          @Override
          public long[] shape(String p) {
            return toy.graph.tensor(p).shape().sizes();
          }

          @Override
          public void write(String p, float[] v) {
            values.put(p, v);
          }
        });
    Toy plain = new Toy(5);
    NdArray merged = Interpreter.run(plain.graph, feeds(plain, values, null)).get("y");
    for (int i = 0; i < merged.size(); i++) {
      assertEquals(adapted.get(i), merged.get(i), 1e-5, "element " + i);
    }
  }

  /** A variant as a bundle writes one: A frozen, a group once every site is adapted, a field. */
  private static final class FrozenA extends Lora {
    FrozenA() {
      super(LoraConfig.of(Options.parse(LoraMethod.INFO, Map.of("target_modules", "q_proj"))));
    }

    @Override
    protected boolean trainsA() {
      return false;
    }

    @Override
    protected void adapted(Adaptation adaptation) {
      Set<String> bs = sites().stream().map(Site::b).collect(Collectors.toSet());
      adaptation.group("b", bs::contains, 2, 0);
    }

    @Override
    protected void addAdapterConfig(Map<String, Object> config) {
      config.put("variant_field", 1);
    }
  }

  @Test
  void aVariantThatFreezesADeclaresItButTrainsOnlyB() {
    Toy toy = new Toy(1);
    GraphAdaptation a = new GraphAdaptation(toy, true, DType.FLOAT64);
    new FrozenA().adapt(a);
    assertEquals(4, a.declared().size(), "A is declared, as PEFT saves it");
    assertEquals(
        List.of(
            "model.layers.0.self_attn.q_proj.lora_B.weight",
            "model.layers.1.self_attn.q_proj.lora_B.weight"),
        toy.graph.trainables().stream().map(Tensor::name).toList());
  }

  @Test
  void aVariantsHookSeesEveryAdaptedSite() {
    GraphAdaptation a = new GraphAdaptation(new Toy(1), true, DType.FLOAT64);
    new FrozenA().adapt(a);
    assertEquals(1, a.groups().size());
    assertTrue(a.groups().get(0).members().test("model.layers.1.self_attn.q_proj.lora_B.weight"));
    assertFalse(a.groups().get(0).members().test("model.layers.1.self_attn.q_proj.lora_A.weight"));
  }

  @Test
  void aVariantsAdapterConfigFieldsComeAfterLoras() {
    Lora variant = new FrozenA();
    variant.adapt(new GraphAdaptation(new Toy(1), true, DType.FLOAT64));
    List<String> keys = List.copyOf(variant.adapterConfig().keySet());
    assertEquals("peft_type", keys.get(0));
    assertEquals("variant_field", keys.get(keys.size() - 1));
  }

  @Test
  void theAdapterConfigHasPeftsLoraFields() {
    Toy toy = new Toy(1);
    Lora lora = lora(Map.of("r", "16", "lora_alpha", "32", "target_modules", "q_proj,v_proj"));
    lora.adapt(new GraphAdaptation(toy, true, DType.FLOAT64));
    Map<String, Object> c = lora.adapterConfig();
    assertEquals("LORA", c.get("peft_type"));
    assertEquals("CAUSAL_LM", c.get("task_type"));
    assertEquals(16, c.get("r"));
    assertEquals(32.0, c.get("lora_alpha"));
    assertEquals(List.of("q_proj", "v_proj"), c.get("target_modules"));
    assertEquals(false, c.get("fan_in_fan_out"));
    assertEquals("none", c.get("bias"));
    assertEquals(true, c.get("init_lora_weights"));
  }
}
