package dev.graft.train.registry;

import dev.graft.api.FineTuningMethod;
import dev.graft.api.MethodRegistry;
import java.util.Comparator;
import java.util.List;

/**
 * A registry of a fixed list of methods, for running Graft's training outside a framework (tests,
 * plain Java). Names must be unique here; there is no bundle, so bundle and version read "none".
 */
public final class FixedMethodRegistry implements MethodRegistry {
  private final List<RegisteredMethod> methods;

  /**
   * @throws IllegalArgumentException when two methods share a name
   */
  public FixedMethodRegistry(List<FineTuningMethod> methods) {
    this.methods =
        methods.stream()
            .map(m -> new RegisteredMethod(m.info(), "none", "none", "active", m))
            .sorted(Comparator.comparing(m -> m.info().name()))
            .toList();
    if (this.methods.stream().map(m -> m.info().name()).distinct().count() != methods.size()) {
      throw new IllegalArgumentException("Two of the methods share a name.");
    }
  }

  @Override
  public List<RegisteredMethod> methods() {
    return methods;
  }

  @Override
  public List<Rejection> rejected() {
    return List.of();
  }
}
