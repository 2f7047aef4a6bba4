package dev.graft.train.registry;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentSkipListMap;

/**
 * The services of one whiteboard, keyed by service id. Names are unique: among the services that
 * share a name, the one registered first (lowest service id) is in service and the others wait,
 * rejected; when it goes, the next takes over. Services with a problem (a missing or malformed
 * name) are never in service.
 *
 * @param <E> what is kept per service
 */
final class NamedServices<E> {
  /** One tracked service. {@code problem} is empty for a well-formed service. */
  record Entry<E>(long serviceId, String name, String bundle, String problem, E value) {}

  private final Map<Long, Entry<E>> entries = new ConcurrentSkipListMap<>();

  void add(Entry<E> entry) {
    entries.put(entry.serviceId(), entry);
  }

  void remove(long serviceId) {
    entries.remove(serviceId);
  }

  /** The services in service: the first well-formed one of each name, in registration order. */
  List<Entry<E>> inService() {
    List<Entry<E>> winners = new ArrayList<>();
    Set<String> taken = new HashSet<>();
    for (Entry<E> e : entries.values()) {
      if (e.problem().isEmpty() && taken.add(e.name())) {
        winners.add(e);
      }
    }
    return winners;
  }

  /** Every service that is not in service, with the reason as its problem. */
  List<Entry<E>> rejected() {
    List<Entry<E>> losers = new ArrayList<>();
    Map<String, Entry<E>> first = new java.util.HashMap<>();
    for (Entry<E> e : entries.values()) {
      if (!e.problem().isEmpty()) {
        losers.add(e);
      } else if (first.putIfAbsent(e.name(), e) != null) {
        Entry<E> holder = first.get(e.name());
        losers.add(
            new Entry<>(
                e.serviceId(),
                e.name(),
                e.bundle(),
                "The name \""
                    + e.name()
                    + "\" is taken by "
                    + holder.bundle()
                    + "; uninstall one of the two bundles or rename one method.",
                e.value()));
      }
    }
    return losers;
  }
}
