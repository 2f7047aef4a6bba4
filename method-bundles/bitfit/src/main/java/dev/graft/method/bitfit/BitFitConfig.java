package dev.graft.method.bitfit;

import dev.graft.api.Options;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * BitFit's settings, checked.
 *
 * @param subsets the bias subsets that train, in {@link #SUBSETS}' order ({@code all} expanded)
 * @param addMissing whether chosen linears without a bias get a zero one
 */
record BitFitConfig(List<String> subsets, boolean addMissing) {
  /** The subsets, in the paper's order. */
  static final List<String> SUBSETS =
      List.of("query", "key", "value", "attn_out", "mlp_in", "mlp_out", "layer_norm");

  static BitFitConfig of(Options o) {
    Set<String> subsets = new LinkedHashSet<>();
    for (String s : o.getList("biases")) {
      if (s.equals("all")) {
        subsets.addAll(SUBSETS);
      } else if (SUBSETS.contains(s)) {
        subsets.add(s);
      } else {
        throw new IllegalArgumentException(
            "biases cannot name \""
                + s
                + "\"; use all or some of "
                + String.join(", ", SUBSETS)
                + ".");
      }
    }
    if (subsets.isEmpty()) {
      throw new IllegalArgumentException(
          "biases names no bias; use all or some of " + String.join(", ", SUBSETS) + ".");
    }
    return new BitFitConfig(
        SUBSETS.stream().filter(subsets::contains).toList(), o.getBoolean("add_missing"));
  }

  /** Whether every subset is chosen, as PEFT's {@code bias="all"} trains every bias. */
  boolean all() {
    return subsets.containsAll(SUBSETS);
  }
}
