package dev.graft.model;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
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
 * Property-based fuzzing of the readers of files that others wrote: mutated safetensors files and
 * config.json files are either read or refused with an {@link IllegalArgumentException} that says
 * why; nothing else escapes, and no size read from a file drives an allocation before it is checked
 * against the file (a header length of 2^62 must not allocate). The default build runs a few
 * thousand cases per reader; the slow profile about ten times as many.
 */
class ReaderFuzzTest {
  private static final AtomicLong CASES = new AtomicLong();
  private static final Path FILE = temp("fuzz", ".safetensors");
  private static final Path CONFIG = temp("config", ".json");

  @AfterContainer
  static void report() throws IOException {
    System.out.println("reader fuzzing: " + CASES.get() + " mutated files read or refused");
    Files.deleteIfExists(FILE);
    Files.deleteIfExists(CONFIG);
  }

  private static Path temp(String prefix, String suffix) {
    try {
      return Files.createTempFile(prefix, suffix);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  /** A valid file: three tensors of three dtypes and metadata. */
  static byte[] valid() {
    SafetensorsWriter w = new SafetensorsWriter().metadata("format", "pt");
    w.add("model.a.weight", new long[] {2, 3}, new float[] {1, 2, 3, 4, 5, 6});
    w.add("model.b.bias", new long[] {4}, new float[] {1, 2, 3, 4});
    w.add("c", DType.I64, new long[] {2}, ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN));
    try {
      Path p = Files.createTempFile("valid", ".safetensors");
      w.write(p);
      byte[] bytes = Files.readAllBytes(p);
      Files.delete(p);
      return bytes;
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  private static final byte[] VALID = valid();

  /** One mutation of a file's bytes. */
  record Mutation(int kind, int position, long value, int length) {
    byte[] apply(byte[] original) {
      byte[] b = original.clone();
      if (b.length < 8) {
        return java.util.Arrays.copyOf(b, b.length + length); // too short to edit: grow it
      }
      int at = Math.floorMod(position, b.length);
      switch (kind) {
        case 0 -> b[at] = (byte) value; // one byte
        case 1 -> { // the header length
          return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(0, value).array();
        }
        case 2 -> { // truncated
          return java.util.Arrays.copyOf(b, at);
        }
        case 3 -> { // bytes appended
          return java.util.Arrays.copyOf(b, b.length + 1 + length);
        }
        case 4 -> { // a number in the header replaced
          return replaceNumber(b, at, value);
        }
        default -> { // a run of bytes overwritten
          for (int i = 0; i < length && at + i < b.length; i++) {
            b[at + i] = (byte) (value >> (i % 8 * 8));
          }
        }
      }
      return b;
    }
  }

  /** The header with the first number at or after {@code at} replaced by {@code value}. */
  private static byte[] replaceNumber(byte[] b, int at, long value) {
    if (b.length < 8) {
      return b;
    }
    long n = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getLong();
    if (n < 0 || n > b.length - 8) {
      return b; // the header length is already broken: nothing to parse
    }
    String header = new String(b, 8, (int) n, StandardCharsets.UTF_8);
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("-?\\d+").matcher(header);
    if (!m.find(Math.floorMod(at, Math.max(1, header.length())))) {
      return b;
    }
    String changed = header.substring(0, m.start()) + value + header.substring(m.end());
    byte[] json = changed.getBytes(StandardCharsets.UTF_8);
    ByteBuffer out = ByteBuffer.allocate((int) (8 + json.length + b.length - 8 - n));
    out.order(ByteOrder.LITTLE_ENDIAN)
        .putLong(json.length)
        .put(json)
        .put(b, (int) (8 + n), (int) (b.length - 8 - n));
    return out.array();
  }

  @Provide
  Arbitrary<List<Mutation>> mutations() {
    Arbitrary<Long> values =
        Arbitraries.oneOf(
            Arbitraries.longs(),
            Arbitraries.longs().between(-2, 300),
            Arbitraries.of(Long.MAX_VALUE, Long.MIN_VALUE, 1L << 62, 100L << 20, -1L));
    Arbitrary<Mutation> one =
        Combinators.combine(
                Arbitraries.integers().between(0, 5),
                Arbitraries.integers().greaterOrEqual(0),
                values,
                Arbitraries.integers().between(1, 64))
            .as(Mutation::new);
    return one.list().ofMinSize(1).ofMaxSize(4);
  }

  @Property(tries = 1000)
  void aMutatedSafetensorsFileIsReadOrRefusedWithAReason(
      @ForAll("mutations") List<Mutation> mutations) throws IOException {
    safetensors(mutations);
  }

  @Property(tries = 10000)
  @Tag("slow")
  void manyMutatedSafetensorsFilesAreReadOrRefusedWithAReason(
      @ForAll("mutations") List<Mutation> mutations) throws IOException {
    safetensors(mutations);
  }

  private static void safetensors(List<Mutation> mutations) throws IOException {
    byte[] bytes = VALID;
    for (Mutation m : mutations) {
      bytes = m.apply(bytes);
    }
    Files.write(FILE, bytes);
    CASES.incrementAndGet();
    try (SafetensorsReader r = SafetensorsReader.open(FILE)) {
      for (String name : r.names()) {
        TensorInfo info = r.info(name);
        if (info.dtype() == DType.F32) {
          r.floats(name);
        } else {
          r.bytes(name);
        }
      }
    } catch (IllegalArgumentException refused) {
      assertReason(refused);
    }
  }

  // ---------------------------------------------------------------- config.json

  private static final String CONFIG_JSON =
      "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", \"hidden_size\": 64,"
          + " \"intermediate_size\": 172, \"num_hidden_layers\": 5, \"num_attention_heads\": 8,"
          + " \"num_key_value_heads\": 4, \"vocab_size\": 512, \"max_position_embeddings\": 512,"
          + " \"rms_norm_eps\": 1e-05, \"rope_theta\": 10000.0, \"tie_word_embeddings\": true,"
          + " \"bos_token_id\": 1, \"eos_token_id\": [2, 3], \"rope_scaling\": {\"rope_type\":"
          + " \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0,"
          + " \"original_max_position_embeddings\": 8192}}";

  /** One edit of config.json's text. */
  record Edit(int kind, int position, String text) {
    String apply(String s) {
      int at = Math.floorMod(position, s.length() + 1);
      return switch (kind) {
        case 0 -> s.substring(0, at) + text + s.substring(at); // inserted
        case 1 -> s.substring(0, at) + s.substring(Math.min(s.length(), at + text.length())); // cut
        default -> { // a value replaced
          java.util.regex.Matcher m =
              java.util.regex.Pattern.compile(":\\s*([^,{}\\[\\]]+|\\[[^\\]]*\\])").matcher(s);
          yield m.find(Math.min(at, s.length()))
              ? s.substring(0, m.start(1)) + text + s.substring(m.end(1))
              : s;
        }
      };
    }
  }

  @Provide
  Arbitrary<List<Edit>> edits() {
    Arbitrary<String> texts =
        Arbitraries.oneOf(
            Arbitraries.of(
                "0",
                "-1",
                "2147483648",
                "1e400",
                "null",
                "true",
                "\"x\"",
                "[]",
                "{}",
                "[1]",
                "9223372036854775808",
                "1.5",
                "\"LlamaForCausalLM\"",
                "\"GPT2LMHeadModel\"",
                "\"Qwen2ForCausalLM\"",
                "\"MistralForCausalLM\"",
                "[\"GPT2LMHeadModel\"]",
                "1024",
                "100000"),
            Arbitraries.strings().ofMaxLength(6));
    Arbitrary<Edit> one =
        Combinators.combine(
                Arbitraries.integers().between(0, 2),
                Arbitraries.integers().greaterOrEqual(0),
                texts)
            .as(Edit::new);
    return one.list().ofMinSize(1).ofMaxSize(4);
  }

  @Property(tries = 1000)
  void anEditedConfigIsReadOrRefusedWithAReason(@ForAll("edits") List<Edit> edits)
      throws IOException {
    config(edits);
  }

  @Property(tries = 10000)
  @Tag("slow")
  void manyEditedConfigsAreReadOrRefusedWithAReason(@ForAll("edits") List<Edit> edits)
      throws IOException {
    config(edits);
  }

  private static void config(List<Edit> edits) throws IOException {
    String text = CONFIG_JSON;
    for (Edit e : edits) {
      text = e.apply(text);
    }
    Files.writeString(CONFIG, text);
    CASES.incrementAndGet();
    try {
      ModelConfig.read(CONFIG).expectedTensors();
    } catch (IllegalArgumentException refused) {
      assertReason(refused);
    }
  }

  /** A refusal says what was wrong in one line. */
  static void assertReason(IllegalArgumentException e) {
    String m = e.getMessage();
    if (m == null || m.isBlank() || m.length() > 2000) {
      throw new AssertionError("a refusal without a usable reason: " + m, e);
    }
  }
}
