package dev.graft.method.adapter;

import dev.graft.api.adapt.Adaptation;
import dev.graft.api.adapt.Init;
import dev.graft.api.adapt.InsertionPoint;
import dev.graft.api.adapt.MethodInstance;
import dev.graft.api.adapt.ModelSpec;
import dev.graft.api.adapt.WeightEditor;
import dev.graft.graph.GraphOps;
import dev.graft.graph.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * Bottleneck adapters as AdapterHub builds them for pre-norm decoders ({@code Adapter} in {@code
 * adapters/methods/modeling.py}, called with no layer norm by the Llama and GPT-2 blocks):
 *
 * <pre>
 *   adapter(x) = W_up · f(W_down · x + b_down) + b_up       W_down (m, d), W_up (d, m)
 *   houlsby: a ← a + adapter(a) after attention, o ← o + adapter(o) after the MLP
 *   pfeiffer: o ← o + adapter(o + h) after the MLP only, h the residual stream o is added to
 * </pre>
 *
 * <p>The block then adds the residual as before: {@code h + a}, {@code h + o}. Parameters are named
 * as AdapterHub's state dict names them ({@code
 * model.layers.0.output_adapters.adapters.default.adapter_down.0.weight}), so the Graft layout of
 * the saved adapter is AdapterHub's.
 */
final class BottleneckAdapter implements MethodInstance {
  /** The adapter's name inside AdapterHub's keys and config. */
  static final String NAME = "default";

  /** The model's norm weights (and GPT-2's norm biases), for {@code train_layer_norms}. */
  static final Pattern NORMS =
      Pattern.compile("(.*_layernorm|.*\\.ln_\\w+|model\\.norm)\\.(weight|bias)");

  private final BottleneckConfig config;
  private ModelSpec model;

  BottleneckAdapter(BottleneckConfig config) {
    this.config = config;
  }

  @Override
  public void adapt(Adaptation adaptation) {
    model = adaptation.model();
    for (int layer : config.layers()) {
      if (layer >= model.layers()) {
        throw new IllegalArgumentException(
            "layers lists block "
                + layer
                + ", but the model has blocks 0 to "
                + (model.layers() - 1)
                + ".");
      }
    }
    GraphOps g = adaptation.graph();
    String blocks = model.architecture().startsWith("GPT2") ? "transformer.h." : "model.layers.";
    for (int layer = 0; layer < model.layers(); layer++) {
      if (!config.adapts(layer)) {
        continue;
      }
      if (config.afterAttention()) {
        Bottleneck attention = declare(adaptation, blocks + layer + ".attention_adapters");
        adaptation.insert(
            InsertionPoint.AFTER_ATTENTION, layer, a -> g.add(a, apply(g, attention, a)));
      }
      Bottleneck output = declare(adaptation, blocks + layer + ".output_adapters");
      if (config.afterAttention()) {
        adaptation.insert(InsertionPoint.AFTER_MLP, layer, o -> g.add(o, apply(g, output, o)));
      } else {
        // AdapterHub's original_ln_before with no layer norm: the adapter reads o + h, the
        // residual around it is o (residual_before_ln), and the block adds h after it.
        adaptation.insert(
            InsertionPoint.AFTER_MLP,
            layer,
            (o, h) -> g.add(o, apply(g, output, g.add(o, h)))); // (B, T, d)
      }
    }
    if (config.trainLayerNorms()) {
      adaptation.setTrainable(p -> NORMS.matcher(p).matches(), true);
    }
  }

  /** One adapter's parameters, declared in AdapterHub's order (down, then up). */
  private Bottleneck declare(Adaptation adaptation, String location) {
    String owner = location + ".adapters." + NAME;
    long d = model.hiddenSize();
    long m = config.bottleneck(model.hiddenSize());
    Init weights = weightInit();
    Tensor downW =
        adaptation.parameter(owner, "adapter_down.0.weight", new long[] {m, d}, weights, true);
    Tensor downB =
        adaptation.parameter(owner, "adapter_down.0.bias", new long[] {m}, Init.zeros(), true);
    Tensor upW =
        adaptation.parameter(
            owner,
            "adapter_up.weight",
            new long[] {d, m},
            config.initWeights().equals("mam_adapter") ? Init.zeros() : weights,
            true);
    Tensor upB = adaptation.parameter(owner, "adapter_up.bias", new long[] {d}, Init.zeros(), true);
    return new Bottleneck(downW, downB, upW, upB);
  }

  /** The weight init of {@code init_weights} (AdapterHub's {@code Adapter.__init__}). */
  private Init weightInit() {
    return switch (config.initWeights()) {
      case "houlsby" -> truncatedNormal(1e-2, 2e-2);
      case "mam_adapter" -> Init.kaimingUniform(Math.sqrt(5)); // down only; up is zero
      default -> Init.normal(0.02); // bert
    };
  }

