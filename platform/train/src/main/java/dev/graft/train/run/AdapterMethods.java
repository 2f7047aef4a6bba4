package dev.graft.train.run;

import com.fasterxml.jackson.databind.JsonNode;
import dev.graft.api.MethodInfo;
import dev.graft.api.MethodRegistry;
import dev.graft.api.OptionDescriptor;
import dev.graft.api.Options;
import dev.graft.api.adapt.MethodInstance;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Which methods made an adapter, recorded in its {@code adapter_config.json} and read back.
 *
 * <p>Graft writes {@value #FIELD}: the job's methods in the order they adapted the model, each as
 * {@code {"name": "lora", "version": "0.1.0", "options": {"r": 4, …}}} (the bundle version that
 * saved it and every option that has a value). PEFT ignores the field. Loading configures every
 * listed method from its saved options and lets them adapt the model in that order.
 *
 * <p>An adapter made by PEFT has no {@value #FIELD}; its method follows from {@code peft_type} and
 * flags ({@code LORA} with {@code use_dora: true} is {@code dora}, with {@code init_lora_weights:
 * "pissa"} {@code pissa}; {@code ADALORA} is {@code adalora}, {@code PREFIX_TUNING} {@code
 * prefix-tuning}), configured from the config fields that carry its option names.
 */
final class AdapterMethods {
  /** The field of {@code adapter_config.json} that lists the methods. */
  static final String FIELD = "graft_methods";

  private AdapterMethods() {}

  /** A method configured as an adapter was saved with. */
  record Resolved(String name, MethodInstance instance) {}

  /** The {@value #FIELD} entry of one method of a job. */
  static Map<String, Object> entry(MethodRegistry.RegisteredMethod method, Options options) {
    Map<String, Object> given = new LinkedHashMap<>();
    options
        .asMap()
        .forEach(
            (k, v) -> {
              if (v != null) {
                given.put(k, v);
              }
            });
    Map<String, Object> entry = new LinkedHashMap<>();
    entry.put("name", method.info().name());
    entry.put("version", method.version());
    entry.put("options", given);
    return entry;
  }

  /**
   * The methods that made the adapter whose {@code adapter_config.json} is {@code config}, each
   * configured as it was saved.
   *
   * @param file the config file, for messages
   * @throws IllegalArgumentException naming the method and what to install when a method is not
   *     installed, or when the config names no method at all
   */
  static List<Resolved> resolve(Path file, JsonNode config, MethodRegistry registry) {
    JsonNode listed = config.get(FIELD);
    if (listed == null || listed.isNull()) {
      return List.of(fromPeft(file, config, registry));
    }
    if (!listed.isArray() || listed.isEmpty()) {
      throw new IllegalArgumentException(
          file + ": \"" + FIELD + "\" must be a non-empty list of {name, version, options}.");
    }
    List<Resolved> methods = new ArrayList<>();
    for (JsonNode m : listed) {
      String name = m.path("name").asText("");
      if (name.isEmpty()) {
        throw new IllegalArgumentException(
            file + ": an entry of \"" + FIELD + "\" has no name: " + m + ".");
      }
      String made = "method \"" + name + "\" " + m.path("version").asText("(no version)");
      MethodRegistry.RegisteredMethod found = installed(file, made, name, registry);
      Map<String, String> options = new LinkedHashMap<>();
      m.path("options").fields().forEachRemaining(e -> options.put(e.getKey(), text(e.getValue())));
      methods.add(new Resolved(name, create(file, found, options)));
    }
    return methods;
  }

  /** The one method a PEFT-made adapter names, configured from the config's fields. */
  private static Resolved fromPeft(Path file, JsonNode config, MethodRegistry registry) {
    String peftType = config.path("peft_type").asText("");
    if (peftType.isEmpty()) {
      throw new IllegalArgumentException(
          file + " names no method: it has neither \"" + FIELD + "\" nor \"peft_type\".");
    }
    String name = peftMethod(config);
    String made = "peft_type " + peftType + (flag(config).isEmpty() ? "" : " with " + flag(config));
    MethodRegistry.RegisteredMethod found = installed(file, made, name, registry);
    Map<String, String> options = new LinkedHashMap<>();
    for (OptionDescriptor o : found.info().options()) {
      JsonNode v = config.get(o.name());
      if (v != null && !v.isNull()) {
        options.put(o.name(), text(v));
      }
    }
    if (name.equals("pissa")) {
      // PEFT marks only the unconverted form pissa: A and B apply to the residual of W's SVD.
      options.put("pissa_convert", "false");
    }
    return new Resolved(name, create(file, found, options));
  }

  /**
   * The Graft method that loads a PEFT adapter: the lower-cased {@code peft_type} with hyphens,
   * except for LoRA variants that PEFT marks with a flag.
   */
  static String peftMethod(JsonNode config) {
    String peftType = config.path("peft_type").asText("");
    if (peftType.equals("LORA")) {
      String init = config.path("init_lora_weights").asText("");
      if (config.path("use_dora").asBoolean(false)) {
        return "dora";
      }
      if (init.startsWith("pissa")) {
        return "pissa"; // the adapter applies to the residual W - B0·A0, not to W
      }
      return "lora";
    }
    return peftType.toLowerCase(Locale.ROOT).replace('_', '-');
  }

  /** The flag that made {@link #peftMethod} choose a LoRA variant, or empty. */
  private static String flag(JsonNode config) {
    return switch (peftMethod(config)) {
      case "dora" -> "use_dora: true";
      case "pissa" -> "init_lora_weights: " + config.path("init_lora_weights").asText();
      default -> "";
    };
  }

  private static MethodRegistry.RegisteredMethod installed(
      Path file, String made, String name, MethodRegistry registry) {
    return registry
        .find(name)
        .orElseThrow(
            () ->
                new IllegalArgumentException(
                    file
                        + " was made with "
                        + made
                        + ", which Graft's method \""
                        + name
                        + "\" loads; it is not installed (installed: "
                        + String.join(
                            ", ", registry.methods().stream().map(m -> m.info().name()).toList())
                        + "). Install the bundle that provides \""
                        + name
                        + "\" and see 'graft:methods'."));
  }

  private static MethodInstance create(
      Path file, MethodRegistry.RegisteredMethod method, Map<String, String> options) {
    MethodInfo info = method.info();
    try {
      return method.method().create(Options.parse(info, options));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(
          file + ": the options of method \"" + info.name() + "\" do not fit: " + e.getMessage(),
          e);
    }
  }

  /**
   * JSON as option text: lists comma-joined, maps as key=value pairs, booleans and numbers as
   * written.
   */
  private static String text(JsonNode v) {
    if (v.isArray()) {
      List<String> items = new ArrayList<>();
      v.forEach(i -> items.add(i.asText()));
      return String.join(",", items);
    }
    if (v.isObject()) {
      List<String> pairs = new ArrayList<>();
      for (Iterator<Map.Entry<String, JsonNode>> it = v.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> e = it.next();
        pairs.add(e.getKey() + "=" + e.getValue().asText());
      }
      return String.join(",", pairs);
    }
    return v.asText();
  }
}
