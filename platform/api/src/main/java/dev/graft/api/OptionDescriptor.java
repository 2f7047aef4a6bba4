package dev.graft.api;

import java.util.List;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * One option of a method, named after the paper or PEFT (for example {@code r}, {@code
 * lora_alpha}).
 *
 * @param name lower-case option name
 * @param type value type
 * @param defaultValue the default as text, parsed like user input; empty for "no value"
 * @param help one line of help
 * @param choices allowed values for {@link OptionType#CHOICE}, empty otherwise
 */
public record OptionDescriptor(
    String name, OptionType type, String defaultValue, String help, List<String> choices) {
  private static final Pattern NAME = Pattern.compile("[a-z][a-z0-9_]*");

  /** Validates the descriptor itself, including that the default parses. */
  public OptionDescriptor {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(type, "type");
    Objects.requireNonNull(defaultValue, "defaultValue");
    Objects.requireNonNull(help, "help");
    choices = List.copyOf(choices);
    if (!NAME.matcher(name).matches()) {
      throw new IllegalArgumentException(
          "Option name \"" + name + "\" must be lower-case letters, digits and underscores.");
    }
    if ((type == OptionType.CHOICE) == choices.isEmpty()) {
      throw new IllegalArgumentException(
          "Option \"" + name + "\": choices are required for type choice and only for it.");
    }
    if (!defaultValue.isEmpty()) {
      Options.parse(name, type, choices, defaultValue);
    }
  }

  /** An option without choices. */
  public static OptionDescriptor of(
      String name, OptionType type, String defaultValue, String help) {
    return new OptionDescriptor(name, type, defaultValue, help, List.of());
  }

  /** A {@link OptionType#CHOICE} option. */
  public static OptionDescriptor choice(
      String name, String defaultValue, String help, String... choices) {
    return new OptionDescriptor(name, OptionType.CHOICE, defaultValue, help, List.of(choices));
  }
}
