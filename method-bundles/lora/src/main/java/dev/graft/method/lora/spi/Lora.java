package dev.graft.method.lora.spi;

import dev.graft.api.adapt.Adaptation;
import dev.graft.api.adapt.AdapterWriter;
import dev.graft.api.adapt.Init;
import dev.graft.api.adapt.LinearSite;
import dev.graft.api.adapt.MethodInstance;
import dev.graft.api.adapt.WeightEditor;
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
 * The adapter is PEFT's LoRA layout whatever the variant: {@code <module>.lora_A.weight} and {@code
 * <module>.lora_B.weight}, A included even when it did not train.
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
    for (LinearSite site : adaptation.linears(config.targets())) {
      int r = config.rankOf(site.module());
      double scale = config.scale(site.module());
      // B starts at zero: B·A = 0 at the start.
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
              Init.zeros(),
              true);
      adaptation.rewriteLinear(
          site,
          (g, x, base, s) -> {
            Tensor down = g.linear(adaptation.dropout(x, config.dropout()), a, null); // (…, r)
            Tensor up = g.linear(down, b, null); // (…, out)
            return g.add(base, g.mul(up, scale));
          });
      sites.add(new Site(site, r, scale, a.name(), b.name()));
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
    c.put("target_modules", targetModules());
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

  /** What PEFT writes as target_modules: a regex as given, else the suffixes actually adapted. */
  private Object targetModules() {
    if (config.targets().kind() == dev.graft.api.adapt.TargetSpec.Kind.REGEX) {
      return config.targetModules().get(0);
    }
    Set<String> suffixes = new java.util.TreeSet<>();
    sites.forEach(s -> suffixes.add(s.site().suffix()));
    return List.copyOf(suffixes);
  }

  /** PEFT keeps a targeted layer's own bias under {@code <module>.base_layer.bias}. */
  @Override
  public final void save(AdapterWriter writer) {
    Map<String, String> wrappedBiases = new LinkedHashMap<>();
    sites.stream()
        .filter(s -> s.site().bias() != null)
        .forEach(s -> wrappedBiases.put(s.site().bias(), s.site().module() + ".base_layer.bias"));
    for (String name : writer.tensors()) {
      writer.write(wrappedBiases.getOrDefault(name, name), writer.shape(name), writer.values(name));
    }
  }

  @Override
  public final boolean mergeable() {
    return true;
  }

  /** W += s · B·A, transposed for a weight stored (in, out) (GPT-2's Conv1D, fan_in_fan_out). */
  @Override
  public final void merge(WeightEditor weights) {
    add(weights, 1);
  }

  /** W -= s · B·A: the merged weights back to the base ones. */
  @Override
  public final void unmerge(WeightEditor weights) {
    add(weights, -1);
  }

  private void add(WeightEditor weights, int sign) {
    for (Site s : sites) {
      float[] a = weights.read(s.a()); // (r, in)
      float[] b = weights.read(s.b()); // (out, r)
      float[] w = weights.read(s.site().weight());
      int in = s.site().inFeatures();
      int out = s.site().outFeatures();
      for (int o = 0; o < out; o++) {
        for (int i = 0; i < in; i++) {
          double delta = 0;
          for (int k = 0; k < s.rank(); k++) {
            delta += (double) b[o * s.rank() + k] * a[k * in + i];
          }
          int index = s.site().fanInFanOut() ? i * out + o : o * in + i;
          w[index] = (float) (w[index] + sign * s.scale() * delta);
        }
      }
      weights.write(s.site().weight(), w);
    }
  }
}
