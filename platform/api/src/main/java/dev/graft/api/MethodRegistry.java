package dev.graft.api;

import java.util.List;
import java.util.Optional;
import org.osgi.annotation.versioning.ProviderType;

/**
 * Tracks every {@link FineTuningMethod} service (whiteboard). Names are unique: a method whose name
 * is already in service is rejected (and listed in {@link #rejected()}); the first stays in
 * service. When the method in service goes away, the earliest rejected one of that name takes its
 * place.
 */
@ProviderType
public interface MethodRegistry {
  /** The methods in service, sorted by name. */
  List<RegisteredMethod> methods();

  /** The method in service with this name. */
  default Optional<RegisteredMethod> find(String name) {
    return methods().stream().filter(m -> m.info().name().equals(name)).findFirst();
  }

  /**
   * The method in service with this name.
   *
   * @throws IllegalArgumentException quoting the name and listing the installed methods
   */
  default RegisteredMethod require(String name) {
    return find(name)
        .orElseThrow(
            () ->
                new IllegalArgumentException(
                    Suggestions.unknown(
                        "method",
                        name,
                        methods().stream().map(m -> m.info().name()).toList(),
                        "Installed",
                        "See 'graft:methods'.")));
  }

  /** Method services that were turned away because their name was taken. */
  List<Rejection> rejected();

  /**
   * A method service in the registry.
   *
   * @param info what the method says about itself
   * @param bundle symbolic name of the bundle that registered it
   * @param version that bundle's version
   * @param state that bundle's state, e.g. "active"
   * @param method the service object
   */
  record RegisteredMethod(
      MethodInfo info, String bundle, String version, String state, FineTuningMethod method) {}

  /**
   * A method service that was turned away.
   *
   * @param name the name it asked for
   * @param bundle symbolic name and version of its bundle
   * @param reason one sentence saying why
   */
  record Rejection(String name, String bundle, String reason) {}
}
