package dev.graft.api.adapt;

import java.util.Map;
import org.osgi.annotation.versioning.ProviderType;

/** Runs the adapted model over sample batches before training (LoRA-drop's importance pass). */
@ProviderType
public interface Calibration {
  /**
   * Runs the adapted forward pass over up to {@code batches} sample batches and returns, for every
   * declared {@link Adaptation#output}, the mean over batches of its squared L2 norm.
   */
  Map<String, Double> meanSquaredNorms(int batches);
}
