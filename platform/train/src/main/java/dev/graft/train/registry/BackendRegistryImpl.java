package dev.graft.train.registry;

import dev.graft.api.Suggestions;
import dev.graft.api.backend.Availability;
import dev.graft.api.backend.BackendRegistry;
import dev.graft.api.backend.ComputeBackend;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import org.osgi.framework.ServiceReference;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.component.annotations.ReferenceCardinality;
import org.osgi.service.component.annotations.ReferencePolicy;
import org.osgi.service.component.annotations.ReferencePolicyOption;

/** Tracks {@link ComputeBackend} services; the first backend of a name wins. */
@Component(service = BackendRegistry.class)
public final class BackendRegistryImpl implements BackendRegistry {
  private final NamedServices<ComputeBackend> services = new NamedServices<>();

  @Reference(
      cardinality = ReferenceCardinality.MULTIPLE,
      policy = ReferencePolicy.DYNAMIC,
      policyOption = ReferencePolicyOption.GREEDY)
  void addBackend(ComputeBackend backend, ServiceReference<ComputeBackend> ref) {
    String name = Bundles.name(ref, ComputeBackend.NAME);
    String problem =
        name == null || !name.equals(backend.name())
            ? "Its service property "
                + ComputeBackend.NAME
                + " must equal its name() \""
                + backend.name()
                + "\"."
            : "";
    services.add(
        new NamedServices.Entry<>(
            Bundles.serviceId(ref), name, Bundles.describe(ref), problem, backend));
  }

  void removeBackend(ServiceReference<ComputeBackend> ref) {
    services.remove(Bundles.serviceId(ref));
  }

  @Override
  public List<ComputeBackend> backends() {
    return services.inService().stream()
        .map(NamedServices.Entry::value)
        .sorted(Comparator.comparing(ComputeBackend::name))
        .toList();
  }

  @Override
  public Optional<ComputeBackend> find(String name) {
    return backends().stream().filter(b -> b.name().equals(name)).findFirst();
  }

  @Override
  public ComputeBackend requireAvailable(String name) {
    ComputeBackend backend =
        find(name)
            .orElseThrow(
                () ->
                    new IllegalArgumentException(
                        Suggestions.unknown(
                            "backend",
                            name,
                            backends().stream().map(ComputeBackend::name).toList(),
                            "Installed",
                            "See 'graft:backends'.")));
    Availability availability = backend.availability();
    if (!availability.available()) {
      throw new IllegalArgumentException(
          "Backend \"" + name + "\" is unavailable: " + availability.reason());
    }
    return backend;
  }
}
