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

  /**
   * Writes one line to the job's log (LoRA-drop's chosen layers and their importances). A replayed
   * calibration (a resumed job, a loaded adapter) logs nothing. The default does nothing.
   *
   * @since 2.2
   */
  default void log(String line) {}
}
