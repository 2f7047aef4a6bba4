package dev.graft.method.lora;

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

/**
 * LoRA on the targeted linear layers: {@code y = W·x + b + s · B·A·dropout(x)} with A (r, in), B
 * (out, r) and {@code s = alpha / r} ({@code alpha / √r} with rsLoRA).
 */
final class Lora implements MethodInstance {
  /** One adapted layer. */
  private record Site(LinearSite site, int rank, double scale, String a, String b) {}

  private final LoraConfig config;
  private final List<Site> sites = new ArrayList<>();

  Lora(LoraConfig config) {
    this.config = config;
  }

  @Override
  public void adapt(Adaptation adaptation) {
    for (LinearSite site : adaptation.linears(config.targets())) {
      int r = config.rankOf(site.module());
      double scale = config.scale(site.module());
      // A as nn.Linear initialises its weight (Kaiming-uniform, a = √5), B zero: B·A = 0 at the
      // start.
      Init initA =
          config.init().equals("gaussian")
              ? Init.normal(1.0 / r)
              : Init.kaimingUniform(Math.sqrt(5));
      Tensor a =
          adaptation.parameter(
              site.module(), "lora_A.weight", new long[] {r, site.inFeatures()}, initA, true);
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
    switch (config.bias()) {
      case "all" -> adaptation.setTrainable(p -> p.endsWith(".bias"), true);
      case "lora_only" -> {
        Set<String> biases = new LinkedHashSet<>();
        sites.stream().map(s -> s.site().bias()).filter(b -> b != null).forEach(biases::add);
        adaptation.setTrainable(biases::contains, true);
      }
      default -> {}
    }
  }

  @Override
  public Map<String, Object> adapterConfig() {
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
  public void save(AdapterWriter writer) {
    Map<String, String> wrappedBiases = new LinkedHashMap<>();
    sites.stream()
        .filter(s -> s.site().bias() != null)
        .forEach(s -> wrappedBiases.put(s.site().bias(), s.site().module() + ".base_layer.bias"));
    for (String name : writer.tensors()) {
      writer.write(wrappedBiases.getOrDefault(name, name), writer.shape(name), writer.values(name));
    }
  }

  @Override
  public boolean mergeable() {
    return true;
  }

  /** W += s · B·A, transposed for a weight stored (in, out) (GPT-2's Conv1D, fan_in_fan_out). */
  @Override
  public void merge(WeightEditor weights) {
    add(weights, 1);
  }

  /** W -= s · B·A: the merged weights back to the base ones. */
  @Override
  public void unmerge(WeightEditor weights) {
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
