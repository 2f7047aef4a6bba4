package dev.graft.api.backend;

import java.util.List;
import java.util.Optional;
import org.osgi.annotation.versioning.ProviderType;

/**
 * Tracks every {@link ComputeBackend} service (whiteboard); names are unique, the first one wins.
 */
@ProviderType
public interface BackendRegistry {
  /** Every backend, available or not, sorted by name. */
  List<ComputeBackend> backends();

  /** The backend with this name. */
  Optional<ComputeBackend> find(String name);

  /**
   * The backend with this name, which must be available.
   *
   * @throws IllegalArgumentException quoting an unknown name and listing the backends, or giving
   *     the reason a known backend is unavailable
   */
  ComputeBackend requireAvailable(String name);
}
