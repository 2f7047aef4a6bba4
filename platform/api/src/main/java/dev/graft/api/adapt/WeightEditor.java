package dev.graft.api.adapt;

import org.osgi.annotation.versioning.ProviderType;

/** Reads and overwrites base weights while an adapter is merged into them. */
@ProviderType
public interface WeightEditor {
  /** Current values, row-major. */
  float[] read(String parameter);

  /** The shape of a base weight or a trained parameter. */
  long[] shape(String parameter);

  /** Replaces the values; the shape stays. */
  void write(String parameter, float[] values);
}
