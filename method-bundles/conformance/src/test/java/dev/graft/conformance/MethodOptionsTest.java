package dev.graft.conformance;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.graft.api.FineTuningMethod;
import dev.graft.api.OptionDescriptor;
import dev.graft.api.Options;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The options rows of the conformance matrix, for every installed method ({@link
 * Fixtures#METHODS}): the options are listed with their help, the defaults configure the method,
 * and a value of the wrong type or out of range is refused in one line that names the option.
 */
class MethodOptionsTest {
  static Stream<FineTuningMethod> methods() {
    return Fixtures.METHODS.stream();
  }

  /** Values that no option of a type accepts, by type; string and list options take any text. */
  private static List<String> wrongValues(OptionDescriptor option) {
    return switch (option.type()) {
      case INT -> List.of("x", "1.5");
      case FLOAT -> List.of("x", "NaN");
      case BOOLEAN -> List.of("maybe");
      case CHOICE -> List.of("no-such-" + option.name());
      case MAP -> List.of("no-equals-sign");
      case STRING, LIST -> List.of();
    };
  }

  /** Values a number option may well refuse (a rank, a probability), to be refused by name. */
  private static List<String> edgeValues(OptionDescriptor option) {
    return switch (option.type()) {
      case INT -> List.of("-1", "0");
      case FLOAT -> List.of("-1", "1e9");
      default -> List.of();
    };
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("methods")
  void everyOptionIsListedWithOneLineOfHelp(FineTuningMethod method) {
    assertAll(
        method.info().options().stream()
            .map(
                o ->
                    () ->
                        assertTrue(
                            !o.help().isBlank() && !o.help().contains("\n"),
                            o.name() + " has one line of help")));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("methods")
  void theDefaultsConfigureTheMethodAndParseWhenGiven(FineTuningMethod method) {
    method.create(Options.parse(method.info(), Map.of()));
    assertAll(
        method.info().options().stream()
            .filter(o -> !o.defaultValue().isEmpty())
            .map(
                o ->
                    () ->
                        method.create(
                            Options.parse(method.info(), Map.of(o.name(), o.defaultValue())))));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("methods")
  void aValueOfTheWrongTypeIsRefusedNamingTheOption(FineTuningMethod method) {
    assertAll(
        method.info().options().stream()
            .flatMap(
                o ->
                    wrongValues(o).stream()
                        .map(
                            v ->
                                (Executable)
                                    () ->
                                        assertNamed(
                                            o,
                                            v,
                                            assertThrows(
                                                IllegalArgumentException.class,
                                                () ->
                                                    Options.parse(
                                                        method.info(), Map.of(o.name(), v)),
                                                o.name() + "=" + v)))));
  }

  /**
   * An edge value of a number option is either taken (the method configures itself with it) or
   * refused with an {@link IllegalArgumentException} that names the option, never another failure.
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("methods")
  void anOutOfRangeNumberIsTakenOrRefusedNamingTheOption(FineTuningMethod method) {
    assertAll(
        method.info().options().stream()
            .flatMap(
                o ->
                    edgeValues(o).stream()
                        .map(
                            v ->
                                (Executable)
                                    () -> {
                                      Options options =
                                          Options.parse(method.info(), Map.of(o.name(), v));
                                      try {
                                        method.create(options);
                                      } catch (IllegalArgumentException e) {
                                        assertNamed(o, v, e);
                                      }
                                    })));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("methods")
  void anUnknownOptionIsRefusedNamingItAndTheMethod(FineTuningMethod method) {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> Options.parse(method.info(), Map.of("no_such_option", "1")));
    assertTrue(e.getMessage().contains("\"no_such_option\""), e.getMessage());
    assertTrue(e.getMessage().contains(method.info().name()), e.getMessage());
  }

  /** One line, ending with a full stop, naming the option as a word. */
  private static void assertNamed(
      OptionDescriptor option, String value, IllegalArgumentException e) {
    String message = e.getMessage();
    String what = option.name() + "=" + value + ": " + message;
    assertFalse(message.contains("\n"), what);
    assertTrue(message.endsWith("."), what);
    assertTrue(
        Pattern.compile("\\b" + Pattern.quote(option.name()) + "\\b").matcher(message).find(),
        "the message names the option: " + what);
    assertEquals(message.strip(), message, what);
  }
}
