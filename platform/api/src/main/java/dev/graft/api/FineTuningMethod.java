package dev.graft.api;

import dev.graft.api.adapt.MethodInstance;
import org.osgi.annotation.versioning.ConsumerType;

/**
 * A fine-tuning method, registered as an OSGi service by its bundle (whiteboard pattern).
 *
 * <p>The service must carry the property {@value #NAME} with the method's unique lower-case name
 * (for example {@code lora}); {@link MethodName} sets it from a DS component. The name in {@link
 * #info()} must equal the property. A method is stateless: every job gets its own {@link
 * MethodInstance} from {@link #create(Options)}.
 */
@ConsumerType
public interface FineTuningMethod {
  /** Service property: the method's unique lower-case name, such as {@code lora}. */
  String NAME = "graft.method.name";

  /** What the method is, for listings and for validating options. */
  MethodInfo info();

  /**
   * Configures the method for one job.
   *
   * @param options values already checked against {@link MethodInfo#options()}
   * @return the configured method, which adapts a model graph
   * @throws IllegalArgumentException if the options are inconsistent (for example {@code r} ≤ 0)
   */
  MethodInstance create(Options options);
}
