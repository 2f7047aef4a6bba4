package dev.graft.train.data;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tag;
import net.jqwik.api.lifecycle.AfterContainer;

/**
 * Property-based fuzzing of the JSONL reader: data files of every format with edited lines (bytes
 * inserted, cut or replaced, fields of other types, gzip headers, invalid UTF-8) are either read or
 * refused with an {@link IllegalArgumentException} naming the file; nothing else escapes.
 */
class JsonlFuzzTest {
  private static final AtomicLong CASES = new AtomicLong();
  private static final Path FILE = temp();

  private static Path temp() {
    try {
      return Files.createTempFile("fuzz", ".jsonl");
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  @AfterContainer
  static void report() throws IOException {
    System.out.println("JSONL fuzzing: " + CASES.get() + " mutated files read or refused");
    Files.deleteIfExists(FILE);
  }

  private static final String DATA =
      "{\"text\": \"Once upon a time\"}\n"
          + "{\"prompt\": \"2+2=\", \"completion\": \"4\", \"task_id\": 3}\n"
          + "{\"instruction\": \"Say hi\", \"input\": \"\", \"output\": \"hi\"}\n"
          + "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\","
          + " \"content\": \"hello\"}]}\n"
          + "{\"prompt\": \"q\", \"chosen\": \"good\", \"rejected\": \"bad\"}\n";

  /** One edit of the file's bytes. */
  record Edit(int kind, int position, String text) {
    byte[] apply(byte[] b) {
      int at = Math.floorMod(position, b.length + 1);
      byte[] t = text.getBytes(StandardCharsets.UTF_8);
      return switch (kind) {
        case 0 -> concat(slice(b, 0, at), t, slice(b, at, b.length)); // inserted
        case 1 ->
            concat(slice(b, 0, at), slice(b, Math.min(b.length, at + t.length + 1), b.length));
        case 2 -> concat(new byte[] {0x1f, (byte) 0x8b}, b); // looks like gzip, is not
        case 3 ->
            concat(slice(b, 0, at), new byte[] {(byte) 0xC3, (byte) 0x28}, slice(b, at, b.length));
        default -> slice(b, 0, at); // truncated
      };
    }
  }

  private static byte[] slice(byte[] b, int from, int to) {
    return java.util.Arrays.copyOfRange(b, from, to);
  }

  private static byte[] concat(byte[]... parts) {
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    for (byte[] p : parts) {
      out.writeBytes(p);
    }
    return out.toByteArray();
  }

  @Provide
  Arbitrary<List<Edit>> edits() {
    Arbitrary<String> texts =
        Arbitraries.oneOf(
            Arbitraries.of(
                "{",
                "}",
                "[",
                "]",
                "\"",
                ":",
                ",",
                "\n",
                "null",
                "5",
                "-1",
                "1e999",
                "true",
                "\"text\": 7, ",
                "\"messages\": {}, ",
                "\"task_id\": \"x\", ",
                "\\u0000",
                "{}\n",
                "[]\n",
                "{\"text\": \"a\"} {\"text\": \"b\"}"),
            Arbitraries.strings().ofMaxLength(8));
    Arbitrary<Edit> one =
        Combinators.combine(
                Arbitraries.integers().between(0, 4),
                Arbitraries.integers().greaterOrEqual(0),
                texts)
            .as(Edit::new);
    return one.list().ofMinSize(1).ofMaxSize(4);
  }

  @Property(tries = 1000)
  void anEditedDataFileIsReadOrRefusedWithAReason(@ForAll("edits") List<Edit> edits)
      throws IOException {
    read(edits);
  }

  @Property(tries = 10000)
  @Tag("slow")
  void manyEditedDataFilesAreReadOrRefusedWithAReason(@ForAll("edits") List<Edit> edits)
      throws IOException {
    read(edits);
  }

  private static void read(List<Edit> edits) throws IOException {
    byte[] bytes = DATA.getBytes(StandardCharsets.UTF_8);
    for (Edit e : edits) {
      bytes = e.apply(bytes);
    }
    Files.write(FILE, bytes);
    CASES.incrementAndGet();
    for (Jsonl.Format format : new Jsonl.Format[] {null, Jsonl.Format.TEXT}) {
      try {
        Jsonl.lines(FILE, format, Map.of(), 0, List.of("task_id"));
      } catch (IllegalArgumentException refused) {
        if (refused.getMessage() == null || !refused.getMessage().contains(FILE.toString())) {
          throw new AssertionError("a refusal that does not name the file", refused);
        }
      }
    }
  }
}
