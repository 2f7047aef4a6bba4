package dev.graft.train.job;

import java.util.Map;

/** Where a job's progress goes: OSGi Event Admin in the framework, a list in tests. */
@FunctionalInterface
public interface JobEvents {
  /**
   * Topic prefix of every job event; the suffix is the state, {@code PROGRESS} (a step, with its
   * metrics) or {@code NOTE} (a sentence about the run in the property {@code note}).
   */
  String TOPIC = "dev/graft/job/";

  void publish(String topic, Map<String, Object> properties);
}