  /** torch's {@code trunc_normal_(w, 0, std, -bound, bound)}: normal, redrawn outside ±bound. */
  static Init truncatedNormal(double std, double bound) {
    return (values, shape, random) -> {
      for (int i = 0; i < values.length; i++) {
        double v;
        do {
          v = random.nextGaussian() * std;
        } while (Math.abs(v) > bound);
        values[i] = (float) v;
      }
    };
  }

  /** One bottleneck: {@code W_up · f(W_down · x + b_down) + b_up}. */
  private record Bottleneck(Tensor downW, Tensor downB, Tensor upW, Tensor upB) {}

  private Tensor apply(GraphOps g, Bottleneck b, Tensor x) {
    Tensor down = g.linear(x, b.downW(), b.downB()); // (B, T, m)
    return g.linear(activation(g, down), b.upW(), b.upB()); // (B, T, d)
  }

  private Tensor activation(GraphOps g, Tensor x) {
    return switch (config.nonLinearity()) {
      case "relu" -> g.max(x, g.scalar(0, x.dtype()));
      case "gelu" -> g.gelu(x, false);
      case "tanh" -> g.tanh(x);
      default -> g.silu(x); // swish
    };
  }

  /**
   * AdapterHub's {@code adapter_config.json}: {@code build_full_config} of the {@code BnConfig}.
   */
  @Override
  public Map<String, Object> adapterConfig() {
    Map<String, Object> c = new LinkedHashMap<>();
    boolean houlsby = config.afterAttention();
    c.put("architecture", "bottleneck");
    c.put("mh_adapter", houlsby);
    c.put("output_adapter", true);
    c.put("reduction_factor", config.reductionFactor());
    c.put("non_linearity", config.nonLinearity());
    c.put("original_ln_before", !houlsby);
    c.put("original_ln_after", true);
    c.put("ln_before", false);
    c.put("ln_after", false);
    c.put("init_weights", config.initWeights());
    c.put("is_parallel", false);
    c.put("scaling", 1.0);
    c.put("use_gating", false);
    c.put("residual_before_ln", true);
    c.put("adapter_residual_before_ln", false);
    c.put("inv_adapter", null);
    c.put("inv_adapter_reduction_factor", null);
    c.put("cross_adapter", false);
    List<Integer> leaveOut = new ArrayList<>();
    for (int layer = 0; layer < model.layers(); layer++) {
      if (!config.adapts(layer)) {
        leaveOut.add(layer);
      }
    }
    c.put("leave_out", leaveOut);
    c.put("dropout", 0.0);
    c.put("phm_layer", false);
    c.put("phm_dim", 4);
    c.put("factorized_phm_W", true);
    c.put("shared_W_phm", false);
    c.put("shared_phm_rule", true);
    c.put("factorized_phm_rule", false);
    c.put("phm_c_init", "normal");
    c.put("phm_init_range", 0.0001);
    c.put("learn_phm", true);
    c.put("hypercomplex_nonlinearity", "glorot-uniform");
    c.put("phm_rank", 1);
    c.put("phm_bias", true);
    c.put("stochastic_depth", 0.0);
    Map<String, Object> full = new LinkedHashMap<>();
    full.put("config", c);
    full.put("hidden_size", model.hiddenSize());
    full.put("model_class", model.architecture());
    full.put("model_name", null);
    full.put("model_type", modelType(model.architecture()));
    full.put("name", NAME);
    full.put("version", "adapters.1.1.0");
    return full;
  }

  /** Hugging Face's {@code model_type} of an architecture: {@code LlamaForCausalLM} → llama. */
  static String modelType(String architecture) {
    return architecture
        .replace("ForCausalLM", "")
        .replace("LMHeadModel", "")
        .toLowerCase(Locale.ROOT);
  }

  @Override
  public Optional<String> differenceAtInit() {
    return config.initWeights().equals("mam_adapter")
        ? Optional.empty()
        : Optional.of(
            "init_weights "
                + config.initWeights()
                + " starts the up projections small and random, as AdapterHub does, so every"
                + " adapter adds a small random map from the first step (mam_adapter starts at"
                + " zero).");
  }

  @Override
  public void merge(WeightEditor weights) {
    throw new IllegalStateException(
        "A bottleneck adapter cannot be merged: the non-linearity between its down and up"
            + " projections does not fold into the model's linear weights; load it with --adapter"
            + " instead.");
  }

  @Override
  public void unmerge(WeightEditor weights) {
    merge(weights);
  }
}
