package dev.graft.method.lora.spi;

import dev.graft.api.Options;
import dev.graft.api.adapt.TargetSpec;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * LoRA's settings, checked: {@link #of} throws {@link IllegalArgumentException} naming the option
 * and what it allows.
 *
 * @param r the rank
 * @param alpha lora_alpha
 * @param dropout dropout probability on the LoRA input, in [0, 1)
 * @param rslora whether the scale is alpha / √r
 * @param targetModules target_modules as given
 * @param targets the parsed target selection
 * @param rankPattern per-module ranks, regex key → rank
 * @param alphaPattern per-module alphas, regex key → alpha
 * @param bias none, all or lora_only
 * @param init init_lora_weights: true or gaussian
 */
public record LoraConfig(
    int r,
    double alpha,
    double dropout,
    boolean rslora,
    List<String> targetModules,
    TargetSpec targets,
    Map<String, Integer> rankPattern,
    Map<String, Double> alphaPattern,
    String bias,
    String init) {
  /** Reads and checks the {@link LoraOptions#OPTIONS} of {@code o}. */
  public static LoraConfig of(Options o) {
    int r = o.getInt("r");
    if (r <= 0) {
      throw new IllegalArgumentException("LoRA rank r must be positive, not " + r + ".");
    }
    double dropout = o.getDouble("lora_dropout");
    if (dropout < 0 || dropout >= 1) {
      throw new IllegalArgumentException("lora_dropout must be in [0, 1), not " + dropout + ".");
    }
    List<Integer> layers =
        o.getList("layers_to_transform").stream()
            .map(s -> parseInt("layers_to_transform", s))
            .toList();
    Map<String, Integer> ranks = new LinkedHashMap<>();
    o.getMap("rank_pattern")
        .forEach(
            (k, v) -> {
              int rank = parseInt("rank_pattern", v);
              if (rank <= 0) {
                throw new IllegalArgumentException(
                    "rank_pattern " + k + "=" + v + ": a rank must be positive.");
              }
              ranks.put(k, rank);
            });
    Map<String, Double> alphas = new LinkedHashMap<>();
    o.getMap("alpha_pattern")
        .forEach(
            (k, v) -> {
              try {
                alphas.put(k, Double.parseDouble(v));
              } catch (NumberFormatException e) {
                throw new IllegalArgumentException(
                    "alpha_pattern " + k + "=" + v + ": the value must be a number.");
              }
            });
    TargetSpec targets =
        TargetSpec.parse(o.getList("target_modules"))
            .excluding(o.getList("exclude_modules"))
            .onLayers(layers);
    return new LoraConfig(
        r,
        o.getDouble("lora_alpha"),
        dropout,
        o.getBoolean("use_rslora"),
        o.getList("target_modules"),
        targets,
        ranks,
        alphas,
        o.getString("bias"),
        o.getString("init_lora_weights"));
  }

  private static int parseInt(String option, String text) {
    try {
      return Integer.parseInt(text.trim());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(option + ": \"" + text + "\" is not a whole number.");
    }
  }

  /** The rank for a module: the first rank_pattern key that matches it (PEFT's rule), else r. */
  public int rankOf(String module) {
    return patternValue(rankPattern, module, r);
  }

  /** The alpha for a module: the first alpha_pattern key that matches it, else lora_alpha. */
  public double alphaOf(String module) {
    return patternValue(alphaPattern, module, alpha);
  }

  /** PEFT matches a pattern key against the module path as {@code (.*\.)?(key)$}. */
  private static <T> T patternValue(Map<String, T> patterns, String module, T fallback) {
    for (Map.Entry<String, T> e : patterns.entrySet()) {
      if (Pattern.compile("(.*\\.)?(" + e.getKey() + ")$").matcher(module).matches()) {
        return e.getValue();
      }
    }
    return fallback;
  }

  /** The scale of the update: alpha/r, or alpha/sqrt(r) with rsLoRA (Kalajdzievski 2023). */
  public double scale(String module) {
    int rank = rankOf(module);
    return rslora ? alphaOf(module) / Math.sqrt(rank) : alphaOf(module) / rank;
  }
}
