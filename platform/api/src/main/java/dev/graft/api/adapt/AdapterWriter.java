package dev.graft.api.adapt;

import java.util.List;
import org.osgi.annotation.versioning.ProviderType;

/**
 * Receives the tensors of a saved adapter, one method at a time; the platform writes the
 * safetensors file atomically.
 *
 * <p>Each method sees its own tensors: the parameters it declared through {@link
 * Adaptation#parameter} (trainable or frozen) and the model's own parameters it made trainable
 * through {@link Adaptation#setTrainable} (a tensor that two methods claim belongs to the first).
 * What no method writes and still trained (the base weights under full fine-tuning) the platform
 * saves as a model folder beside the adapter, so nothing trained is lost.
 */
@ProviderType
public interface AdapterWriter {
  /**
   * The tensors of the method being saved, in declaration order: the parameters it declared,
   * trainable or frozen (with the values they were given), and the model's own parameters it made
   * trainable. {@link MethodInstance#save} writes these by default.
   */
  List<String> tensors();

  /** The trainable ones among {@link #tensors()}, in the same order. */
  List<String> trainables();

  /** The shape of a parameter. */
  long[] shape(String parameter);

  /** The values of a parameter after training (a frozen one's as declared), row-major. */
  float[] values(String parameter);

  /**
   * Adds one tensor to the adapter file; the platform maps Graft names to PEFT key names when the
   * adapter has a {@code peft_type}, and keeps them as they are otherwise.
   *
   * @throws IllegalArgumentException if the name is written twice or the size does not match
   */
  void write(String name, long[] shape, float[] values);
}
