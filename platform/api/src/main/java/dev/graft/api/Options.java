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
  private final String method;
  private final Map<String, Object> values;

  private Options(String method, Map<String, Object> values) {
    this.method = method;
    this.values = values;
  }

  /**
   * Parses user-given option text.
   *
   * @param info the method whose options these are
   * @param given option name to text, as typed by a user or read from a job file
   * @throws IllegalArgumentException naming the option and the nearest known one for an unknown
   *     name, or naming the option, the value and the expected type for a bad value
   */
  public static Options parse(MethodInfo info, Map<String, String> given) {
    Map<String, Object> values = new LinkedHashMap<>();
    for (String key : given.keySet()) {
      if (info.option(key).isEmpty()) {
        throw new IllegalArgumentException(
            Suggestions.unknown(
                "option",
                key,
                info.options().stream().map(OptionDescriptor::name).toList(),
                "Method " + info.name() + " accepts",
                "See 'graft:method " + info.name() + "'."));
      }
    }
    for (OptionDescriptor option : info.options()) {
      String text = given.getOrDefault(option.name(), option.defaultValue());
      values.put(
          option.name(),
          text.isEmpty() ? null : parse(option.name(), option.type(), option.choices(), text));
    }
    return new Options(info.name(), values);
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

  /** The method these options belong to. */
  public String method() {
    return method;
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
      throw new IllegalArgumentException("Method " + method + " has no option \"" + name + "\".");
    }
    return values.get(name);
  }

  private Object required(String name) {
    return Objects.requireNonNull(
        value(name), () -> "Option \"" + name + "\" of method " + method + " has no value.");
  }

  @Override
  public String toString() {
    return method + values;
  }
}
