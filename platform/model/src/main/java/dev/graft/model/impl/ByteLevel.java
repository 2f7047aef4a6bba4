package dev.graft.model.impl;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.regex.Pattern;

/**
 * GPT-2's reversible byte ↔ character mapping: printable Latin-1 bytes map to themselves, the other
 * 68 bytes to U+0100 onwards, so every byte string is a string of visible characters.
 */
final class ByteLevel {

  /** GPT-2's pre-tokenization pattern (ByteLevel with use_regex). */
  static final Pattern GPT2_PATTERN =
      compile("'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+");

  private static final char[] BYTE_TO_CHAR = new char[256];
  private static final int[] CHAR_TO_BYTE = new int[324];

  static {
    java.util.Arrays.fill(CHAR_TO_BYTE, -1);
    int n = 0;
    for (int b = 0; b < 256; b++) {
      boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      char c = printable ? (char) b : (char) (256 + n++);
      BYTE_TO_CHAR[b] = c;
      CHAR_TO_BYTE[c] = b;
    }
  }

  private ByteLevel() {}

  /**
   * Compiles a tokenizer regex with Unicode classes ({@code \s} is Unicode White_Space, as in the
   * Rust and Oniguruma engines Hugging Face uses).
   */
  static Pattern compile(String regex) {
    return Pattern.compile(regex, Pattern.UNICODE_CHARACTER_CLASS);
  }

  /** The UTF-8 bytes of {@code s}, one mapped character per byte. */
  static String encode(String s) {
    byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
    char[] out = new char[bytes.length];
    for (int i = 0; i < bytes.length; i++) {
      out[i] = BYTE_TO_CHAR[bytes[i] & 0xff];
    }
    return new String(out);
  }

  /**
   * Appends a token's bytes: its characters mapped back, or, when some character is not a mapped
   * byte (an added token such as {@code <|im_start|>} that contains one), its UTF-8 bytes.
   */
  static void decode(String token, ByteArrayOutputStream out) {
    byte[] bytes = new byte[token.length()];
    for (int i = 0; i < token.length(); i++) {
      char c = token.charAt(i);
      int b = c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1;
      if (b < 0) {
        out.writeBytes(token.getBytes(StandardCharsets.UTF_8));
        return;
      }
      bytes[i] = (byte) b;
    }
    out.writeBytes(bytes);
  }
}
