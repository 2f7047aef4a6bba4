package dev.graft.method.lora.spi;

import dev.graft.api.adapt.Adaptation;
import dev.graft.api.adapt.AdapterWriter;
import dev.graft.api.adapt.Init;
import dev.graft.api.adapt.LinearSite;
import dev.graft.api.adapt.MethodInstance;
import dev.graft.api.adapt.WeightEditor;
import dev.graft.api.backend.HostTensor;
import dev.graft.graph.GraphOps;
import dev.graft.graph.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;

/**
 * LoRA on the targeted linear layers: {@code y = W·x + b + s · B·A·dropout(x)} with A (r, in), B
 * (out, r) and {@code s = alpha / r} ({@code alpha / √r} with rsLoRA).
 *
 * <p>A variant extends it and overrides the hooks: {@link #trainsA} (LoRA-FA freezes A), {@link
 * #initA} (how A starts), {@link #adapted} (runs once every site is adapted: parameter groups, as
 * LoRA+'s) and {@link #addAdapterConfig} (its extra or changed {@code adapter_config.json} fields).
 * Since 1.1 also: {@link #adapting} (runs first), {@link #rank} (a layer's rank), {@link #initB}
 * (how B starts: PiSSA's singular vectors), {@link #output} (the adapted layer's output: DoRA's
 * rescaled direction, built from {@link #update}, {@link #a} and {@link #b}), {@link #saved} (a
 * tensor as the adapter holds it: PiSSA's conversion to rank 2r) and {@link #mergedWeight} (W after
 * merging or unmerging: DoRA's normalised rows). The adapter is PEFT's LoRA layout: {@code
 * <module>.lora_A.weight} and {@code <module>.lora_B.weight}, A included even when it did not
 * train, plus what a variant declares.
 */
public class Lora implements MethodInstance {
  /**
   * One adapted layer.
   *
   * @param site the linear layer
   * @param rank its rank
   * @param scale the update's scale s
   * @param a the full name of its A (r, in)
   * @param b the full name of its B (out, r)
   */
  public record Site(LinearSite site, int rank, double scale, String a, String b) {}

  private final LoraConfig config;
  private final List<Site> sites = new ArrayList<>();
  private final Map<String, Tensor> factors = new LinkedHashMap<>();

  /** LoRA as {@code config} says. */
  public Lora(LoraConfig config) {
    this.config = config;
  }

  /** The settings this instance was made with. */
  protected final LoraConfig config() {
    return config;
  }

  /** The adapted layers, in the order {@link #adapt} met them; empty before. */
  protected final List<Site> sites() {
    return List.copyOf(sites);
  }

  /** Whether A trains: true for LoRA; false keeps A at its initial values (LoRA-FA). */
  protected boolean trainsA() {
    return true;
  }

  /**
   * How A of a layer of rank {@code rank} starts: as nn.Linear initialises its weight
   * (Kaiming-uniform, a = √5), or N(0, 1/r²) with {@code init_lora_weights=gaussian}.
   */
  protected Init initA(LinearSite site, int rank) {
    return config.init().equals("gaussian")
        ? Init.normal(1.0 / rank)
        : Init.kaimingUniform(Math.sqrt(5));
  }

  /**
   * Runs at the start of {@link #adapt}, before any site; LoRA does nothing. A variant that needs
   * the adaptation in its per-site hooks (PiSSA reads W for its SVD) keeps it here.
   *
   * @since 1.1
   */
  protected void adapting(Adaptation adaptation) {}

  /**
   * The rank of a layer: the {@code rank_pattern} entry that matches it, else r.
   *
   * @since 1.1
   */
  protected int rank(LinearSite site) {
    return config.rankOf(site.module());
  }

  /**
   * How B of a layer of rank {@code rank} starts: zero, so that B·A = 0 at the start.
   *
   * @since 1.1
   */
  protected Init initB(LinearSite site, int rank) {
    return Init.zeros();
  }

