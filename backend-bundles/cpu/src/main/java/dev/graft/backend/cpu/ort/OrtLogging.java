package dev.graft.backend.cpu.ort;

import ai.onnxruntime.OrtLoggingLevel;
import java.util.Locale;
import java.util.Map;

/**
 * How much ONNX Runtime's own logger writes to stderr. Graft reports a failed run as an exception
 * with ORT's message, so by default ORT logs nothing below fatal; the environment variable {@value
 * #VARIABLE} ({@code verbose}, {@code info}, {@code warning}, {@code error} or {@code fatal}) asks
 * for more, to diagnose ORT itself.
 */
public final class OrtLogging {
  /** The environment variable that sets ORT's log level. */
  public static final String VARIABLE = "GRAFT_ORT_LOG";

  private static final Map<String, OrtLoggingLevel> LEVELS =
      Map.of(
          "verbose", OrtLoggingLevel.ORT_LOGGING_LEVEL_VERBOSE,
          "info", OrtLoggingLevel.ORT_LOGGING_LEVEL_INFO,
          "warning", OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING,
          "error", OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
          "fatal", OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL);

  private OrtLogging() {}

  /** The level {@value #VARIABLE} asks for; fatal when it is unset. */
  public static OrtLoggingLevel level() {
    return level(System.getenv(VARIABLE));
  }

  /**
   * Parses a level name; null or blank gives fatal (quiet).
   *
   * @throws IllegalArgumentException for another name, listing the known ones
   */
  static OrtLoggingLevel level(String name) {
    if (name == null || name.isBlank()) {
      return OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL;
    }
    OrtLoggingLevel level = LEVELS.get(name.strip().toLowerCase(Locale.ROOT));
    if (level == null) {
      throw new IllegalArgumentException(
          VARIABLE
              + "=\""
              + name
              + "\" is not a log level; set it to verbose, info, warning, error or fatal.");
    }
    return level;
  }
}
