package dev.graft.model.impl;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Hugging Face pre-tokenizers: split normalized text into the words BPE sees. */
final class PreTokenizers {

  static final String SUPPORTED = "Sequence, ByteLevel, Split, Digits, Metaspace";

  /** Splits one piece; {@code atStart} tells whether the piece begins the input text. */
  interface PreTokenizer {
    void split(String piece, boolean atStart, List<String> out);
  }

  private PreTokenizers() {}

  /** Applies a pre-tokenizer to every piece of a list. */
  static List<String> apply(PreTokenizer p, List<String> pieces, boolean atStart) {
    List<String> out = new ArrayList<>();
    for (int i = 0; i < pieces.size(); i++) {
      p.split(pieces.get(i), atStart && i == 0, out);
    }
    return out;
  }

  /** The pre-tokenizer described by {@code node}; null when node is JSON null. */
  static PreTokenizer from(JsonNode node, String file) {
    if (node == null || node.isNull()) {
      return null;
    }
    String type = node.path("type").asText();
    switch (type) {
      case "Sequence":
        List<PreTokenizer> steps = new ArrayList<>();
        node.path("pretokenizers").forEach(n -> steps.add(from(n, file)));
        return (piece, atStart, out) -> {
          List<String> pieces = List.of(piece);
          for (PreTokenizer step : steps) {
            pieces = apply(step, pieces, atStart);
          }
          out.addAll(pieces);
        };
      case "ByteLevel":
        return byteLevel(
            node.path("add_prefix_space").asBoolean(false), node.path("use_regex").asBoolean(true));
      case "Split":
        Pattern pattern = Normalizers.pattern(node.path("pattern"), file, "Split");
        String behavior = node.path("behavior").asText();
        if (!List.of("Isolated", "Removed", "MergedWithPrevious", "MergedWithNext")
            .contains(behavior)) {
          throw Normalizers.unsupported(
              file,
              "Split behavior",
              behavior,
              "Isolated, Removed, MergedWithPrevious, MergedWithNext");
        }
        boolean invert = node.path("invert").asBoolean(false);
        return (piece, atStart, out) -> split(piece, pattern, behavior, invert, out);
      case "Digits":
        Pattern digits =
            ByteLevel.compile(
                node.path("individual_digits").asBoolean(false) ? "\\p{N}" : "\\p{N}+");
        return (piece, atStart, out) -> split(piece, digits, "Isolated", false, out);
      case "Metaspace":
        return metaspace(node);
      default:
        throw Normalizers.unsupported(file, "pre_tokenizer", type, SUPPORTED);
    }
  }

  /** GPT-2 style: optional prefix space, optional regex split, then bytes → visible chars. */
  static PreTokenizer byteLevel(boolean addPrefixSpace, boolean useRegex) {
    return (piece, atStart, out) -> {
      String s = addPrefixSpace && !piece.startsWith(" ") ? " " + piece : piece;
      List<String> words = new ArrayList<>();
      if (useRegex) {
        split(s, ByteLevel.GPT2_PATTERN, "Isolated", false, words);
      } else {
        words.add(s);
      }
      for (String w : words) {
        out.add(ByteLevel.encode(w));
      }
    };
  }

  private static PreTokenizer metaspace(JsonNode node) {
    String replacement = node.path("replacement").asText("\u2581");
    String scheme =
        node.has("prepend_scheme")
            ? node.get("prepend_scheme").asText()
            : node.path("add_prefix_space").asBoolean(true) ? "always" : "never";
    boolean splitWords = node.path("split").asBoolean(true);
    Pattern sep = Pattern.compile(Pattern.quote(replacement));
    return (piece, atStart, out) -> {
      String s = piece.replace(" ", replacement);
      boolean prepend = scheme.equals("always") || (scheme.equals("first") && atStart);
      if (prepend && !s.startsWith(replacement)) {
        s = replacement + s;
      }
      if (splitWords) {
        split(s, sep, "MergedWithNext", false, out);
      } else {
        out.add(s);
      }
    };
  }

  /** Splits around the matches of a pattern as {@code tokenizers}' SplitDelimiterBehavior does. */
  static void split(String s, Pattern p, String behavior, boolean invert, List<String> out) {
    // (text, isMatch) segments covering s
    List<String> texts = new ArrayList<>();
    List<Boolean> matched = new ArrayList<>();
    Matcher m = p.matcher(s);
    int last = 0;
    while (m.find()) {
      if (m.end() == m.start()) {
        continue;
      }
      if (m.start() > last) {
        texts.add(s.substring(last, m.start()));
        matched.add(invert);
      }
      texts.add(m.group());
      matched.add(!invert);
      last = m.end();
    }
    if (last < s.length()) {
      texts.add(s.substring(last));
      matched.add(invert);
    }
    List<String> pieces = new ArrayList<>();
    boolean pendingMatch = false; // whether the previous segment was a match
    for (int i = 0; i < texts.size(); i++) {
      String t = texts.get(i);
      boolean isMatch = matched.get(i);
      switch (behavior) {
        case "Removed" -> {
          if (!isMatch) {
            pieces.add(t);
          }
        }
        case "MergedWithPrevious" -> {
          if (isMatch && !pendingMatch && !pieces.isEmpty()) {
            pieces.set(pieces.size() - 1, pieces.get(pieces.size() - 1) + t);
          } else {
            pieces.add(t);
          }
          pendingMatch = isMatch;
        }
        case "MergedWithNext" -> {
          if (pendingMatch) {
            pieces.set(pieces.size() - 1, pieces.get(pieces.size() - 1) + t);
          } else {
            pieces.add(t);
          }
          pendingMatch = isMatch;
        }
        default -> pieces.add(t);
      }
    }
    out.addAll(pieces);
  }
}
