package dev.graft.model.impl;

import com.fasterxml.jackson.databind.JsonNode;
import java.text.Normalizer.Form;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.UnaryOperator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Hugging Face normalizers: text → text before pre-tokenization. */
final class Normalizers {

  static final String SUPPORTED = "Sequence, NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace";

  private Normalizers() {}

  /** The normalizer described by {@code node}; null when node is JSON null. */
  static UnaryOperator<String> from(JsonNode node, String file) {
    if (node == null || node.isNull()) {
      return null;
    }
    String type = node.path("type").asText();
    switch (type) {
      case "Sequence":
        List<UnaryOperator<String>> steps = new ArrayList<>();
        node.path("normalizers").forEach(n -> steps.add(from(n, file)));
        return s -> {
          for (UnaryOperator<String> step : steps) {
            s = step.apply(s);
          }
          return s;
        };
      case "NFC":
        return s -> java.text.Normalizer.normalize(s, Form.NFC);
      case "NFD":
        return s -> java.text.Normalizer.normalize(s, Form.NFD);
      case "NFKC":
        return s -> java.text.Normalizer.normalize(s, Form.NFKC);
      case "NFKD":
        return s -> java.text.Normalizer.normalize(s, Form.NFKD);
      case "Lowercase":
        return s -> s.toLowerCase(Locale.ROOT);
      case "Prepend":
        String prefix = node.path("prepend").asText();
        return s -> s.isEmpty() ? s : prefix + s;
      case "Replace":
        Pattern pattern = pattern(node.path("pattern"), file, "normalizer");
        String content = Matcher.quoteReplacement(node.path("content").asText());
        return s -> pattern.matcher(s).replaceAll(content);
      default:
        throw unsupported(file, "normalizer", type, SUPPORTED);
    }
  }

  /** A {@code {"String": …}} or {@code {"Regex": …}} pattern. */
  static Pattern pattern(JsonNode node, String file, String where) {
    if (node.has("String")) {
      return Pattern.compile(Pattern.quote(node.get("String").asText()));
    }
    if (node.has("Regex")) {
      return ByteLevel.compile(node.get("Regex").asText());
    }
    throw new IllegalArgumentException(
        file + ": " + where + " pattern " + node + " is neither {\"String\"} nor {\"Regex\"}.");
  }

  static IllegalArgumentException unsupported(
      String file, String what, String type, String supported) {
    return new IllegalArgumentException(
        String.format(
            "%s: %s type \"%s\" is not supported; supported: %s.", file, what, type, supported));
  }
}