  /**
   * The adapted layer's output, built once per site while {@link #adapt} runs (a variant may
   * declare tensors of the site here): LoRA's {@code base + s·B·A·dropout(x)}.
   *
   * @param x the layer input, (…, in)
   * @param base the layer's output {@code x·Wᵀ + b}, (…, out)
   * @return the new output, (…, out)
   * @since 1.1
   */
  protected Tensor output(Adaptation adaptation, Site site, Tensor x, Tensor base) {
    GraphOps g = adaptation.graph();
    return g.add(base, update(g, site, adaptation.dropout(x, config.dropout())));
  }

  /**
   * The low-rank update {@code s·B·A·x} of a site, (…, out), for an input {@code x} (…, in) that is
   * already dropped out.
   *
   * @since 1.1
   */
  protected final Tensor update(GraphOps g, Site site, Tensor x) {
    Tensor down = g.linear(x, a(site), null); // (…, r)
    Tensor up = g.linear(down, b(site), null); // (…, out)
    return g.mul(up, site.scale());
  }

  /**
   * A site's A (r, in) in the graph being adapted.
   *
   * @since 1.1
   */
  protected final Tensor a(Site site) {
    return factors.get(site.a());
  }

  /**
   * A site's B (out, r) in the graph being adapted.
   *
   * @since 1.1
   */
  protected final Tensor b(Site site) {
    return factors.get(site.b());
  }

  /**
   * A tensor as the adapter holds it, given its trained value; LoRA writes it as it is. PiSSA
   * writes its A and B as a plain LoRA adapter against the original W.
   *
   * @param name the tensor's Graft name
   * @since 1.1
   */
  protected HostTensor saved(String name, HostTensor trained) {
    return trained;
  }

  /**
   * W of a site after merging or unmerging, in (out, in) layout whatever the layer stores: LoRA's
   * {@code W ± s·B·A}, W read with {@link #rows}.
   *
   * @param weights the weights being merged into (W and the variant's own tensors)
   * @param delta {@code s·B·A}, (out, in), row-major
   * @param merge true to merge, false to unmerge
   * @return W after, (out, in), row-major
   * @throws IllegalStateException when the variant cannot unmerge (say why in one sentence)
   * @since 1.1
   */
  protected float[] mergedWeight(WeightEditor weights, Site site, float[] delta, boolean merge) {
    float[] w = rows(weights.read(site.site().weight()), site);
    for (int i = 0; i < w.length; i++) {
      w[i] = merge ? w[i] + delta[i] : w[i] - delta[i];
    }
    return w;
  }

  /** Runs at the end of {@link #adapt}, once every site is adapted; LoRA does nothing more. */
  protected void adapted(Adaptation adaptation) {}

  /**
   * Adds or changes fields of {@link #adapterConfig}, which holds PEFT's LoRA fields when called;
   * LoRA changes nothing.
   */
  protected void addAdapterConfig(Map<String, Object> config) {}

  /** The biases that train with the {@code bias} option: none, every bias, or the targets' own. */
  protected final Predicate<String> trainedBiases() {
    return switch (config.bias()) {
      case "all" -> p -> p.endsWith(".bias");
      case "lora_only" -> {
        Set<String> biases = new LinkedHashSet<>();
        sites.stream().map(s -> s.site().bias()).filter(b -> b != null).forEach(biases::add);
        yield biases::contains;
      }
      default -> p -> false;
    };
  }

  @Override
  public final void adapt(Adaptation adaptation) {
    sites.clear();
    factors.clear();
    adapting(adaptation);
    for (LinearSite site : adaptation.linears(config.targets())) {
      int r = rank(site);
      double scale = config.scale(site.module());
      Tensor a =
          adaptation.parameter(
              site.module(),
              "lora_A.weight",
              new long[] {r, site.inFeatures()},
              initA(site, r),
              trainsA());
      Tensor b =
          adaptation.parameter(
              site.module(),
              "lora_B.weight",
              new long[] {site.outFeatures(), r},
              initB(site, r),
              true);
      factors.put(a.name(), a);
      factors.put(b.name(), b);
      Site adapted = new Site(site, r, scale, a.name(), b.name());
      sites.add(adapted);
      adaptation.rewriteLinear(site, (g, x, base, s) -> output(adaptation, adapted, x, base));
    }
    if (!config.bias().equals("none")) {
      adaptation.setTrainable(trainedBiases(), true);
    }
    adapted(adaptation);
  }

