package dev.graft.api;

import java.util.Collection;
import java.util.Comparator;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * Builds the house-style error sentence for an unknown name: quote it, list what exists, say how to
 * fix.
 */
public final class Suggestions {
  private Suggestions() {}

  /**
   * The known name closest to {@code value} by edit distance, if it is close enough to be a typo
   * (at most a third of the length, at least one edit).
   */
  public static Optional<String> nearest(String value, Collection<String> known) {
    int limit = Math.max(1, value.length() / 3);
    return known.stream()
        .filter(k -> distance(value, k) <= limit)
        .min(Comparator.comparingInt((String k) -> distance(value, k)).thenComparing(k -> k));
  }

  /**
   * {@code Unknown method "lorra". Installed: dora, lora. Did you mean "lora"? See
   * 'graft:methods'.}
   *
   * @param kind what was looked up ("method", "backend", "option")
   * @param value the value the user gave
   * @param known what exists
   * @param listLabel the word before the list ("Installed", "Known")
   * @param hint the closing advice, e.g. "See 'graft:methods'.", or empty
   */
  public static String unknown(
      String kind, String value, Collection<String> known, String listLabel, String hint) {
    StringBuilder message =
        new StringBuilder("Unknown ").append(kind).append(" \"").append(value).append("\". ");
    message
        .append(listLabel)
        .append(": ")
        .append(
            known.isEmpty() ? "none" : known.stream().sorted().collect(Collectors.joining(", ")))
        .append('.');
    nearest(value, known)
        .ifPresent(n -> message.append(" Did you mean \"").append(n).append("\"?"));
    if (!hint.isEmpty()) {
      message.append(' ').append(hint);
    }
    return message.toString();
  }

  /**
   * Edit distance counting insertions, deletions, substitutions and adjacent swaps (optimal string
   * alignment).
   */
  static int distance(String a, String b) {
    int[][] d = new int[a.length() + 1][b.length() + 1];
    for (int i = 0; i <= a.length(); i++) {
      d[i][0] = i;
    }
    for (int j = 0; j <= b.length(); j++) {
      d[0][j] = j;
    }
    for (int i = 1; i <= a.length(); i++) {
      for (int j = 1; j <= b.length(); j++) {
        int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
        d[i][j] = Math.min(d[i - 1][j - 1] + cost, Math.min(d[i - 1][j], d[i][j - 1]) + 1);
        if (i > 1
            && j > 1
            && a.charAt(i - 1) == b.charAt(j - 2)
            && a.charAt(i - 2) == b.charAt(j - 1)) {
          d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
        }
      }
    }
    return d[a.length()][b.length()];
  }
}
