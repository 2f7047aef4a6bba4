package dev.graft.train.service;

import dev.graft.api.train.Job;
import dev.graft.api.train.TrainingService;
import java.lang.reflect.Array;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ConfigurationPolicy;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;

/**
 * A training job per ConfigAdmin factory configuration of PID {@value #FACTORY_PID}: its properties
 * are the job keys (as in a job file). FileInstall turns a {@code deploy/dev.graft.job-<name>.cfg}
 * file into such a configuration, so dropping a job file there starts the job. Deleting the
 * configuration cancels the job (with a checkpoint).
 */
@Component(
    configurationPid = ConfiguredJob.FACTORY_PID,
    configurationPolicy = ConfigurationPolicy.REQUIRE,
    service = {})
public final class ConfiguredJob {
  /** The factory PID of job configurations. */
  public static final String FACTORY_PID = "dev.graft.job";

  /** Properties that ConfigAdmin, DS and FileInstall add (besides {@code osgi.*}); not job keys. */
  private static final Set<String> FRAMEWORK_KEYS =
      Set.of(
          "service.pid",
          "service.factoryPid",
          "service.bundleLocation",
          "component.name",
          "component.id",
          "felix.fileinstall.filename");

  @Reference TrainingService training;

  private Job job;

  @Activate
  void activate(Map<String, Object> properties) {
    Map<String, String> spec = new LinkedHashMap<>();
    properties.forEach(
        (key, value) -> {
          if (!FRAMEWORK_KEYS.contains(key) && !key.startsWith("osgi.")) {
            spec.put(key, text(value));
          }
        });
    try {
      job = training.submit(spec);
    } catch (IllegalArgumentException | IllegalStateException e) {
      System.err.println(
          "graft: job configuration "
              + properties.get("service.pid")
              + " was not started: "
              + e.getMessage());
    }
  }

  @Deactivate
  void deactivate() {
    if (job != null && !job.status().state().isFinal()) {
      job.cancel();
    }
  }

  /** A configuration value as job-key text: arrays and collections comma-joined. */
  private static String text(Object value) {
    if (value != null && value.getClass().isArray()) {
      StringBuilder joined = new StringBuilder();
      for (int i = 0; i < Array.getLength(value); i++) {
        joined.append(i == 0 ? "" : ",").append(Array.get(value, i));
      }
      return joined.toString();
    }
    if (value instanceof Iterable<?> items) {
      return String.join(
          ",",
          java.util.stream.StreamSupport.stream(items.spliterator(), false)
              .map(String::valueOf)
              .toList());
    }
    return String.valueOf(value);
  }
}
