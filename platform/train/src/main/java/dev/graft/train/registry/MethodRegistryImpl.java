package dev.graft.train.registry;

import dev.graft.api.FineTuningMethod;
import dev.graft.api.MethodInfo;
import dev.graft.api.MethodRegistry;
import java.util.Comparator;
import java.util.List;
import java.util.regex.Pattern;
import org.osgi.framework.ServiceReference;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.component.annotations.ReferenceCardinality;
import org.osgi.service.component.annotations.ReferencePolicy;
import org.osgi.service.component.annotations.ReferencePolicyOption;

/** Tracks {@link FineTuningMethod} services and keeps their names unique. */
@Component(service = MethodRegistry.class)
public final class MethodRegistryImpl implements MethodRegistry {
  private static final Pattern NAME = Pattern.compile("[a-z][a-z0-9-]*");

  private record Tracked(MethodInfo info, FineTuningMethod method, ServiceReference<?> ref) {}

  private final NamedServices<Tracked> services = new NamedServices<>();

  @Reference(
      cardinality = ReferenceCardinality.MULTIPLE,
      policy = ReferencePolicy.DYNAMIC,
      policyOption = ReferencePolicyOption.GREEDY)
  void addMethod(FineTuningMethod method, ServiceReference<FineTuningMethod> ref) {
    String name = Bundles.name(ref, FineTuningMethod.NAME);
    String bundle = Bundles.describe(ref);
    MethodInfo info = null;
    String problem = "";
    if (name == null || !NAME.matcher(name).matches()) {
      problem =
          "Its service property "
              + FineTuningMethod.NAME
              + " is "
              + (name == null ? "missing" : "\"" + name + "\"")
              + "; set it to a lower-case name such as \"lora\".";
    } else {
      try {
        info = method.info();
        if (!info.name().equals(name)) {
          problem =
              "Its service property says \""
                  + name
                  + "\" but info() says \""
                  + info.name()
                  + "\"; make them equal.";
        }
      } catch (RuntimeException e) {
        problem = "Its info() failed: " + e.getMessage();
      }
    }
    services.add(
        new NamedServices.Entry<>(
            Bundles.serviceId(ref), name, bundle, problem, new Tracked(info, method, ref)));
    services.rejected().stream()
        .filter(r -> r.serviceId() == Bundles.serviceId(ref))
        .forEach(
            r ->
                System.err.println(
                    "graft: method "
                        + (name == null ? "" : "\"" + name + "\" ")
                        + "from "
                        + bundle
                        + " is not in service. "
                        + r.problem()));
  }

  void removeMethod(ServiceReference<FineTuningMethod> ref) {
    services.remove(Bundles.serviceId(ref));
  }

  @Override
  public List<RegisteredMethod> methods() {
    return services.inService().stream()
        .map(
            e ->
                new RegisteredMethod(
                    e.value().info(),
                    e.value().ref().getBundle() == null
                        ? ""
                        : e.value().ref().getBundle().getSymbolicName(),
                    e.value().ref().getBundle() == null
                        ? ""
                        : e.value().ref().getBundle().getVersion().toString(),
                    Bundles.state(e.value().ref()),
                    e.value().method()))
        .sorted(Comparator.comparing(m -> m.info().name()))
        .toList();
  }

  @Override
  public List<Rejection> rejected() {
    return services.rejected().stream()
        .map(e -> new Rejection(e.name() == null ? "" : e.name(), e.bundle(), e.problem()))
        .toList();
  }
}