  /** PEFT's LoRA fields, then the variant's ({@link #addAdapterConfig}). */
  @Override
  public final Map<String, Object> adapterConfig() {
    Map<String, Object> c = new LinkedHashMap<>();
    c.put("peft_type", "LORA");
    c.put("task_type", "CAUSAL_LM");
    c.put("r", config.r());
    c.put("lora_alpha", config.alpha());
    c.put("lora_dropout", config.dropout());
    c.put("use_rslora", config.rslora());
    c.put(
        "target_modules",
        config.targets().savedTargetModules(sites.stream().map(Site::site).toList()));
    c.put(
        "exclude_modules",
        config.targets().exclude().isEmpty() ? null : config.targets().exclude());
    c.put(
        "layers_to_transform",
        config.targets().layers().isEmpty() ? null : config.targets().layers());
    c.put("rank_pattern", config.rankPattern());
    c.put("alpha_pattern", config.alphaPattern());
    c.put("bias", config.bias());
    c.put("fan_in_fan_out", sites.stream().anyMatch(s -> s.site().fanInFanOut()));
    c.put("init_lora_weights", config.init().equals("true") ? Boolean.TRUE : config.init());
    c.put("use_dora", false);
    c.put("lora_bias", false);
    c.put("modules_to_save", null);
    addAdapterConfig(c);
    return c;
  }

  /** PEFT keeps a targeted layer's own bias under {@code <module>.base_layer.bias}. */
  @Override
  public final void save(AdapterWriter writer) {
    Map<String, String> wrappedBiases = new LinkedHashMap<>();
    sites.stream()
        .filter(s -> s.site().bias() != null)
        .forEach(s -> wrappedBiases.put(s.site().bias(), s.site().module() + ".base_layer.bias"));
    for (String name : writer.tensors()) {
      HostTensor t = saved(name, HostTensor.ofFloats(writer.shape(name), writer.values(name)));
      writer.write(wrappedBiases.getOrDefault(name, name), t.shape(), t.floats());
    }
  }

  @Override
  public final boolean mergeable() {
    return true;
  }

  /**
   * W += s · B·A ({@link #mergedWeight}), transposed for a weight stored (in, out) (GPT-2's Conv1D,
   * fan_in_fan_out).
   */
  @Override
  public final void merge(WeightEditor weights) {
    fold(weights, true);
  }

  /** W -= s · B·A ({@link #mergedWeight}): the merged weights back to the base ones. */
  @Override
  public final void unmerge(WeightEditor weights) {
    fold(weights, false);
  }

  private void fold(WeightEditor weights, boolean merge) {
    for (Site s : sites) {
      float[] a = weights.read(s.a()); // (r, in)
      float[] b = weights.read(s.b()); // (out, r)
      int in = s.site().inFeatures();
      int out = s.site().outFeatures();
      float[] delta = new float[out * in]; // s·B·A, (out, in)
      LowRank.add(delta, false, out, in, b, null, a, s.rank(), s.scale());
      float[] after = mergedWeight(weights, s, delta, merge);
      weights.write(s.site().weight(), s.site().fanInFanOut() ? transpose(after, out, in) : after);
    }
  }

  /**
   * A tensor of W's shape as stored ((out, in), or (in, out) for fan_in_fan_out) in (out, in)
   * layout.
   *
   * @since 1.1
   */
  protected static float[] rows(float[] stored, Site site) {
    return site.site().fanInFanOut()
        ? transpose(stored, site.site().inFeatures(), site.site().outFeatures())
        : stored;
  }

  /** The transpose of a row-major (rows, cols) matrix. */
  private static float[] transpose(float[] m, int rows, int cols) {
    float[] t = new float[m.length];
    for (int r = 0; r < rows; r++) {
      for (int c = 0; c < cols; c++) {
        t[c * rows + r] = m[r * cols + c];
      }
    }
    return t;
  }
}
