package dev.graft.api;

import dev.graft.api.adapt.MethodInstance;
import java.util.Optional;
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

  /**
   * The method a job adds after this one when the job lists no method that trains: a method that
   * only changes how the base model is held (QLoRA quantises it) names the method that trains on
   * top ({@code lora}), so that {@code method=qlora} means {@code method=qlora,lora}. A method
   * trains unless it is of the {@link MethodFamily#OBJECTIVE} family or names a companion itself.
   * The default, for methods that train: none.
   *
   * @since 1.2
   */
  default Optional<String> companion() {
    return Optional.empty();
  }
}
