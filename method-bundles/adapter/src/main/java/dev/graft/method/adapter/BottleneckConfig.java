package dev.graft.method.adapter;

import dev.graft.api.Options;
import java.util.ArrayList;
import java.util.List;

/**
 * A bottleneck adapter's settings, checked: AdapterHub's {@code DoubleSeqBnConfig} ("houlsby") or
 * {@code SeqBnConfig} ("pfeiffer") with the options Graft exposes.
 *
 * @param config {@code houlsby} (after attention and MLP) or {@code pfeiffer} (after the MLP only,
 *     reading the residual stream)
 * @param reductionFactor d / m, m the bottleneck width
 * @param nonLinearity swish, relu, gelu or tanh
 * @param initWeights bert, houlsby or mam_adapter
 * @param layers the blocks to adapt; empty: all
 * @param leaveOut the blocks not to adapt
 * @param trainLayerNorms whether the model's LayerNorm/RMSNorm weights train too
 */
record BottleneckConfig(
    String config,
    double reductionFactor,
    String nonLinearity,
    String initWeights,
    List<Integer> layers,
    List<Integer> leaveOut,
    boolean trainLayerNorms) {

  static BottleneckConfig of(Options o) {
    String config = o.getString("config");
    double factor = o.getDouble("reduction_factor");
    if (!(factor > 0) || factor > 1e6) {
      throw new IllegalArgumentException(
          "reduction_factor must be above 0 (d / bottleneck width; 16 as AdapterHub), not "
              + factor
              + ".");
    }
    String act =
        o.has("non_linearity")
            ? o.getString("non_linearity")
            : config.equals("pfeiffer") ? "relu" : "swish";
    return new BottleneckConfig(
        config,
        factor,
        act,
        o.getString("init_weights"),
        layers(o, "layers"),
        layers(o, "leave_out"),
        o.getBoolean("train_layer_norms"));
  }

  private static List<Integer> layers(Options o, String option) {
    List<Integer> layers = new ArrayList<>();
    for (String s : o.getList(option)) {
      try {
        int layer = Integer.parseInt(s);
        if (layer < 0) {
          throw new NumberFormatException();
        }
        layers.add(layer);
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException(
            option + " lists block indices (0, 1, …), not \"" + s + "\".");
      }
    }
    return List.copyOf(layers);
  }

  /** Whether block {@code layer} gets adapters. */
  boolean adapts(int layer) {
    return (layers.isEmpty() || layers.contains(layer)) && !leaveOut.contains(layer);
  }

  /** Whether an adapter sits after the attention (Houlsby's {@code mh_adapter}). */
  boolean afterAttention() {
    return config.equals("houlsby");
  }

  /**
   * The bottleneck width for model width d: AdapterHub's {@code int(d // reduction_factor)}, ≥ 1.
   */
  int bottleneck(int d) {
    return Math.max(1, (int) Math.floor(d / reductionFactor));
  }
}
