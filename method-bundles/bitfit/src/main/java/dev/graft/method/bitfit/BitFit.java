package dev.graft.method.bitfit;

import dev.graft.api.adapt.Adaptation;
import dev.graft.api.adapt.Init;
import dev.graft.api.adapt.LinearSite;
import dev.graft.api.adapt.MethodInstance;
import dev.graft.api.adapt.TargetSpec;
import dev.graft.api.adapt.WeightEditor;
import dev.graft.graph.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * BitFit: {@code y = x·Wᵀ + b} with only b trained, W and every other weight frozen. The model's
 * own biases of the chosen linears (and, for {@code layer_norm}, GPT-2's LayerNorm biases) become
 * trainable; a chosen linear without a bias gets a zero one, {@code <module>.bias}, trained the
 * same way, so that the model starts as the base. The adapter holds each trained bias under the
 * model's own name ({@code model.layers.0.self_attn.q_proj.bias}), as PEFT's {@code bias="all"}
 * saves biases; merging writes them into the model, the added ones as new weights.
 */
final class BitFit implements MethodInstance {
  /** GPT-2's LayerNorm biases, BitFit's b_LN. */
  private static final Pattern NORM_BIASES = Pattern.compile(".*\\.ln_\\w+\\.bias");

  private final BitFitConfig config;

  /** The biases this method added, by name. */
  private final Set<String> added = new LinkedHashSet<>();

  BitFit(BitFitConfig config) {
    this.config = config;
  }

  @Override
  public void adapt(Adaptation adaptation) {
    added.clear();
    Set<String> trained = new LinkedHashSet<>();
    List<String> missing = new ArrayList<>();
    for (LinearSite site : adaptation.linears(TargetSpec.parse(List.of("all-linear")))) {
      Set<String> subsets = subsets(site);
      if (subsets.isEmpty() || !config.subsets().containsAll(subsets)) {
        if (subsets.stream().anyMatch(config.subsets()::contains)) {
          throw new IllegalArgumentException(
              site.module()
                  + " holds the "
                  + String.join(", ", subsets)
                  + " biases in one vector, which trains whole; choose them together.");
        }
        continue;
      }
      if (site.bias() != null) {
        trained.add(site.bias());
      } else if (config.addMissing()) {
        Tensor bias =
            adaptation.parameter(
                site.module(), "bias", new long[] {site.outFeatures()}, Init.zeros(), true);
        added.add(bias.name());
        adaptation.rewriteLinear(site, (g, x, y, s) -> g.add(y, bias)); // (…, out) + (out)
      } else {
        missing.add(site.module());
      }
    }
    if (config.subsets().contains("layer_norm")) {
      adaptation.parameters().stream()
          .filter(p -> NORM_BIASES.matcher(p).matches())
          .forEach(trained::add);
    }
    if (trained.isEmpty() && added.isEmpty()) {
      throw new IllegalArgumentException(
          "The model has no biases in "
              + String.join(", ", config.subsets())
              + " ("
              + (missing.isEmpty() ? "none of its layers has one" : missing.get(0) + " has none")
              + "); set bitfit.add_missing=true to add zero biases there.");
    }
    adaptation.setTrainable(trained::contains, true);
  }

  /**
   * The paper's subsets whose biases a linear layer holds: one for most, query, key and value
   * together for GPT-2's fused {@code c_attn}, none for the output head.
   */
  static Set<String> subsets(LinearSite site) {
    String m = site.module();
    Set<String> subsets = new LinkedHashSet<>();
    if (m.endsWith(".q_proj")) {
      subsets.add("query");
    } else if (m.endsWith(".k_proj")) {
      subsets.add("key");
    } else if (m.endsWith(".v_proj")) {
      subsets.add("value");
    } else if (m.endsWith(".attn.c_attn")) {
      subsets.addAll(List.of("query", "key", "value"));
    } else if (m.endsWith(".o_proj") || m.endsWith(".attn.c_proj")) {
      subsets.add("attn_out");
    } else if (m.endsWith(".gate_proj") || m.endsWith(".up_proj") || m.endsWith(".mlp.c_fc")) {
      subsets.add("mlp_in");
    } else if (m.endsWith(".down_proj") || m.endsWith(".mlp.c_proj")) {
      subsets.add("mlp_out");
    }
    return subsets;
  }

  /** PEFT's {@code bias} field when every bias trains, as its {@code bias="all"} saves them. */
  @Override
  public Map<String, Object> adapterConfig() {
    Map<String, Object> c = new LinkedHashMap<>();
    if (config.all()) {
      c.put("bias", "all");
    }
    return c;
  }

  /** Biases add to the output: the trained ones replace the model's, the added ones join it. */
  @Override
  public boolean mergeable() {
    return true;
  }

  /**
   * The model's own biases the adapter holds are written by the platform as they are; the biases
   * this method added become weights of the merged model (its config says they exist).
   */
  @Override
  public void merge(WeightEditor weights) {
    for (String bias : added) {
      weights.write(bias, weights.read(bias));
    }
  }

  @Override
  public void unmerge(WeightEditor weights) {
    throw new IllegalStateException(
        "BitFit's merge replaces the model's biases by the trained ones and keeps no originals, as"
            + " PEFT's bias=\"all\" does; use the base model folder instead of unmerging.");
  }
}
