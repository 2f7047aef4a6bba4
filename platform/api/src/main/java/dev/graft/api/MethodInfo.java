package dev.graft.api;

import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * What a method is: identity, family, paper and options.
 *
 * @param name unique lower-case name (also the service property {@value FineTuningMethod#NAME})
 * @param title human-readable name, e.g. "LoRA"
 * @param family the method family
 * @param paper the defining paper, or null for methods without one (full fine-tuning)
 * @param options every option the method accepts, with defaults
 */
public record MethodInfo(
    String name,
    String title,
    MethodFamily family,
    PaperReference paper,
    List<OptionDescriptor> options) {
  private static final Pattern NAME = Pattern.compile("[a-z][a-z0-9-]*");

  /** Validates the name and that option names are unique. */
  public MethodInfo {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(title, "title");
    Objects.requireNonNull(family, "family");
    options = List.copyOf(options);
    if (!NAME.matcher(name).matches()) {
      throw new IllegalArgumentException(
          "Method name \"" + name + "\" must be lower-case letters, digits and hyphens.");
    }
    if (options.stream().map(OptionDescriptor::name).distinct().count() != options.size()) {
      throw new IllegalArgumentException("Method \"" + name + "\" declares an option twice.");
    }
  }

  /** The option with this name, if the method has one. */
  public Optional<OptionDescriptor> option(String optionName) {
    return options.stream().filter(o -> o.name().equals(optionName)).findFirst();
  }

  /** The paper, if any. */
  public Optional<PaperReference> paperReference() {
    return Optional.ofNullable(paper);
  }
}
