package dev.graft.example.ia3;

import dev.graft.api.Options;
import dev.graft.api.adapt.LinearSite;
import dev.graft.api.adapt.TargetSpec;
import java.util.List;
import java.util.regex.Pattern;

/**
 * (IA)³'s settings, checked.
 *
 * @param targetModules {@code target_modules} as given; empty for the architecture's default
 * @param feedforwardModules {@code feedforward_modules} as given; empty for the default
 * @param initOnes whether the vectors start at ones ({@code init_ia3_weights})
 */
record Ia3Config(List<String> targetModules, List<String> feedforwardModules, boolean initOnes) {
  /** PEFT's {@code TRANSFORMERS_MODELS_TO_IA3_*_MAPPING} for Llama, Mistral and Qwen2. */
  private static final List<String> LLAMA_TARGETS = List.of("k_proj", "v_proj", "down_proj");

  private static final List<String> LLAMA_FEEDFORWARD = List.of("down_proj");

  /** GPT-2's: the fused query-key-value projection and the MLP's Conv1D out projection. */
  private static final List<String> GPT2_TARGETS = List.of("c_attn", "mlp.c_proj");

  private static final List<String> GPT2_FEEDFORWARD = List.of("mlp.c_proj");

  static Ia3Config of(Options o) {
    return new Ia3Config(
        o.getList("target_modules"),
        o.getList("feedforward_modules"),
        o.getBoolean("init_ia3_weights"));
  }

  /** The {@code target_modules} in effect for a model of {@code architecture}. */
  List<String> targets(String architecture) {
    if (!targetModules.isEmpty()) {
      return targetModules;
    }
    return gpt2(architecture) ? GPT2_TARGETS : LLAMA_TARGETS;
  }

  /** The {@code feedforward_modules} in effect for a model of {@code architecture}. */
  List<String> feedforward(String architecture) {
    if (!feedforwardModules.isEmpty()) {
      return feedforwardModules;
    }
    return gpt2(architecture) ? GPT2_FEEDFORWARD : LLAMA_FEEDFORWARD;
  }

  /**
   * Whether {@code site} is a feedforward module: its path matches the single regex of {@code
   * patterns} whole, or ends with "." + one of them (PEFT's {@code
   * _check_target_module_feedforward}).
   */
  static boolean matches(List<String> patterns, LinearSite site) {
    TargetSpec spec = TargetSpec.parse(patterns);
    if (spec.kind() == TargetSpec.Kind.REGEX) {
      return Pattern.matches(patterns.get(0), site.module());
    }
    return patterns.stream()
        .anyMatch(p -> site.module().equals(p) || site.module().endsWith("." + p));
  }

  /** A list of patterns as PEFT's config holds it: one regex, or all-linear, as a string. */
  static Object asPeft(List<String> patterns) {
    TargetSpec.Kind kind = TargetSpec.parse(patterns).kind();
    return kind == TargetSpec.Kind.REGEX || kind == TargetSpec.Kind.ALL_LINEAR
        ? patterns.get(0)
        : patterns;
  }

  private static boolean gpt2(String architecture) {
    return architecture.startsWith("GPT2");
  }
}
