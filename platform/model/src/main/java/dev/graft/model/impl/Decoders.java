package dev.graft.model.impl;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;

/** Hugging Face decoders: token strings → text, as a chain over the list of tokens. */
final class Decoders {

  static final String SUPPORTED =
      "Sequence, ByteLevel, ByteFallback, Fuse, Replace, Strip, Metaspace";

  private Decoders() {}

  /** The decoder described by {@code node}; null when node is JSON null. */
  static UnaryOperator<List<String>> from(JsonNode node, String file) {
    if (node == null || node.isNull()) {
      return null;
    }
    String type = node.path("type").asText();
    switch (type) {
      case "Sequence":
        List<UnaryOperator<List<String>>> steps = new ArrayList<>();
        node.path("decoders").forEach(n -> steps.add(from(n, file)));
        return tokens -> {
          for (UnaryOperator<List<String>> step : steps) {
            tokens = step.apply(tokens);
          }
          return tokens;
        };
      case "ByteLevel":
        return Decoders::byteLevel;
      case "ByteFallback":
        return Decoders::byteFallback;
      case "Fuse":
        return tokens -> List.of(String.join("", tokens));
      case "Replace":
        var pattern = Normalizers.pattern(node.path("pattern"), file, "decoder Replace");
        String content = java.util.regex.Matcher.quoteReplacement(node.path("content").asText());
        return tokens -> map(tokens, t -> pattern.matcher(t).replaceAll(content));
      case "Strip":
        String strip = node.path("content").asText(" ");
        int start = node.path("start").asInt(0);
        int stop = node.path("stop").asInt(0);
        return tokens -> map(tokens, t -> strip(t, strip, start, stop));
      case "Metaspace":
        String replacement = node.path("replacement").asText("\u2581");
        boolean prefix =
            node.has("prepend_scheme")
                ? !node.get("prepend_scheme").asText().equals("never")
                : node.path("add_prefix_space").asBoolean(true);
        return tokens -> {
          List<String> out = new ArrayList<>();
          for (int i = 0; i < tokens.size(); i++) {
            String t = tokens.get(i).replace(replacement, " ");
            out.add(i == 0 && prefix && t.startsWith(" ") ? t.substring(1) : t);
          }
          return out;
        };
      default:
        throw Normalizers.unsupported(file, "decoder", type, SUPPORTED);
    }
  }

  private static List<String> map(List<String> tokens, UnaryOperator<String> f) {
    List<String> out = new ArrayList<>(tokens.size());
    tokens.forEach(t -> out.add(f.apply(t)));
    return out;
  }

  private static String strip(String t, String content, int start, int stop) {
    int begin = 0;
    int end = t.length();
    for (int i = 0; i < start && t.startsWith(content, begin); i++) {
      begin += content.length();
    }
    for (int i = 0;
        i < stop
            && end - content.length() >= begin
            && t.startsWith(content, end - content.length());
        i++) {
      end -= content.length();
    }
    return t.substring(begin, end);
  }

  private static List<String> byteLevel(List<String> tokens) {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    tokens.forEach(t -> ByteLevel.decode(t, bytes));
    return List.of(bytes.toString(StandardCharsets.UTF_8));
  }

  /** Runs of {@code <0xNN>} tokens become their UTF-8 text, or one U+FFFD per byte if invalid. */
  private static List<String> byteFallback(List<String> tokens) {
    List<String> out = new ArrayList<>();
    ByteArrayOutputStream pending = new ByteArrayOutputStream();
    for (String t : tokens) {
      if (t.length() == 6 && t.startsWith("<0x") && t.endsWith(">")) {
        try {
          pending.write(Integer.parseInt(t.substring(3, 5), 16));
          continue;
        } catch (NumberFormatException e) {
          // not a byte token after all
        }
      }
      flush(pending, out);
      out.add(t);
    }
    flush(pending, out);
    return out;
  }

  private static void flush(ByteArrayOutputStream pending, List<String> out) {
    if (pending.size() == 0) {
      return;
    }
    try {
      out.add(
          StandardCharsets.UTF_8
              .newDecoder()
              .onMalformedInput(CodingErrorAction.REPORT)
              .onUnmappableCharacter(CodingErrorAction.REPORT)
              .decode(ByteBuffer.wrap(pending.toByteArray()))
              .toString());
    } catch (CharacterCodingException e) {
      out.add("\uFFFD".repeat(pending.size()));
    }
    pending.reset();
  }
}
