package dev.graft.api.adapt;

import dev.graft.graph.GraphOps;
import dev.graft.graph.Tensor;
import org.osgi.annotation.versioning.ConsumerType;

/**
 * Replaces the output of a linear layer. For LoRA: {@code y = base + (alpha/r) · B(A(dropout(x)))}.
 */
@FunctionalInterface
@ConsumerType
public interface LinearRewrite {
  /**
   * Builds the new output.
   *
   * @param graph the graph to add ops to
   * @param input the layer input, shape (…, in)
   * @param base the layer's current output {@code x·Wᵀ + b}, shape (…, out); earlier rewrites of
   *     the same site are already applied
   * @param site the layer
   * @return the new output, shape (…, out)
   */
  Tensor apply(GraphOps graph, Tensor input, Tensor base, LinearSite site);
}
