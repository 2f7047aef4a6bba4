package dev.graft.train.registry;

import org.osgi.framework.Bundle;
import org.osgi.framework.ServiceReference;

/** How the registries name the bundle behind a service reference. */
final class Bundles {
  private Bundles() {}

  /** {@code symbolic.name version}, or "an unregistered service" once the service is gone. */
  static String describe(ServiceReference<?> ref) {
    Bundle b = ref.getBundle();
    return b == null ? "an unregistered service" : b.getSymbolicName() + " " + b.getVersion();
  }

  /** The bundle state in lower case, e.g. "active". */
  static String state(ServiceReference<?> ref) {
    Bundle b = ref.getBundle();
    if (b == null) {
      return "uninstalled";
    }
    return switch (b.getState()) {
      case Bundle.ACTIVE -> "active";
      case Bundle.STARTING -> "starting";
      case Bundle.STOPPING -> "stopping";
      case Bundle.RESOLVED -> "resolved";
      case Bundle.INSTALLED -> "installed";
      default -> "uninstalled";
    };
  }

  static long serviceId(ServiceReference<?> ref) {
    return (Long) ref.getProperty(org.osgi.framework.Constants.SERVICE_ID);
  }

  /** The service's string name property, or null when absent or not a string. */
  static String name(ServiceReference<?> ref, String property) {
    Object value = ref.getProperty(property);
    return value instanceof String s ? s : null;
  }
}
