package dev.graft.model.impl;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.Comparator;
import java.util.List;

/**
 * Added tokens (special tokens and others declared outside the model vocabulary), which are cut out
 * of the text before normalization so the model never splits them.
 */
final class AddedVocabulary {

  /** One added token with the matching options of {@code tokenizers}' AddedToken. */
  record AddedToken(
      int id,
      String content,
      boolean special,
      boolean lstrip,
      boolean rstrip,
      boolean singleWord) {}

  /** A piece of input: either text for the model ({@code id < 0}) or an added token. */
  record Segment(String text, int id, boolean atStart) {}

  private final List<AddedToken> byLength;
  private final BitSet firstChars = new BitSet();

  AddedVocabulary(List<AddedToken> tokens) {
    byLength = new ArrayList<>(tokens);
    byLength.removeIf(t -> t.content().isEmpty());
    byLength.forEach(t -> firstChars.set(t.content().charAt(0)));
    byLength.sort(Comparator.comparingInt((AddedToken t) -> t.content().length()).reversed());
  }

  /** Splits text into model text and added tokens, leftmost match first, longest at a position. */
  List<Segment> split(String text) {
    List<Segment> out = new ArrayList<>();
    int done = 0; // text before this index is emitted
    int pos = 0;
    while (pos < text.length()) {
      AddedToken hit = null;
      for (AddedToken t : firstChars.get(text.charAt(pos)) ? byLength : List.<AddedToken>of()) {
        if (text.startsWith(t.content(), pos) && wordBoundaries(t, text, pos)) {
          hit = t;
          break;
        }
      }
      if (hit == null) {
        pos++;
        continue;
      }
      int start = pos;
      int end = pos + hit.content().length();
      if (hit.lstrip()) {
        while (start > done && Character.isWhitespace(text.charAt(start - 1))) {
          start--;
        }
      }
      if (hit.rstrip()) {
        while (end < text.length() && Character.isWhitespace(text.charAt(end))) {
          end++;
        }
      }
      if (start > done) {
        out.add(new Segment(text.substring(done, start), -1, done == 0));
      }
      out.add(new Segment(hit.content(), hit.id(), start == 0));
      done = end;
      pos = end;
    }
    if (done < text.length()) {
      out.add(new Segment(text.substring(done), -1, done == 0));
    }
    return out;
  }

  private static boolean wordBoundaries(AddedToken t, String text, int pos) {
    if (!t.singleWord()) {
      return true;
    }
    int end = pos + t.content().length();
    return (pos == 0 || !isWordChar(text.charAt(pos - 1)))
        && (end == text.length() || !isWordChar(text.charAt(end)));
  }

  private static boolean isWordChar(char c) {
    return Character.isLetterOrDigit(c) || c == '_';
  }
}
