package dev.graft.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.graph.ExternalData;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Reads a safetensors checkpoint: one file, or the shards named by a {@code
 * model.safetensors.index.json}. Tensor data is memory-mapped on request, never copied into the
 * heap unless converted with {@link #floats}, {@link #longs} or {@link #ints}. Every header is
 * validated when the reader opens, so a reader never holds a half-understood checkpoint.
 *
 * <p>Close the reader when done; buffers it handed out must not be used after that.
 */
public final class SafetensorsReader implements AutoCloseable {

  /** The file name Hugging Face uses for an unsharded checkpoint. */
  public static final String SINGLE_FILE = "model.safetensors";

  /** The file name Hugging Face uses for the index of a sharded checkpoint. */
  public static final String INDEX_FILE = "model.safetensors.index.json";

  private final String source;
  private final Map<String, SafetensorsFile> fileOf;
  private final Map<String, String> metadata;
  private final Set<SafetensorsFile> files;
  private boolean closed;

  private SafetensorsReader(
      String source,
      Map<String, SafetensorsFile> fileOf,
      Map<String, String> metadata,
      Set<SafetensorsFile> files) {
    this.source = source;
    this.fileOf = fileOf;
    this.metadata = metadata;
    this.files = files;
  }

  /**
   * Opens a checkpoint. {@code path} is a {@code .safetensors} file, an index {@code .json} file,
   * or a model folder holding {@value #INDEX_FILE} or {@value #SINGLE_FILE}.
   *
   * @throws IllegalArgumentException when a header or the index is malformed (one sentence naming
   *     the file and the tensor or field)
   * @throws IOException when a file cannot be read
   */
  public static SafetensorsReader open(Path path) throws IOException {
    if (Files.isDirectory(path)) {
      if (Files.exists(path.resolve(INDEX_FILE))) {
        return openIndex(path.resolve(INDEX_FILE));
      }
      if (!Files.exists(path.resolve(SINGLE_FILE))) {
        for (String pickle : List.of("pytorch_model.bin", "pytorch_model.bin.index.json")) {
          if (Files.exists(path.resolve(pickle))) {
            refusePickle(path.resolve(pickle));
          }
        }
        throw new IllegalArgumentException(
            path + ": holds neither " + SINGLE_FILE + " nor " + INDEX_FILE + ".");
      }
      path = path.resolve(SINGLE_FILE);
    }
    String fileName = path.getFileName().toString();
    if (PICKLE.stream().anyMatch(fileName::endsWith)) {
      refusePickle(path);
    }
    if (path.getFileName().toString().endsWith(".json")) {
      return openIndex(path);
    }
    SafetensorsFile file = SafetensorsFile.open(path);
    Map<String, SafetensorsFile> fileOf = new LinkedHashMap<>();
    file.entries.keySet().forEach(name -> fileOf.put(name, file));
    return new SafetensorsReader(
        path.getFileName().toString(), fileOf, file.metadata, Set.of(file));
  }

  /** Endings of PyTorch pickle checkpoints, which Graft never unpickles. */
  private static final List<String> PICKLE =
      List.of(".bin", ".pt", ".pth", ".ckpt", ".pkl", ".bin.index.json");

  /** Unpickling runs whatever code the file names, so a pickle checkpoint is refused unread. */
  private static void refusePickle(Path file) {
    throw new IllegalArgumentException(
        file
            + ": is a PyTorch pickle checkpoint, which Graft does not read (unpickling can run"
            + " code); convert it to safetensors, e.g. with transformers' save_pretrained(dir,"
            + " safe_serialization=True).");
  }

  private static SafetensorsReader openIndex(Path index) throws IOException {
    String name = index.getFileName().toString();
    JsonNode root;
    try {
      root = new ObjectMapper().readTree(index.toFile());
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IllegalArgumentException(
          name + ": is not valid JSON (" + e.getOriginalMessage() + ")" + SafetensorsFile.FIX);
    }
    JsonNode weightMap = root == null ? null : root.get("weight_map");
    if (weightMap == null || !weightMap.isObject()) {
      throw new IllegalArgumentException(
          name + ": has no \"weight_map\" object" + SafetensorsFile.FIX);
    }
    Map<String, String> metadata = new LinkedHashMap<>();
    JsonNode meta = root.get("metadata");
    if (meta != null && meta.isObject()) {
      meta.fields().forEachRemaining(kv -> metadata.put(kv.getKey(), kv.getValue().asText()));
    }
    Map<String, SafetensorsFile> shards = new LinkedHashMap<>();
    Map<String, SafetensorsFile> fileOf = new TreeMap<>();
    try {
      for (Iterator<Map.Entry<String, JsonNode>> it = weightMap.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> kv = it.next();
        String shard = kv.getValue().asText();
        if (!kv.getValue().isTextual() || shard.contains("/") || shard.contains("\\")) {
          throw new IllegalArgumentException(
              name
                  + ": tensor \""
                  + kv.getKey()
                  + "\" maps to "
                  + kv.getValue()
                  + ", not a file name"
                  + SafetensorsFile.FIX);
        }
        Path shardPath = index.resolveSibling(shard);
        if (!shards.containsKey(shard)) {
          if (!Files.isRegularFile(shardPath)) {
            throw new IllegalArgumentException(
                name
                    + ": shard \""
                    + shard
                    + "\" (of tensor \""
                    + kv.getKey()
                    + "\") is missing"
                    + SafetensorsFile.FIX);
          }
          shards.put(shard, SafetensorsFile.open(shardPath));
        }
        SafetensorsFile file = shards.get(shard);
        if (!file.entries.containsKey(kv.getKey())) {
          throw new IllegalArgumentException(
              name
                  + ": tensor \""
                  + kv.getKey()
                  + "\" is mapped to "
                  + shard
                  + ", which lacks it"
                  + SafetensorsFile.FIX);
        }
        fileOf.put(kv.getKey(), file);
      }
    } catch (RuntimeException | IOException e) {
      for (SafetensorsFile f : shards.values()) {
        f.close();
      }
      throw e;
    }
    return new SafetensorsReader(name, fileOf, metadata, Set.copyOf(shards.values()));
  }

  /** The file the reader was opened on: the {@code .safetensors} file or the index file name. */
  public String source() {
    return source;
  }

  /** Tensor names, sorted. */
  public Set<String> names() {
    return Collections.unmodifiableSet(fileOf.keySet());
  }

  /** Whether the checkpoint holds a tensor of this name. */
  public boolean contains(String name) {
    return fileOf.containsKey(name);
  }

  /**
   * The {@code __metadata__} of a single file, or the {@code metadata} of an index (values as
   * text).
   */
  public Map<String, String> metadata() {
    return Collections.unmodifiableMap(metadata);
  }

  /**
   * Dtype and shape of a tensor.
   *
   * @throws IllegalArgumentException when there is no such tensor
   */
  public TensorInfo info(String name) {
    return entry(name).info();
  }

  /** The name of the file (shard) that holds the tensor. */
  public String fileName(String name) {
    entry(name);
    return fileOf.get(name).path.getFileName().toString();
  }

  /**
   * The tensor's raw bytes, memory-mapped, read-only, little-endian; valid until {@link #close}.
   */
  public ByteBuffer bytes(String name) {
    SafetensorsFile.Entry e = entry(name);
    try {
      return fileOf.get(name).map(e);
    } catch (IOException ex) {
      throw new UncheckedIOException(ex);
    }
  }

  /**
   * Where the tensor's bytes lie in its file, for a runtime that reads them itself: the file's name
   * (relative to {@link #folder}), the offset of its first byte and the byte count.
   */
  public ExternalData externalData(String name) {
    SafetensorsFile.Entry e = entry(name);
    SafetensorsFile file = fileOf.get(name);
    return new ExternalData(
        file.path.getFileName().toString(), file.offset(e), e.end() - e.begin());
  }

  /**
   * Reads the tensor's raw bytes into {@code target} (from its position; its remaining space must
   * be the tensor's byte count) and returns {@code target} flipped over them: a copy that does not
   * map the file.
   *
   * @throws IllegalArgumentException when there is no such tensor or the sizes differ
   */
  public ByteBuffer read(String name, ByteBuffer target) {
    SafetensorsFile.Entry e = entry(name);
    if (target.remaining() != e.end() - e.begin()) {
      throw new IllegalArgumentException(
          source
              + ": tensor \""
              + name
              + "\" has "
              + (e.end() - e.begin())
              + " bytes; the buffer has room for "
              + target.remaining()
              + ".");
    }
    try {
      fileOf.get(name).read(e, target);
    } catch (IOException ex) {
      throw new UncheckedIOException(ex);
    }
    return target.flip();
  }

  /** The folder that holds the tensor's file. */
  public Path folder(String name) {
    entry(name);
    return fileOf.get(name).path.toAbsolutePath().getParent();
  }

  /**
   * The tensor as float32 values (row-major), converted from F32, F16, BF16 or F64.
   *
   * @throws IllegalArgumentException for another dtype
   */
  public float[] floats(String name) {
    TensorInfo info = info(name);
    ByteBuffer b = bytes(name);
    float[] out = new float[checkedLength(info)];
    switch (info.dtype()) {
      case F32 -> b.asFloatBuffer().get(out);
      case F16 -> {
        for (int i = 0; i < out.length; i++) {
          out[i] = Half.toFloat(b.getShort(2 * i));
        }
      }
      case BF16 -> {
        for (int i = 0; i < out.length; i++) {
          out[i] = Half.bfloat16ToFloat(b.getShort(2 * i));
        }
      }
      case F64 -> {
        for (int i = 0; i < out.length; i++) {
          out[i] = (float) b.getDouble(8 * i);
        }
      }
      default -> throw wrongType(info, "F32, F16, BF16 or F64");
    }
    return out;
  }

  /**
   * The tensor as 64-bit integers, from I64 or I32.
   *
   * @throws IllegalArgumentException for another dtype
   */
  public long[] longs(String name) {
    TensorInfo info = info(name);
    ByteBuffer b = bytes(name);
    long[] out = new long[checkedLength(info)];
    switch (info.dtype()) {
      case I64 -> b.asLongBuffer().get(out);
      case I32 -> {
        for (int i = 0; i < out.length; i++) {
          out[i] = b.getInt(4 * i);
        }
      }
      default -> throw wrongType(info, "I64 or I32");
    }
    return out;
  }

  /**
   * The tensor as 32-bit integers, from I32, or from I64 when every value fits.
   *
   * @throws IllegalArgumentException for another dtype or an I64 value out of int range
   */
  public int[] ints(String name) {
    TensorInfo info = info(name);
    if (info.dtype() == DType.I32) {
      int[] out = new int[checkedLength(info)];
      bytes(name).asIntBuffer().get(out);
      return out;
    }
    if (info.dtype() != DType.I64) {
      throw wrongType(info, "I32 or I64");
    }
    long[] wide = longs(name);
    int[] out = new int[wide.length];
    for (int i = 0; i < wide.length; i++) {
      if (wide[i] != (int) wide[i]) {
        throw new IllegalArgumentException(
            String.format(
                "%s: tensor \"%s\" holds %d at index %d, beyond the int range.",
                fileName(name), name, wide[i], i));
      }
      out[i] = (int) wide[i];
    }
    return out;
  }

  private int checkedLength(TensorInfo info) {
    if (info.numel() > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException(
          String.format(
              "%s: tensor \"%s\" has %d elements, too many for one Java array.",
              fileName(info.name()), info.name(), info.numel()));
    }
    return (int) info.numel();
  }

  private IllegalArgumentException wrongType(TensorInfo info, String allowed) {
    return new IllegalArgumentException(
        String.format(
            "%s: tensor \"%s\" has dtype %s; this conversion reads %s.",
            fileName(info.name()), info.name(), info.dtype(), allowed));
  }

  private SafetensorsFile.Entry entry(String name) {
    if (closed) {
      throw new IllegalStateException(source + ": the reader is closed.");
    }
    SafetensorsFile file = fileOf.get(name);
    if (file == null) {
      throw new IllegalArgumentException(source + ": no tensor \"" + name + "\".");
    }
    return file.entries.get(name);
  }

  /** Closes the files; idempotent. */
  @Override
  public void close() throws IOException {
    if (closed) {
      return;
    }
    closed = true;
    IOException first = null;
    for (SafetensorsFile f : files) {
      try {
        f.close();
      } catch (IOException e) {
        first = first == null ? e : first;
      }
    }
    if (first != null) {
      throw first;
    }
  }
}
