package dev.graft.api;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * Option values for one method, parsed and checked against its {@link MethodInfo#options()}.
 * Options not given take their declared default.
 */
public final class Options {
  private final String owner;
  private final Map<String, Object> values;

  private Options(String owner, Map<String, Object> values) {
    this.owner = owner;
    this.values = values;
  }

  /**
   * Parses a method's options as a user gave them.
   *
   * @param info the method whose options these are
   * @param given option name to text, as typed by a user or read from a job file
   * @throws IllegalArgumentException naming the option and the nearest known one for an unknown
   *     name, or naming the option, the value and the expected type for a bad value
   */
  public static Options parse(MethodInfo info, Map<String, String> given) {
    return parse(
        info.name(),
        info.options(),
        given,
        "option",
        "Method " + info.name() + " accepts",
        "See 'graft:method " + info.name() + "'.");
  }

  /**
   * Parses settings against any list of descriptors (a method's options, a job's keys).
   *
   * @param owner what the settings belong to, e.g. a method name or "job"
   * @param declared every setting that exists, with its default
   * @param given setting name to text
   * @param kind the word for one setting in messages, e.g. "option" or "job key"
   * @param listLabel the words before the list of known settings in messages
   * @param hint the closing advice of messages, or empty
   */
  public static Options parse(
      String owner,
      List<OptionDescriptor> declared,
      Map<String, String> given,
      String kind,
      String listLabel,
      String hint) {
    List<String> known = declared.stream().map(OptionDescriptor::name).toList();
    for (String key : given.keySet()) {
      if (!known.contains(key)) {
        throw new IllegalArgumentException(Suggestions.unknown(kind, key, known, listLabel, hint));
      }
    }
    Map<String, Object> values = new LinkedHashMap<>();
    for (OptionDescriptor option : declared) {
      String text = given.getOrDefault(option.name(), option.defaultValue());
      values.put(
          option.name(),
          text.isEmpty() ? null : parse(option.name(), option.type(), option.choices(), text));
    }
    return new Options(owner, values);
  }

  /** Parses one value; used for defaults and user input alike. */
  static Object parse(String name, OptionType type, List<String> choices, String text) {
    String trimmed = text.trim();
    try {
      return switch (type) {
        case INT -> Integer.parseInt(trimmed);
        case FLOAT -> {
          double d = Double.parseDouble(trimmed);
          if (!Double.isFinite(d)) {
            throw new NumberFormatException();
          }
          yield d;
        }
        case BOOLEAN ->
            switch (trimmed.toLowerCase(Locale.ROOT)) {
              case "true" -> Boolean.TRUE;
              case "false" -> Boolean.FALSE;
              default -> throw new NumberFormatException();
            };
        case STRING -> trimmed;
        case CHOICE -> {
          if (!choices.contains(trimmed)) {
            throw new IllegalArgumentException(
                "Option \""
                    + name
                    + "\" cannot be \""
                    + trimmed
                    + "\". Choose one of: "
                    + String.join(", ", choices)
                    + ".");
          }
          yield trimmed;
        }
        case LIST ->
            Arrays.stream(trimmed.split(",")).map(String::trim).filter(s -> !s.isEmpty()).toList();
        case MAP -> parseMap(name, trimmed);
      };
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(
          "Option \"" + name + "\" needs a " + type.label() + " value, not \"" + text + "\".");
    }
  }

  private static Map<String, String> parseMap(String name, String text) {
    Map<String, String> map = new LinkedHashMap<>();
    for (String pair : text.split(",")) {
      if (pair.isBlank()) {
        continue;
      }
      int eq = pair.lastIndexOf('=');
      if (eq <= 0) {
        throw new IllegalArgumentException(
            "Option \"" + name + "\" needs pattern=value pairs, not \"" + pair.trim() + "\".");
      }
      map.put(pair.substring(0, eq).trim(), pair.substring(eq + 1).trim());
    }
    return Map.copyOf(map);
  }

  /** What these options belong to: a method's name, or "job". */
  public String owner() {
    return owner;
  }

  /** Whether the option has a value (given or by default). */
  public boolean has(String name) {
    return value(name) != null;
  }

  public int getInt(String name) {
    return (Integer) required(name);
  }

  public double getDouble(String name) {
    return (Double) required(name);
  }

  public boolean getBoolean(String name) {
    return (Boolean) required(name);
  }

  /** A string or choice option. */
  public String getString(String name) {
    return (String) required(name);
  }

  @SuppressWarnings("unchecked")
  public List<String> getList(String name) {
    Object v = value(name);
    return v == null ? List.of() : (List<String>) v;
  }

  @SuppressWarnings("unchecked")
  public Map<String, String> getMap(String name) {
    Object v = value(name);
    return v == null ? Map.of() : (Map<String, String>) v;
  }

  /** Every option and its value (null for none), in declaration order. */
  public Map<String, Object> asMap() {
    return java.util.Collections.unmodifiableMap(values);
  }

  private Object value(String name) {
    if (!values.containsKey(name)) {
      throw new IllegalArgumentException(owner + " has no setting \"" + name + "\".");
    }
    return values.get(name);
  }

  private Object required(String name) {
    return Objects.requireNonNull(
        value(name), () -> "Setting \"" + name + "\" of " + owner + " has no value.");
  }

  @Override
  public String toString() {
    return owner + values;
  }
}
