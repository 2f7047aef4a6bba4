package dev.graft.model;

import dev.graft.api.progress.Progress;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Collects tensors and writes them as a safetensors file (or a sharded checkpoint with its index),
 * in the layout of the Rust {@code safetensors} crate that Hugging Face uses: tensors ordered by
 * descending dtype then name, compact header JSON, {@code __metadata__} first, the header padded
 * with spaces to a multiple of 8 bytes. Reading a Hugging Face file and writing it back gives the
 * same bytes. Files are written to a temporary name in the target folder and then renamed.
 */
public final class SafetensorsWriter {

  private record Tensor(TensorInfo info, ByteBuffer data) {}

  private final Map<String, String> metadata = new TreeMap<>();
  private final Map<String, Tensor> tensors = new LinkedHashMap<>();

  /** Creates an empty writer. */
  public SafetensorsWriter() {}

  /** Adds a {@code __metadata__} entry, e.g. {@code ("format", "pt")}. */
  public SafetensorsWriter metadata(String key, String value) {
    metadata.put(key, value);
    return this;
  }

  /**
   * Adds a tensor. The buffer's remaining bytes (little-endian) are the data; it is read when
   * writing, not copied now.
   *
   * @throws IllegalArgumentException when the name is taken or the data size disagrees with the
   *     dtype and shape
   */
  public SafetensorsWriter add(String name, DType dtype, long[] shape, ByteBuffer data) {
    TensorInfo info = new TensorInfo(name, dtype, shape.clone());
    if (name.equals("__metadata__") || tensors.containsKey(name)) {
      throw new IllegalArgumentException("Tensor name \"" + name + "\" is already used.");
    }
    if (info.byteSize() != data.remaining()) {
      throw new IllegalArgumentException(
          String.format(
              "Tensor \"%s\" has dtype %s and shape %s (%d bytes) but %d bytes of data.",
              name, dtype, java.util.Arrays.toString(shape), info.byteSize(), data.remaining()));
    }
    tensors.put(name, new Tensor(info, data.slice()));
    return this;
  }

  /** Adds an F32 tensor. */
  public SafetensorsWriter add(String name, long[] shape, float[] values) {
    ByteBuffer b = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
    b.asFloatBuffer().put(values);
    return add(name, DType.F32, shape, b);
  }

  /** Adds every tensor of a reader (mapped, not copied) and its metadata. */
  public SafetensorsWriter addAll(SafetensorsReader reader) {
    reader.metadata().forEach(this::metadata);
    for (String name : reader.names()) {
      TensorInfo info = reader.info(name);
      add(name, info.dtype(), info.shape(), reader.bytes(name));
    }
    return this;
  }

  /** Writes one safetensors file, atomically. */
  public void write(Path file) throws IOException {
    writeFile(file, ordered(new ArrayList<>(tensors.values())), metadata);
  }

  /**
   * Writes a sharded checkpoint into {@code folder}: {@code model-00001-of-0000N.safetensors} …
   * with at most {@code maxShardBytes} of tensor data each (a larger tensor gets a shard of its
   * own), and {@value SafetensorsReader#INDEX_FILE} mapping every tensor to its shard. Each file is
   * written atomically; the index last.
   */
  public void writeSharded(Path folder, long maxShardBytes) throws IOException {
    List<List<Tensor>> shards = new ArrayList<>();
    List<Tensor> current = new ArrayList<>();
    long size = 0;
    long total = 0;
    for (Tensor t : ordered(new ArrayList<>(tensors.values()))) {
      long bytes = t.info().byteSize();
      if (!current.isEmpty() && size + bytes > maxShardBytes) {
        shards.add(current);
        current = new ArrayList<>();
        size = 0;
      }
      current.add(t);
      size += bytes;
      total += bytes;
    }
    shards.add(current);
    Files.createDirectories(folder);
    Map<String, String> weightMap = new TreeMap<>();
    for (int i = 0; i < shards.size(); i++) {
      String name = String.format("model-%05d-of-%05d.safetensors", i + 1, shards.size());
      writeFile(folder.resolve(name), shards.get(i), metadata);
      shards.get(i).forEach(t -> weightMap.put(t.info().name(), name));
    }
    StringBuilder index = new StringBuilder("{\n  \"metadata\": {\n    \"total_size\": ");
    index.append(total).append("\n  },\n  \"weight_map\": {");
    String sep = "\n";
    for (Map.Entry<String, String> e : weightMap.entrySet()) {
      index.append(sep).append("    ").append(quote(e.getKey())).append(": ");
      index.append(quote(e.getValue()));
      sep = ",\n";
    }
    index.append("\n  }\n}\n");
    atomicWrite(
        folder.resolve(SafetensorsReader.INDEX_FILE),
        List.of(ByteBuffer.wrap(index.toString().getBytes(StandardCharsets.UTF_8))));
  }

