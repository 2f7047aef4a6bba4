package dev.graft.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TokenizerTest {

  /** Strings that must survive encode → decode unchanged. */
  private static final List<String> ROUND_TRIPS =
      List.of(
          "Hello world",
          "  two  spaces,\ttabs\tand\n\nnewlines\r\n",
          "héllo wörld ✓ 日本語",
          "digits 1234567890 and 3.14159, -42",
          "emoji 🙂👍🏽 and symbols <>{}[]|~\\/%$#@!",
          "Don't stop—they're here; we'll see.",
          " leading space",
          "trailing space ");

  @Test
  void stories260kMatchesEveryGoldenCase() throws IOException {
    Path folder = Shared.path("models/stories260K");
    Tokenizer tok = Tokenizer.load(folder);
    JsonNode golden = new ObjectMapper().readTree(folder.resolve("golden.json").toFile());
    JsonNode tokenizer = golden.get("tokenizer");
    int count = 0;
    for (String group : new String[] {"cases", "hf_added_token_cases"}) {
      JsonNode cases =
          group.equals("cases") ? tokenizer.get("cases") : tokenizer.get(group).get("cases");
      for (JsonNode c : cases) {
        String text = c.get("text").asText();
        int[] ids = new ObjectMapper().convertValue(c.get("ids"), int[].class);
        int[] actual = tok.encode(text, true);
        assertArrayEquals(ids, actual, "ids of " + c.get("text"));
        for (int i = 0; i < ids.length; i++) {
          assertEquals(c.get("tokens").get(i).asText(), tok.idToToken(ids[i]).orElseThrow());
        }
        assertEquals(c.get("decoded").asText(), tok.decode(actual, true), "decoded " + c);
        count++;
      }
    }
    assertEquals(24, count);
    assertEquals(512, tok.vocabSize());
    assertEquals(OptionalInt.of(1), tok.bosId());
    assertEquals(OptionalInt.of(2), tok.eosId());
    assertEquals(OptionalInt.of(0), tok.unkId());
    assertEquals(OptionalInt.empty(), tok.padId());
  }

  @Test
  void stories260kRoundTripsOrdinaryText() throws IOException {
    Tokenizer tok = Tokenizer.load(Shared.path("models/stories260K"));
    for (String s : ROUND_TRIPS) {
      assertEquals(s, tok.decode(tok.encode(s, true), true));
      assertEquals(1, tok.encode(s, true)[0]);
      assertFalse(tok.encode(s, false)[0] == 1, "no BOS without special tokens: " + s);
    }
  }

  @Test
  void gpt2VocabAndMergesEncodeLikeTheOriginal() throws IOException {
    Tokenizer tok = Tokenizer.load(Shared.path("tokenizers/gpt2"));
    assertArrayEquals(new int[] {15496, 995}, tok.encode("Hello world", true));
    assertArrayEquals(new int[] {464, 614, 318, 1105, 13}, tok.encode("The year is 12.", true));
    // GPT-2 keeps all but the last of a run of spaces together ("\s+(?!\S)")
    assertArrayEquals(new int[] {31373, 220, 995}, tok.encode("hello  world", false));
    assertArrayEquals(new int[] {71, 198, 198, 72}, tok.encode("h\n\ni", false));
    assertArrayEquals(new int[] {15496, 50256, 995}, tok.encode("Hello<|endoftext|> world", false));
    assertEquals(50257, tok.vocabSize());
    assertEquals(OptionalInt.of(50256), tok.eosId());
    assertEquals(OptionalInt.of(50256), tok.bosId());
    assertTrue(tok.isSpecial(50256));
    assertEquals("Hello world", tok.decode(new int[] {15496, 50256, 995}, true));
    assertEquals("Hello<|endoftext|> world", tok.decode(new int[] {15496, 50256, 995}, false));
    for (String s : ROUND_TRIPS) {
      assertEquals(s, tok.decode(tok.encode(s, true), false));
    }
  }

  @Test
  void qwen3EncodesSpecialTokensAndRoundTrips() throws IOException {
    Tokenizer tok = Tokenizer.load(Shared.path("tokenizers/qwen3"));
    assertEquals(OptionalInt.of(151644), tok.tokenToId("<|im_start|>"));
    assertEquals(OptionalInt.of(151645), tok.eosId());
    assertEquals(OptionalInt.of(151643), tok.padId());
    assertEquals(OptionalInt.empty(), tok.bosId());
    assertEquals(151669, tok.vocabSize());
    int[] ids = tok.encode("<|im_start|>user\nHello world<|im_end|>", true);
    assertEquals(151644, ids[0]);
    assertEquals(151645, ids[ids.length - 1]);
    assertArrayEquals(new int[] {9707, 1879}, tok.encode("Hello world", true));
    // Qwen splits numbers into single digits
    assertEquals(4, tok.encode("2024", false).length);
    for (String s : ROUND_TRIPS) {
      assertEquals(s, tok.decode(tok.encode(s, true), false));
    }
    assertEquals("user\nHi", tok.decode(tok.encode("<|im_start|>user\nHi<|im_end|>", false), true));
  }

  @Test
  void anUnsupportedModelTypeIsNamed(@TempDir Path dir) throws IOException {
    Files.writeString(
        dir.resolve("tokenizer.json"), "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}");
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(dir));
    assertEquals(
        "tokenizer.json: model type \"WordPiece\" is not supported; supported: BPE.",
        e.getMessage());
  }

  @Test
  void anUnsupportedPreTokenizerIsNamed(@TempDir Path dir) throws IOException {
    Files.writeString(
        dir.resolve("tokenizer.json"),
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
            + " \"pre_tokenizer\": {\"type\": \"Whitespace\"}}");
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(dir));
    assertEquals(
        "tokenizer.json: pre_tokenizer type \"Whitespace\" is not supported; supported: Sequence,"
            + " ByteLevel, Split, Digits, Metaspace.",
        e.getMessage());
  }
}
