package dev.graft.example.ia3;

import dev.graft.api.adapt.Adaptation;
import dev.graft.api.adapt.Init;
import dev.graft.api.adapt.LinearSite;
import dev.graft.api.adapt.MethodInstance;
import dev.graft.api.adapt.TargetSpec;
import dev.graft.api.adapt.WeightEditor;
import dev.graft.graph.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * (IA)³ (Liu et al. 2022, §3.3): learned vectors rescale activations elementwise, everything else
 * frozen. On the attention's key and value projections the output is rescaled, {@code y = l ⊙ (x·Wᵀ
 * + b)} (the paper's l_k, l_v); on the MLP's down projection the input is, {@code y = (l ⊙ x)·Wᵀ +
 * b} (l_ff, which the paper puts after the MLP's nonlinearity, the down projection's input). The
 * vectors start at ones, so the model starts as the base. They are saved as PEFT saves them, {@code
 * <module>.ia3_l} of shape (out, 1), or (1, in) for a feedforward module; merging scales W's rows
 * (and b) or W's columns by them.
 */
final class Ia3 implements MethodInstance {
  /** The name under the module that PEFT saves the vector as. */
  static final String VECTOR = "ia3_l";

  private final Ia3Config config;

  /** What {@link #adapt} rescaled, for merging. */
  private final List<Site> sites = new ArrayList<>();

  /** PEFT's {@code target_modules} and {@code feedforward_modules} as {@link #adapt} used them. */
  private Object targetModules;

  private Object feedforwardModules;

  /**
   * One rescaled linear layer.
   *
   * @param site the layer
   * @param feedforward whether its input, not its output, is rescaled
   * @param vector the full name of its vector
   */
  private record Site(LinearSite site, boolean feedforward, String vector) {}

  Ia3(Ia3Config config) {
    this.config = config;
  }

  @Override
  public void adapt(Adaptation adaptation) {
    sites.clear();
    String architecture = adaptation.model().architecture();
    List<String> targetPatterns = config.targets(architecture);
    List<LinearSite> targets = adaptation.linears(TargetSpec.parse(targetPatterns));
    checkFeedforwardIsTargeted(targets);
    // The default feedforward modules that are not targeted are left out, as PEFT's config
    // requires feedforward_modules to be a subset of target_modules when it is read back.
    List<String> feedforward =
        config.feedforward(architecture).stream()
            .filter(p -> targets.stream().anyMatch(s -> Ia3Config.matches(List.of(p), s)))
            .toList();
    targetModules = Ia3Config.asPeft(targetPatterns);
    feedforwardModules = feedforward.isEmpty() ? List.of() : Ia3Config.asPeft(feedforward);
    Init init = config.initOnes() ? Init.constant(1f) : Init.normal(1.0);
    for (LinearSite site : targets) {
      boolean ff = Ia3Config.matches(feedforward, site);
      long[] shape = ff ? new long[] {1, site.inFeatures()} : new long[] {site.outFeatures(), 1};
      Tensor l = adaptation.parameter(site.module(), VECTOR, shape, init, true);
      sites.add(new Site(site, ff, l.name()));
      if (ff) {
        // (l ⊙ x)·Wᵀ + b = y + ((l − 1) ⊙ x)·Wᵀ: the base output stays as other methods left it,
        // and at l = 1 the added term is exactly zero. It costs one more product with W.
        Tensor w = adaptation.weightTensor(site.weight()); // (out, in), or (in, out) fan_in_fan_out
        adaptation.rewriteLinear(
            site,
            (g, x, y, s) -> {
              Tensor dx = g.mul(x, g.add(l, -1)); // (…, in) ⊙ (1, in)
              return g.add(y, s.fanInFanOut() ? g.conv1d(dx, w, null) : g.linear(dx, w, null));
            });
      } else {
        adaptation.rewriteLinear(
            site, (g, x, y, s) -> g.mul(y, g.squeeze(l, 1))); // (…, out) ⊙ (out)
      }
    }
  }

  /** PEFT's rule: feedforward_modules, when given, name a subset of target_modules. */
  private void checkFeedforwardIsTargeted(List<LinearSite> targets) {
    for (String pattern : config.feedforwardModules()) {
      if (targets.stream().noneMatch(s -> Ia3Config.matches(List.of(pattern), s))) {
        throw new IllegalArgumentException(
            "feedforward_modules names \""
                + pattern
                + "\", which is none of the targeted modules; name a subset of target_modules.");
      }
    }
  }

  /** Random vectors (init_ia3_weights=false) rescale every targeted activation from the start. */
  @Override
  public Optional<String> differenceAtInit() {
    return config.initOnes()
        ? Optional.empty()
        : Optional.of("init_ia3_weights=false starts the vectors random, not at ones.");
  }

  /** PEFT's {@code IA3Config} fields, with the defaults for the model filled in as PEFT does. */
  @Override
  public Map<String, Object> adapterConfig() {
    Map<String, Object> c = new LinkedHashMap<>();
    c.put("peft_type", "IA3");
    c.put("task_type", "CAUSAL_LM");
    c.put("target_modules", targetModules);
    c.put("feedforward_modules", feedforwardModules);
    c.put("fan_in_fan_out", sites.stream().anyMatch(s -> s.site().fanInFanOut()));
    c.put("init_ia3_weights", config.initOnes());
    c.put("modules_to_save", null);
    return c;
  }

  /** Rescaling by a fixed vector is a rescaling of W's rows or columns. */
  @Override
  public boolean mergeable() {
    return true;
  }

  /**
   * W's row o (and b_o) times l_o; for a feedforward module W's column i times l_i, the bias
   * unchanged. As PEFT's {@code IA3Layer.merge}.
   */
  @Override
  public void merge(WeightEditor weights) {
    fold(weights, true);
  }

  /** The inverse of {@link #merge}: divides by the vectors (as PEFT, which adds 1e-8 to them). */
  @Override
  public void unmerge(WeightEditor weights) {
    fold(weights, false);
  }

  private void fold(WeightEditor weights, boolean merge) {
    for (Site s : sites) {
      float[] l = weights.read(s.vector()); // (out) or (in)
      LinearSite site = s.site();
      int in = site.inFeatures();
      int out = site.outFeatures();
      float[] w = weights.read(site.weight());
      for (int o = 0; o < out; o++) {
        for (int i = 0; i < in; i++) {
          int index = site.fanInFanOut() ? i * out + o : o * in + i;
          w[index] = scaled(w[index], l[s.feedforward() ? i : o], merge);
        }
      }
      weights.write(site.weight(), w);
      if (!s.feedforward() && site.bias() != null) {
        float[] b = weights.read(site.bias());
        for (int o = 0; o < out; o++) {
          b[o] = scaled(b[o], l[o], merge);
        }
        weights.write(site.bias(), b);
      }
    }
  }

  private static float scaled(float value, float l, boolean merge) {
    return merge ? value * l : (float) (value / (l + 1e-8));
  }
}