  /** The Rust crate's order: larger dtypes first (declaration order descending), then by name. */
  private static List<Tensor> ordered(List<Tensor> list) {
    list.sort(
        Comparator.comparing((Tensor t) -> t.info().dtype(), Comparator.reverseOrder())
            .thenComparing(t -> t.info().name()));
    return list;
  }

  private static void writeFile(Path file, List<Tensor> list, Map<String, String> metadata)
      throws IOException {
    StringBuilder json = new StringBuilder("{");
    if (!metadata.isEmpty()) {
      json.append("\"__metadata__\":{");
      String sep = "";
      for (Map.Entry<String, String> e : metadata.entrySet()) {
        json.append(sep).append(quote(e.getKey())).append(':').append(quote(e.getValue()));
        sep = ",";
      }
      json.append('}');
    }
    long offset = 0;
    for (Tensor t : list) {
      if (json.length() > 1) {
        json.append(',');
      }
      TensorInfo info = t.info();
      json.append(quote(info.name())).append(":{\"dtype\":\"").append(info.dtype());
      json.append("\",\"shape\":[");
      for (int i = 0; i < info.shape().length; i++) {
        json.append(i == 0 ? "" : ",").append(info.shape()[i]);
      }
      long end = offset + info.byteSize();
      json.append("],\"data_offsets\":[").append(offset).append(',').append(end).append("]}");
      offset = end;
    }
    json.append('}');
    byte[] header = json.toString().getBytes(StandardCharsets.UTF_8);
    int padded = (header.length + 7) / 8 * 8;
    ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
    head.putLong(padded).put(header);
    while (head.hasRemaining()) {
      head.put((byte) ' ');
    }
    List<ByteBuffer> buffers = new ArrayList<>();
    buffers.add(head.flip());
    list.forEach(t -> buffers.add(t.data().duplicate()));
    atomicWrite(file, buffers);
  }

  private static void atomicWrite(Path file, List<ByteBuffer> buffers) throws IOException {
    long bytes = buffers.stream().mapToLong(ByteBuffer::remaining).sum();
    AtomicFiles.writeFile(
        file,
        tmp -> {
          try (FileChannel ch =
                  FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
              Progress.Task task =
                  Progress.start("writing " + file.getFileName(), bytes, "bytes")) {
            for (ByteBuffer b : buffers) {
              while (b.hasRemaining()) {
                task.advance(ch.write(b));
              }
            }
          }
        });
  }

  /** JSON string literal as serde_json writes it (escapes quote, backslash, control chars). */
  private static String quote(String s) {
    StringBuilder b = new StringBuilder(s.length() + 2).append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> b.append("\\\"");
        case '\\' -> b.append("\\\\");
        case '\n' -> b.append("\\n");
        case '\r' -> b.append("\\r");
        case '\t' -> b.append("\\t");
        case '\b' -> b.append("\\b");
        case '\f' -> b.append("\\f");
        default -> {
          if (c < 0x20) {
            b.append(String.format("\\u%04x", (int) c));
          } else {
            b.append(c);
          }
        }
      }
    }
    return b.append('"').toString();
  }
}
