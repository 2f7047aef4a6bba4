package dev.graft.model;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** One safetensors file: its validated header and an open channel to map tensor data from. */
final class SafetensorsFile implements AutoCloseable {

  /** Same limit as the Rust crate: a larger header is a corrupt or hostile file. */
  static final long MAX_HEADER_BYTES = 100L * 1024 * 1024;

  /** Rejects a header that names a tensor twice instead of keeping the last one silently. */
  private static final ObjectMapper JSON =
      new ObjectMapper().enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);

  /** What every refusal of a damaged file ends with: the fix. */
  static final String FIX =
      "; the file is damaged or not safetensors: export or download it again.";

  /** Where one tensor's bytes lie, relative to the start of the data region. */
  record Entry(TensorInfo info, long begin, long end) {}

  final Path path;
  final Map<String, Entry> entries;
  final Map<String, String> metadata;
  private final long dataStart;
  private final FileChannel channel;

  private SafetensorsFile(
      Path path,
      Map<String, Entry> entries,
      Map<String, String> metadata,
      long dataStart,
      FileChannel channel) {
    this.path = path;
    this.entries = entries;
    this.metadata = metadata;
    this.dataStart = dataStart;
    this.channel = channel;
  }

  /**
   * Opens and validates the whole header; nothing stays open when this throws. A refusal is one
   * sentence that names the file, the place and, at its end, the fix.
   */
  static SafetensorsFile open(Path path) throws IOException {
    FileChannel channel = FileChannel.open(path, StandardOpenOption.READ);
    try {
      return read(path, channel);
    } catch (IllegalArgumentException e) {
      channel.close();
      String m = e.getMessage();
      throw new IllegalArgumentException(
          (m.endsWith(".") ? m.substring(0, m.length() - 1) : m) + FIX);
    } catch (RuntimeException | IOException e) {
      channel.close();
      throw e;
    }
  }

  private static SafetensorsFile read(Path path, FileChannel channel) throws IOException {
    String file = path.getFileName().toString();
    long size = channel.size();
    if (size < 8) {
      throw new IllegalArgumentException(
          file + ": file is " + size + " bytes, too short for the 8-byte header length.");
    }
    ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
    readFully(channel, len, 0);
    long n = len.flip().getLong();
    if (n < 0 || n > size - 8) {
      throw new IllegalArgumentException(
          String.format(
              "%s: header length %s exceeds the file size minus 8 (%d bytes).",
              file, Long.toUnsignedString(n), size - 8));
    }
    if (n > MAX_HEADER_BYTES) {
      throw new IllegalArgumentException(
          String.format(
              "%s: header length %d exceeds the limit of %d bytes.", file, n, MAX_HEADER_BYTES));
    }
    ByteBuffer header = ByteBuffer.allocate((int) n);
    readFully(channel, header, 8);
    JsonNode root;
    try {
      root = JSON.readTree(new String(header.array(), StandardCharsets.UTF_8));
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException(
          file + ": header is not valid JSON (" + e.getOriginalMessage() + ").");
    }
    if (root == null || !root.isObject()) {
      throw new IllegalArgumentException(file + ": header is not a JSON object.");
    }
    Map<String, String> metadata = new LinkedHashMap<>();
    List<Entry> list = new ArrayList<>();
    for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> field = it.next();
      if (field.getKey().equals("__metadata__")) {
        readMetadata(file, field.getValue(), metadata);
      } else {
        list.add(entry(file, field.getKey(), field.getValue()));
      }
    }
    long dataSize = size - 8 - n;
    checkLayout(file, list, dataSize);
    Map<String, Entry> entries = new LinkedHashMap<>();
    list.stream()
        .sorted(Comparator.comparing(e -> e.info().name()))
        .forEach(e -> entries.put(e.info().name(), e));
    return new SafetensorsFile(path, entries, metadata, 8 + n, channel);
  }

  private static void readMetadata(String file, JsonNode node, Map<String, String> metadata) {
    if (!node.isObject()) {
      throw new IllegalArgumentException(file + ": __metadata__ is not a JSON object.");
    }
    node.fields()
        .forEachRemaining(
            kv -> {
              if (!kv.getValue().isTextual()) {
                throw new IllegalArgumentException(
                    file
                        + ": __metadata__ \""
                        + kv.getKey()
                        + "\" is "
                        + kv.getValue()
                        + ", not a string.");
              }
              metadata.put(kv.getKey(), kv.getValue().asText());
            });
  }

  private static Entry entry(String file, String name, JsonNode node) {
    String tensor = file + ": tensor \"" + name + "\"";
    if (name.isEmpty()
        || name.contains("/")
        || name.contains("\\")
        || name.contains("..")
        || name.chars().anyMatch(Character::isISOControl)) {
      throw new IllegalArgumentException(
          tensor.replace("\n", "\\n")
              + " has a name that is empty or holds '/', '\\', '..' or a control character");
    }
    if (!node.isObject()) {
      throw new IllegalArgumentException(tensor + " is not described by a JSON object.");
    }
    JsonNode dtypeNode = node.get("dtype");
    DType dtype =
        dtypeNode != null && dtypeNode.isTextual() ? DType.parse(dtypeNode.asText()) : null;
    if (dtype == null) {
      throw new IllegalArgumentException(
          tensor + " has unknown dtype " + dtypeNode + "; known: " + DType.known() + ".");
    }
    long[] shape = longs(node.get("shape"), -1);
    if (shape == null) {
      throw new IllegalArgumentException(
          tensor + " has shape " + node.get("shape") + ", not a list of non-negative integers.");
    }
    long[] offsets = longs(node.get("data_offsets"), 2);
    if (offsets == null || offsets[1] < offsets[0]) {
      throw new IllegalArgumentException(
          tensor
              + " has data_offsets "
              + node.get("data_offsets")
              + ", not [begin, end] with 0 <= begin <= end.");
    }
    TensorInfo info = new TensorInfo(name, dtype, shape);
    long bytes;
    try {
      bytes = Math.multiplyExact(info.numel(), dtype.size());
    } catch (ArithmeticException e) {
      bytes = -1;
    }
    if (bytes != offsets[1] - offsets[0]) {
      throw new IllegalArgumentException(
          String.format(
              "%s has dtype %s and shape %s (%s bytes) but data_offsets span %d bytes.",
              tensor,
              dtype,
              Arrays.toString(shape),
              bytes < 0 ? "too many" : Long.toString(bytes),
              offsets[1] - offsets[0]));
    }
    return new Entry(info, offsets[0], offsets[1]);
  }

  /** The non-negative integers of a JSON array (of {@code count} elements when count >= 0). */
  private static long[] longs(JsonNode node, int count) {
    if (node == null || !node.isArray() || (count >= 0 && node.size() != count)) {
      return null;
    }
    long[] values = new long[node.size()];
    for (int i = 0; i < values.length; i++) {
      JsonNode v = node.get(i);
      if (!v.canConvertToExactIntegral() || !v.canConvertToLong() || v.asLong() < 0) {
        return null;
      }
      values[i] = v.asLong();
    }
    return values;
  }

  /** Tensors must tile the data region exactly: sorted, no overlap, no gap, nothing left over. */
  private static void checkLayout(String file, List<Entry> list, long dataSize) {
    List<Entry> byOffset = new ArrayList<>(list);
    byOffset.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
    long end = 0;
    String previous = null;
    for (Entry e : byOffset) {
      String name = e.info().name();
      if (e.begin() < end) {
        throw new IllegalArgumentException(
            String.format(
                "%s: tensors \"%s\" and \"%s\" overlap (bytes %d to %d of the data region).",
                file, previous, name, e.begin(), end));
      }
      if (e.begin() > end) {
        throw new IllegalArgumentException(
            String.format(
                "%s: tensor \"%s\" starts at byte %d of the data region, leaving a gap after byte %d.",
                file, name, e.begin(), end));
      }
      end = e.end();
      previous = name;
    }
    if (end > dataSize) {
      throw new IllegalArgumentException(
          String.format(
              "%s: the tensors need %d bytes of data but the file holds %d after the header"
                  + " (truncated file?).",
              file, end, dataSize));
    }
    if (end < dataSize) {
      throw new IllegalArgumentException(
          String.format(
              "%s: the file holds %d bytes of data after the header but the tensors cover only %d.",
              file, dataSize, end));
    }
  }

  private static void readFully(FileChannel channel, ByteBuffer buffer, long position)
      throws IOException {
    while (buffer.hasRemaining()) {
      int read = channel.read(buffer, position + buffer.position());
      if (read < 0) {
        throw new IOException("Unexpected end of file");
      }
    }
  }

  /** Maps the tensor's bytes read-only, little-endian. */
  /** The offset in the file of the entry's first byte. */
  long offset(Entry e) {
    return dataStart + e.begin();
  }

  /** Reads the entry's bytes into {@code target}, from its position to its limit. */
  void read(Entry e, ByteBuffer target) throws IOException {
    long position = offset(e);
    while (target.hasRemaining()) {
      int n = channel.read(target, position);
      if (n < 0) {
        throw new IOException(
            path.getFileName() + " ends inside tensor \"" + e.info().name() + "\".");
      }
      position += n;
    }
  }

  ByteBuffer map(Entry e) throws IOException {
    long length = e.end() - e.begin();
    if (length > Integer.MAX_VALUE) {
      throw new IllegalArgumentException(
          path.getFileName()
              + ": tensor \""
              + e.info().name()
              + "\" has "
              + length
              + " bytes, more than one buffer can map (2 GiB).");
    }
    if (length == 0) {
      return ByteBuffer.allocate(0).order(ByteOrder.LITTLE_ENDIAN).asReadOnlyBuffer();
    }
    return channel
        .map(FileChannel.MapMode.READ_ONLY, dataStart + e.begin(), length)
        .order(ByteOrder.LITTLE_ENDIAN);
  }

  @Override
  public void close() throws IOException {
    channel.close();
  }
}
