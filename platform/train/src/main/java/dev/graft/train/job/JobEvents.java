package dev.graft.train.job;

import java.util.Map;

/** Where a job's progress goes: OSGi Event Admin in the framework, a list in tests. */
@FunctionalInterface
public interface JobEvents {
  /** Topic prefix of every job event; the suffix is the state or {@code PROGRESS}. */
  String TOPIC = "dev/graft/job/";

  void publish(String topic, Map<String, Object> properties);
}
