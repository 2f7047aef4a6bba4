package dev.graft.api.adapt;

import java.util.List;
import org.osgi.annotation.versioning.ProviderType;

/** Receives the tensors of a saved adapter; the platform writes the safetensors file atomically. */
@ProviderType
public interface AdapterWriter {
  /** Names of the trained parameters, in declaration order. */
  List<String> trainables();

  /** The shape of a parameter. */
  long[] shape(String parameter);

  /** The trained values of a parameter, row-major. */
  float[] values(String parameter);

  /**
   * Adds one tensor to the adapter file; the platform maps Graft names to PEFT key names.
   *
   * @throws IllegalArgumentException if the name is written twice or the size does not match
   */
  void write(String name, long[] shape, float[] values);
}
