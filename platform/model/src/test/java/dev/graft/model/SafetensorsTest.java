package dev.graft.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsTest {

  @TempDir Path dir;

  private static Path stories() {
    return Shared.path("models/stories260K");
  }

  @Test
  void readsAllStoriesTensorsWithTheShapesOfItsConfig() throws IOException {
    ModelConfig config = ModelConfig.read(stories());
    try (SafetensorsReader r = SafetensorsReader.open(stories())) {
      assertEquals(47, r.names().size());
      assertEquals(config.expectedTensors().keySet(), r.names());
      config.check(r);
      long params = 0;
      for (String name : r.names()) {
        assertEquals(DType.F32, r.info(name).dtype());
        params += r.floats(name).length;
      }
      assertEquals(260_032, params);
      assertArrayEquals(new long[] {64}, r.info("model.norm.weight").shape());
      assertEquals("model.safetensors", r.fileName("model.norm.weight"));
    }
  }

  @Test
  void writingWhatWasReadGivesTheSameBytes() throws IOException {
    Path original = stories().resolve("model.safetensors");
    Path copy = dir.resolve("copy.safetensors");
    try (SafetensorsReader r = SafetensorsReader.open(original)) {
      new SafetensorsWriter().addAll(r).write(copy);
    }
    assertArrayEquals(Files.readAllBytes(original), Files.readAllBytes(copy));
    try (var files = Files.list(dir)) {
      assertEquals(1, files.count(), "no temporary file is left behind");
    }
  }

  @Test
  void convertsHalfPrecisionAndReadsIntegers() throws IOException {
    ByteBuffer f16 = le(8).putShort((short) 0x3C00).putShort((short) 0xC000);
    f16.putShort((short) 0x0001).putShort((short) 0x7C00).flip();
    ByteBuffer bf16 = le(4).putShort((short) 0x3F80).putShort((short) 0xC0A0).flip();
    ByteBuffer i64 = le(16).putLong(-3).putLong(1L << 40).flip();
    ByteBuffer i32 = le(8).putInt(7).putInt(-9).flip();
    Path file = dir.resolve("mixed.safetensors");
    new SafetensorsWriter()
        .metadata("format", "pt")
        .add("h", DType.F16, new long[] {2, 2}, f16)
        .add("b", DType.BF16, new long[] {2}, bf16)
        .add("l", DType.I64, new long[] {2}, i64)
        .add("i", DType.I32, new long[] {2}, i32)
        .write(file);
    try (SafetensorsReader r = SafetensorsReader.open(file)) {
      assertArrayEquals(new float[] {1f, -2f, 0x1p-24f, Float.POSITIVE_INFINITY}, r.floats("h"));
      assertArrayEquals(new float[] {1f, -5f}, r.floats("b"));
      assertArrayEquals(new long[] {-3, 1L << 40}, r.longs("l"));
      assertArrayEquals(new long[] {7, -9}, r.longs("i"));
      assertArrayEquals(new int[] {7, -9}, r.ints("i"));
      ByteBuffer copy = r.read("l", ByteBuffer.allocate(16)).order(ByteOrder.LITTLE_ENDIAN);
      assertEquals(r.bytes("l"), copy);
      IllegalArgumentException size =
          assertThrows(IllegalArgumentException.class, () -> r.read("l", ByteBuffer.allocate(8)));
      assertEquals(
          "mixed.safetensors: tensor \"l\" has 16 bytes; the buffer has room for 8.",
          size.getMessage());
      assertEquals(Map.of("format", "pt"), r.metadata());
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> r.ints("l"));
      assertEquals(
          "mixed.safetensors: tensor \"l\" holds 1099511627776 at index 1, beyond the int range.",
          e.getMessage());
    }
    // the Rust crate's layout: larger dtypes first, then names; header padded to 8 bytes
    String header = header(file);
    assertEquals(0, header.length() % 8);
    assertEquals(
        "{\"__metadata__\":{\"format\":\"pt\"},"
            + "\"l\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]},"
            + "\"i\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[16,24]},"
            + "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[24,28]},"
            + "\"h\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[28,36]}}",
        header.stripTrailing());
  }

  @Test
  void aShardedCheckpointReadsBackThroughItsIndex() throws IOException {
    SafetensorsWriter w = new SafetensorsWriter().metadata("format", "pt");
    for (int i = 0; i < 4; i++) {
      float[] values = new float[16];
      Arrays.fill(values, i);
      w.add("layer." + i + ".weight", new long[] {4, 4}, values);
    }
    Path folder = dir.resolve("sharded");
    w.writeSharded(folder, 128);
    try (SafetensorsReader r = SafetensorsReader.open(folder)) {
      assertEquals(SafetensorsReader.INDEX_FILE, r.source());
      assertEquals(4, r.names().size());
      assertEquals("model-00001-of-00002.safetensors", r.fileName("layer.0.weight"));
      assertEquals("model-00002-of-00002.safetensors", r.fileName("layer.3.weight"));
      for (int i = 0; i < 4; i++) {
        float[] expected = new float[16];
        Arrays.fill(expected, i);
        assertArrayEquals(expected, r.floats("layer." + i + ".weight"));
      }
      assertEquals("256", r.metadata().get("total_size"));
    }
  }

  @Test
  void anIndexNamingATensorItsShardLacksIsRejected() throws IOException {
    new SafetensorsWriter()
        .add("a", new long[] {1}, new float[] {1})
        .write(dir.resolve("s.safetensors"));
    Files.writeString(
        dir.resolve(SafetensorsReader.INDEX_FILE),
        "{\"weight_map\": {\"a\": \"s.safetensors\", \"b\": \"s.safetensors\"}}");
    assertMessage(
        "model.safetensors.index.json: tensor \"b\" is mapped to s.safetensors, which lacks it.",
        dir);
  }

  @Test
  void aTruncatedFileIsRejected() throws IOException {
    byte[] bytes = Files.readAllBytes(stories().resolve("model.safetensors"));
    Path file = dir.resolve("model.safetensors");
    Files.write(file, Arrays.copyOf(bytes, bytes.length - 100));
    assertMessage(
        "model.safetensors: the tensors need 1040128 bytes of data but the file holds 1040028"
            + " after the header (truncated file?).",
        file);
  }

  @Test
  void aFileShorterThanTheLengthFieldIsRejected() throws IOException {
    Path file = dir.resolve("model.safetensors");
    Files.write(file, new byte[] {1, 2, 3});
    assertMessage(
        "model.safetensors: file is 3 bytes, too short for the 8-byte header length.", file);
  }

  @Test
  void aHeaderLengthBeyondTheFileIsRejected() throws IOException {
    Path file = dir.resolve("model.safetensors");
    Files.write(file, le(16).putLong(1000).putLong(0).array());
    assertMessage(
        "model.safetensors: header length 1000 exceeds the file size minus 8 (8 bytes).", file);
  }

  @Test
  void aHeaderThatIsNotJsonIsRejected() throws IOException {
    Path file = write("{\"a\": [1,}");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> open(file));
    assertEquals(
        fixed(
            "model.safetensors: header is not valid JSON (Unexpected character ('}'"
                + " (code 125)): expected a value)."),
        e.getMessage().replace("\n", " "));
  }

  @Test
  void anUnknownDtypeIsRejected() throws IOException {
    Path file = write("{\"w\": {\"dtype\": \"F33\", \"shape\": [1], \"data_offsets\": [0, 4]}}");
    assertMessage(
        "model.safetensors: tensor \"w\" has unknown dtype \"F33\"; known: BOOL, U8, I8, F8_E5M2,"
            + " F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64.",
        file);
  }

  @Test
  void aShapeDisagreeingWithTheOffsetsIsRejected() throws IOException {
    Path file =
        write(
            "{\"model.norm.weight\": {\"dtype\": \"F32\", \"shape\": [64], \"data_offsets\": [0,"
                + " 252]}}");
    assertMessage(
        "model.safetensors: tensor \"model.norm.weight\" has dtype F32 and shape [64] (256 bytes)"
            + " but data_offsets span 252 bytes.",
        file);
  }

  @Test
  void overlappingOffsetsAreRejected() throws IOException {
    Path file =
        write(
            "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                + " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}");
    assertMessage(
        "model.safetensors: tensors \"a\" and \"b\" overlap (bytes 4 to 8 of the data region).",
        file);
  }

  @Test
  void aGapBetweenTensorsIsRejected() throws IOException {
    Path file =
        write(
            "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
                + " \"b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 12]}}");
    assertMessage(
        "model.safetensors: tensor \"b\" starts at byte 8 of the data region, leaving a gap after"
            + " byte 4.",
        file);
  }

  @Test
  void aClosedReaderRefusesAccess() throws IOException {
    SafetensorsReader r = SafetensorsReader.open(stories());
    r.close();
    IllegalStateException e =
        assertThrows(IllegalStateException.class, () -> r.floats("model.norm.weight"));
    assertEquals("model.safetensors: the reader is closed.", e.getMessage());
  }

  /** A model.safetensors with the given header and 12 bytes of data. */
  private Path write(String header) throws IOException {
    byte[] json = header.getBytes(StandardCharsets.UTF_8);
    ByteBuffer b = le(8 + json.length + 12).putLong(json.length).put(json);
    Path file = dir.resolve("model.safetensors");
    Files.write(file, b.array());
    return file;
  }

  private static String header(Path file) throws IOException {
    byte[] bytes = Files.readAllBytes(file);
    int n = (int) ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getLong();
    return new String(bytes, 8, n, StandardCharsets.UTF_8);
  }

  private static ByteBuffer le(int size) {
    return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
  }

  private static void open(Path path) throws IOException {
    SafetensorsReader.open(path).close();
  }

  /** A refusal of a damaged file: {@code expected}, its full stop replaced by the fix. */
  private static void assertMessage(String expected, Path path) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> open(path));
    assertEquals(fixed(expected), e.getMessage());
  }

  private static String fixed(String expected) {
    return expected.substring(0, expected.length() - 1) + SafetensorsFile.FIX;
  }
}
