package dev.graft.train.job;

import dev.graft.api.FineTuningMethod;
import dev.graft.api.MethodFamily;
import dev.graft.api.MethodInfo;
import dev.graft.api.MethodRegistry;
import dev.graft.api.OptionDescriptor;
import dev.graft.api.OptionType;
import dev.graft.api.Options;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * A checked job specification: the job keys with defaults filled in, and each method's options.
 *
 * @param job the job keys ({@link JobKeys})
 * @param methods method name to its options, in the order the job lists the methods
 */
public record JobSpec(Options job, Map<String, Options> methods) {
  /** The job keys whose values are maps: also given as {@code key.field=value}, one per field. */
  private static final Set<String> MAP_KEYS =
      JobKeys.ALL.stream()
          .filter(o -> o.type() == OptionType.MAP)
          .map(OptionDescriptor::name)
          .collect(Collectors.toUnmodifiableSet());

  /**
   * Checks raw key/value pairs, as read by {@link JobFiles} or typed in the shell.
   *
   * @param raw job keys and {@code <method>.<option>} keys; a map key may come as {@code
   *     data_columns=prompt=question,completion=answer} or, as a YAML or JSON map flattens, as
   *     {@code data_columns.prompt=question} and {@code data_columns.completion=answer}
   * @param registry the installed methods
   * @throws IllegalArgumentException for an unknown key (naming the nearest known one), a bad
   *     value, a missing required key, or an unknown method
   */
  public static JobSpec parse(Map<String, String> raw, MethodRegistry registry) {
    Map<String, String> jobKeys = new LinkedHashMap<>();
    Map<String, Map<String, String>> methodKeys = new LinkedHashMap<>();
    for (Map.Entry<String, String> e : raw.entrySet()) {
      String key = e.getKey().trim();
      int dot = key.indexOf('.');
      if (dot < 0) {
        jobKeys.put(key, e.getValue());
      } else if (MAP_KEYS.contains(key.substring(0, dot))) {
        // A map written as one (data_columns: {prompt: question}) reaches here flattened.
        String pair = key.substring(dot + 1) + "=" + e.getValue();
        jobKeys.merge(key.substring(0, dot), pair, (a, b) -> a.isBlank() ? b : a + "," + b);
      } else {
        methodKeys
            .computeIfAbsent(key.substring(0, dot), k -> new LinkedHashMap<>())
            .put(key.substring(dot + 1), e.getValue());
      }
    }
    Options job =
        Options.parse(
            "job", JobKeys.ALL, jobKeys, "job key", "Job keys", "See 'graft:help graft:train'.");
    for (String required : List.of("model", "method", "data")) {
      if (!job.has(required) || (required.equals("method") && job.getList("method").isEmpty())) {
        throw new IllegalArgumentException(
            "The job has no \"" + required + "\"; set it, e.g. " + example(required) + ".");
      }
    }
    JobRanges.check(job);
    List<String> names = withCompanions(job.getList("method"), registry);
    for (String prefix : methodKeys.keySet()) {
      if (!names.contains(prefix)) {
        throw new IllegalArgumentException(
            "Key \""
                + prefix
                + "."
                + methodKeys.get(prefix).keySet().iterator().next()
                + "\" sets an option of \""
                + prefix
                + "\", which is not among this job's methods ("
                + String.join(", ", names)
                + ").");
      }
    }
    Map<String, Options> methods = new LinkedHashMap<>();
    Map<MethodFamily, String> exclusive = new EnumMap<>(MethodFamily.class);
    for (String name : names) {
      MethodInfo info = registry.require(name).info();
      if (methods.containsKey(name)) {
        throw new IllegalArgumentException(
            "The job lists method \"" + name + "\" twice; name each method once.");
      }
      String other = EXCLUSIVE.contains(info.family()) ? exclusive.put(info.family(), name) : null;
      if (other != null) {
        throw new IllegalArgumentException(
            "Methods \""
                + other
                + "\" and \""
                + name
                + "\" are both "
                + info.family().label()
                + " methods, and a job takes one of those; choose one of them.");
      }
      methods.put(name, Options.parse(info, methodKeys.getOrDefault(name, Map.of())));
    }
    return new JobSpec(job, methods);
  }

  /**
   * The job's methods with the companion of each method that names one ({@link
   * FineTuningMethod#companion()}) added right after it, when no listed method trains: {@code
   * qlora} is {@code qlora,lora}, {@code qlora,instruction-tuning} is {@code
   * qlora,lora,instruction-tuning}, {@code qlora,dora} stays.
   */
  private static List<String> withCompanions(List<String> names, MethodRegistry registry) {
    boolean trains =
        names.stream()
            .map(n -> registry.require(n).method())
            .anyMatch(m -> m.companion().isEmpty() && m.info().family() != MethodFamily.OBJECTIVE);
    if (trains) {
      return names;
    }
    List<String> all = new ArrayList<>();
    for (String name : names) {
      all.add(name);
      registry.require(name).method().companion().filter(c -> !all.contains(c)).ifPresent(all::add);
    }
    return all;
  }

  /**
   * Families of which a job may use one method: two prompt methods would both claim the positions
   * before the text (PEFT, too, gives a model one prompt-learning config).
   */
  private static final Set<MethodFamily> EXCLUSIVE = Set.of(MethodFamily.PROMPT);

  private static String example(String key) {
    return switch (key) {
      case "model" -> "model=/models/Llama-3.2-1B";
      case "method" -> "method=lora";
      default -> "data=train.jsonl";
    };
  }
}
