package dev.graft.method.loradrop;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * The paper's selection: layer importances {@code I_i = g_i / Σ_j g_j}, {@code g_i = Σ ‖ΔW_i·x_i‖²}
 * over the sample batches; the layers in order of falling importance keep their own LoRA until
 * their importances add up to the ratio (the layer that crosses it included), the rest share one.
 *
 * @param importances block index → normalised importance, every measured block
 * @param kept the blocks that keep their own LoRA, ascending
 */
record LayerChoice(Map<Integer, Double> importances, List<Integer> kept) {
  /**
   * Chooses from raw per-block sums.
   *
   * @throws IllegalArgumentException when every importance is 0 (the warm-up left B at 0)
   */
  static LayerChoice of(Map<Integer, Double> sums, double ratio) {
    double total = sums.values().stream().mapToDouble(Double::doubleValue).sum();
    if (!(total > 0)) {
      throw new IllegalArgumentException(
          "LoRA-drop measured no LoRA output on any layer (every importance is 0); raise"
              + " lora_drop_warmup_steps or the learning rate.");
    }
    Map<Integer, Double> importances = new LinkedHashMap<>();
    sums.forEach((layer, g) -> importances.put(layer, g / total));
    List<Map.Entry<Integer, Double>> ranked = new ArrayList<>(importances.entrySet());
    ranked.sort(Map.Entry.<Integer, Double>comparingByValue(Comparator.reverseOrder()));
    TreeSet<Integer> kept = new TreeSet<>();
    double covered = 0;
    for (Map.Entry<Integer, Double> e : ranked) {
      if (covered >= ratio) {
        break;
      }
      kept.add(e.getKey());
      covered += e.getValue();
    }
    return new LayerChoice(importances, List.copyOf(kept));
  }

  /** One line for the job log: kept layers with their importances, then the shared ones. */
  String describe() {
    List<String> own = new ArrayList<>();
    List<String> shared = new ArrayList<>();
    importances.forEach(
        (layer, i) ->
            (kept.contains(layer) ? own : shared)
                .add(layer + " (" + String.format(java.util.Locale.ROOT, "%.3f", i) + ")"));
    return "LoRA-drop keeps its own LoRA on layers "
        + String.join(", ", own)
        + (shared.isEmpty() ? "" : "; layers " + String.join(", ", shared) + " share one")
        + ".";
  }
}
