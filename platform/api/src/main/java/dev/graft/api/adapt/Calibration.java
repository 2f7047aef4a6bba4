package dev.graft.api.adapt;

import java.util.Map;
import org.osgi.annotation.versioning.ProviderType;

/**
 * The calibration phase a method asked for with {@link Adaptation#calibration}: the graph as the
 * warm-up steps left it, run over sample batches (LoRA-drop's importance pass).
 */
@ProviderType
public interface Calibration {
  /**
   * Runs the adapted forward pass over up to {@code batches} training batches (the first ones, in
   * training order) and returns, for every declared {@link Adaptation#output}, the mean over
   * batches of its squared L2 norm.
   *
   * @throws IllegalArgumentException if {@code batches} is not positive
   */
  Map<String, Double> meanSquaredNorms(int batches);
}
