package dev.graft.api.adapt;

import java.util.Collection;
import java.util.List;
import java.util.Objects;
import java.util.TreeSet;

/**
 * Which linear layers a method targets, as PEFT's {@code target_modules}, {@code exclude_modules}
 * and {@code layers_to_transform} say it.
 *
 * @param kind how {@code patterns} are read
 * @param patterns module names, suffixes or one regular expression
 * @param exclude suffixes or full module names never targeted
 * @param layers block indices to transform; empty for all
 */
public record TargetSpec(
    Kind kind, List<String> patterns, List<String> exclude, List<Integer> layers) {
  /** How target patterns match a module path. */
  public enum Kind {
    /**
     * A module matches when its path equals a pattern or ends with "." + pattern (PEFT's list
     * form).
     */
    SUFFIXES,
    /** A module matches when the single pattern matches its whole path (PEFT's string form). */
    REGEX,
    /** Every linear layer except the output head (PEFT's {@code all-linear}). */
    ALL_LINEAR,
    /** PEFT's default targets for the architecture. */
    DEFAULT
  }

  /** Copies the lists and checks that a regex spec has exactly one pattern. */
  public TargetSpec {
    Objects.requireNonNull(kind, "kind");
    patterns = List.copyOf(patterns);
    exclude = List.copyOf(exclude);
    layers = List.copyOf(layers);
    if (kind == Kind.REGEX && patterns.size() != 1) {
      throw new IllegalArgumentException(
          "A regex target needs exactly one pattern, got " + patterns + ".");
    }
  }

  /**
   * Reads PEFT's {@code target_modules} value: {@code all-linear}, empty for the architecture's
   * defaults, a single string with regex characters, or a list of names and suffixes.
   */
  public static TargetSpec parse(List<String> targetModules) {
    if (targetModules.isEmpty()) {
      return new TargetSpec(Kind.DEFAULT, List.of(), List.of(), List.of());
    }
    if (targetModules.size() == 1 && targetModules.get(0).equals("all-linear")) {
      return new TargetSpec(Kind.ALL_LINEAR, List.of(), List.of(), List.of());
    }
    if (targetModules.size() == 1 && targetModules.get(0).matches(".*[\\\\^$*+?()\\[\\]{}|].*")) {
      return new TargetSpec(Kind.REGEX, targetModules, List.of(), List.of());
    }
    return new TargetSpec(Kind.SUFFIXES, targetModules, List.of(), List.of());
  }

  /** This spec with modules to exclude. */
  public TargetSpec excluding(List<String> modules) {
    return new TargetSpec(kind, patterns, modules, layers);
  }

  /** This spec limited to some block indices. */
  public TargetSpec onLayers(List<Integer> indices) {
    return new TargetSpec(kind, patterns, exclude, indices);
  }

  /**
   * What PEFT's saved {@code adapter_config.json} holds as {@code target_modules} for a method that
   * adapted {@code adapted} by this spec: the regex as given, else the suffixes of the adapted
   * modules, sorted (PEFT writes {@code all-linear} and its defaults out as those names).
   *
   * @since 2.4
   */
  public Object savedTargetModules(Collection<LinearSite> adapted) {
    if (kind == Kind.REGEX) {
      return patterns.get(0);
    }
    return List.copyOf(new TreeSet<>(adapted.stream().map(LinearSite::suffix).toList()));
  }
}
