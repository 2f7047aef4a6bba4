package dev.graft.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.graft.api.progress.Progress;
import dev.graft.api.quant.FourBit;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Checkpoints whose linear weights are stored 4-bit quantised, in the layout bitsandbytes gives a
 * {@code Params4bit} in its state dict (transformers saves 4-bit models so). For a weight {@code
 * <m>.weight} of n elements and shape S, quantised in blocks of 64 ({@link FourBit}):
 *
 * <pre>
 * &lt;m&gt;.weight                                   U8  (ceil(n/2), 1)  two codes a byte, high nibble first
 * &lt;m&gt;.weight.absmax                            U8  (blocks)        8-bit codes of absmax − offset (double quantisation)
 *                                              F32 (blocks)        the scales themselves (without)
 * &lt;m&gt;.weight.quant_map                         F32 (16)            the 4-bit type's values
 * &lt;m&gt;.weight.nested_absmax                     F32 (ceil(blocks/256))  scales of the absmax codes (double quantisation)
 * &lt;m&gt;.weight.nested_quant_map                  F32 (256)           the signed dynamic map (double quantisation)
 * &lt;m&gt;.weight.quant_state.bitsandbytes__&lt;type&gt;   U8  (bytes)         JSON: quant_type, blocksize, dtype, shape S,
 *                                                                  nested_blocksize, nested_dtype, nested_offset
 * </pre>
 *
 * <p>{@code config.json} carries transformers' {@code quantization_config} ({@code
 * BitsAndBytesConfig}); Graft reads the layout from the tensors, which describe themselves, and
 * checks every one of them when a folder is opened.
 */
public final class FourBitCheckpoint {
  /** The key of the quantisation settings in {@code config.json}. */
  public static final String CONFIG_KEY = "quantization_config";

  private static final String QUANT_STATE = ".quant_state.bitsandbytes__";
  private static final ObjectMapper JSON = new ObjectMapper();

  private FourBitCheckpoint() {}

  /**
   * How one 4-bit weight is stored.
   *
   * @param name the weight's tensor name (its codes)
   * @param type the 4-bit data type
   * @param shape the weight's shape S
   * @param offset the mean absmax subtracted before its quantisation; 0 unless {@code nested}
   * @param nested whether the block scales are double-quantised
   */
  public record Stored(String name, FourBit.Type type, long[] shape, float offset, boolean nested) {
    /** Elements of the weight. */
    public int n() {
      long n = 1;
      for (long d : shape) {
        n *= d;
      }
      return Math.toIntExact(n);
    }

    /** The tensor of the block scales: 8-bit codes when {@code nested}, else float32. */
    public String absmax() {
      return name + ".absmax";
    }

    /** The tensor of the scales of the absmax codes; present when {@code nested}. */
    public String nestedAbsmax() {
      return name + ".nested_absmax";
    }

    /** Every tensor of the layout, the codes first. */
    public List<String> tensors() {
      List<String> t = new ArrayList<>(List.of(name, absmax(), name + ".quant_map"));
      if (nested) {
        t.addAll(List.of(nestedAbsmax(), name + ".nested_quant_map"));
      }
      t.add(name + QUANT_STATE + type.label());
      return t;
    }
  }

  /**
   * Whether the checkpoint stores weight {@code name} 4-bit quantised: beside a quant_state, or as
   * bytes (U8) under a {@code .weight} name. {@link #describe} checks that the layout is whole.
   */
  public static boolean isQuantised(SafetensorsReader reader, String name) {
    return reader.contains(name)
        && (quantState(reader, name) != null
            || (name.endsWith(".weight") && reader.info(name).dtype() == DType.U8));
  }

  /**
   * How the checkpoint stores 4-bit weight {@code name}, every tensor of its layout checked.
   *
   * @throws IllegalArgumentException in one sentence naming the file and the tensor when a tensor
   *     of the layout is missing or has another type, shape or content than the quant_state implies
   */
  public static Stored describe(SafetensorsReader reader, String name) {
    String state = quantState(reader, name);
    if (state == null) {
      throw damaged(reader, name, "lacks its quant_state tensor (" + name + QUANT_STATE + "nf4)");
    }
    JsonNode json;
    try {
      json = JSON.readTree(bytes(reader, state));
    } catch (IOException e) {
      throw damaged(reader, name, "has a quant_state that is not JSON");
    }
    FourBit.Type type;
    try {
      type = FourBit.Type.of(json.path("quant_type").asText());
    } catch (IllegalArgumentException e) {
      throw damaged(reader, name, "has a quant_state of unknown quant_type");
    }
    if (json.path("blocksize").asInt() != FourBit.BLOCK || !json.path("shape").isArray()) {
      throw damaged(reader, name, "has a quant_state without blocksize 64 and a shape");
    }
    long[] shape = new long[json.get("shape").size()];
    for (int i = 0; i < shape.length; i++) {
      shape[i] = json.get("shape").get(i).asLong();
    }
    boolean nested = json.has("nested_offset");
    if (nested && json.path("nested_blocksize").asInt() != FourBit.NESTED_BLOCK) {
      throw damaged(reader, name, "has a quant_state whose nested_blocksize is not 256");
    }
    Stored s =
        new Stored(
            name, type, shape, nested ? (float) json.get("nested_offset").asDouble() : 0f, nested);
    int blocks = (s.n() + FourBit.BLOCK - 1) / FourBit.BLOCK;
    expect(reader, name, name, DType.U8, (s.n() + 1) / 2);
    expect(reader, name, s.absmax(), nested ? DType.U8 : DType.F32, blocks);
    expectValues(reader, name, name + ".quant_map", type.code());
    if (nested) {
      expect(
          reader,
          name,
          s.nestedAbsmax(),
          DType.F32,
          (blocks + FourBit.NESTED_BLOCK - 1) / FourBit.NESTED_BLOCK);
      expectValues(reader, name, name + ".nested_quant_map", FourBit.dynamic());
    }
    return s;
  }

  /** The codes and scales of 4-bit weight {@code name}, checked as {@link #describe} checks. */
  public static FourBit.Quantised read(SafetensorsReader reader, String name) {
    Stored s = describe(reader, name);
    byte[] packed = bytes(reader, name);
    return s.nested()
        ? new FourBit.Quantised(
            s.type(),
            s.n(),
            packed,
            null,
            bytes(reader, s.absmax()),
            reader.floats(s.nestedAbsmax()),
            s.offset())
        : new FourBit.Quantised(s.type(), s.n(), packed, reader.floats(s.absmax()), null, null, 0f);
  }

  /**
   * Tensor {@code name} as float32, row-major: dequantised when the checkpoint stores it 4-bit,
   * else as {@link SafetensorsReader#floats} reads it.
   */
  public static float[] floats(SafetensorsReader reader, String name) {
    return isQuantised(reader, name) ? read(reader, name).dequantise() : reader.floats(name);
  }

  /**
   * The 4-bit type that a model folder's {@code config.json} says its linear weights are stored in.
   *
   * @throws IllegalArgumentException for a quantization_config Graft does not read (8-bit, or not
   *     bitsandbytes)
   */
  public static Optional<FourBit.Type> quantisation(Path modelDir) throws IOException {
    JsonNode config = JSON.readTree(Files.readAllBytes(modelDir.resolve(ModelConfig.FILE)));
    JsonNode q = config.get(CONFIG_KEY);
    if (q == null || q.isNull()) {
      return Optional.empty();
    }
    if (!q.path("load_in_4bit").asBoolean()) {
      throw new IllegalArgumentException(
          modelDir.resolve(ModelConfig.FILE)
              + ": quantization_config is not 4-bit bitsandbytes (load_in_4bit); Graft reads"
              + " float models and the 4-bit folders graft:quantize writes.");
    }
    return Optional.of(FourBit.Type.of(q.path("bnb_4bit_quant_type").asText("nf4")));
  }

  /** {@code config.json} of a model folder without its {@code quantization_config}. */
  public static String floatConfig(Path modelDir) throws IOException {
    ObjectNode config =
        (ObjectNode) JSON.readTree(Files.readAllBytes(modelDir.resolve(ModelConfig.FILE)));
    config.remove(CONFIG_KEY);
    return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(config) + "\n";
  }

  /**
   * Writes a 4-bit copy of a model folder ({@code graft:quantize}): the selected linear weights
   * quantised one at a time as they are read from the memory-mapped checkpoint (the float weight of
   * one layer and the codes written so far are what it holds), the other tensors copied, {@code
   * config.json} with a {@code quantization_config}, and every other file (tokenizer, generation
   * config) copied. The folder is written under a temporary name, then renamed.
   *
   * @param modules module names or suffixes (such as {@code q_proj}); empty: every linear layer but
   *     the output head
   * @throws IllegalArgumentException when the model is quantised already or a module matches no
   *     linear layer, naming the modules the model has
   */
  public static void write(
      Path modelDir, Path outDir, FourBit.Type type, boolean doubleQuant, List<String> modules)
      throws IOException {
    ModelConfig config = ModelConfig.read(modelDir.resolve(ModelConfig.FILE));
    try (SafetensorsReader reader = SafetensorsReader.open(modelDir)) {
      config.check(reader);
      for (String name : reader.names()) {
        if (isQuantised(reader, name)) {
          throw new IllegalArgumentException(
              modelDir + " is quantised already (\"" + name + "\"); quantise a float model.");
        }
      }
      ModelGraph graph = ModelGraph.build(config, dev.graft.graph.DType.FLOAT32);
      Map<String, String> selected = selected(graph, modules); // parameter -> module
      Set<String> quantised = new LinkedHashSet<>();
      selected.keySet().forEach(p -> quantised.add(config.nameIn(reader, p)));
      List<String> skipped =
          graph.linears().stream()
              .map(ModelGraph.Linear::module)
              .filter(m -> !selected.containsValue(m))
              .toList();
      SafetensorsWriter writer = new SafetensorsWriter().metadata("format", "pt");
      try (Progress.Task task = Progress.start("quantising", quantised.size(), "tensors")) {
        for (String name : reader.names()) {
          TensorInfo info = reader.info(name);
          if (!quantised.contains(name)) {
            writer.add(name, info.dtype(), info.shape(), reader.bytes(name));
          } else {
            add(
                writer,
                name,
                info.shape(),
                FourBit.quantise(reader.floats(name), type, doubleQuant));
            task.advance(1);
          }
        }
      }
      ObjectNode json =
          (ObjectNode) JSON.readTree(Files.readAllBytes(modelDir.resolve(ModelConfig.FILE)));
      Map<String, Object> q = new LinkedHashMap<>();
      q.put("quant_method", "bitsandbytes");
      q.put("load_in_4bit", true);
      q.put("load_in_8bit", false);
      q.put("bnb_4bit_quant_type", type.label());
      q.put("bnb_4bit_use_double_quant", doubleQuant);
      q.put("bnb_4bit_compute_dtype", "float32");
      q.put("bnb_4bit_quant_storage", "uint8");
      q.put("llm_int8_skip_modules", skipped);
      json.set(CONFIG_KEY, JSON.valueToTree(q));
      AtomicFiles.replaceFolder(
          outDir,
          temp -> {
            writer.write(temp.resolve(SafetensorsReader.SINGLE_FILE));
            Files.writeString(
                temp.resolve(ModelConfig.FILE),
                JSON.writerWithDefaultPrettyPrinter().writeValueAsString(json) + "\n");
            try (Stream<Path> files = Files.list(modelDir)) {
              for (Path f : files.toList()) {
                String file = f.getFileName().toString();
                if (Files.isRegularFile(f)
                    && !file.endsWith(".safetensors")
                    && !file.equals(SafetensorsReader.INDEX_FILE)
                    && !file.equals(ModelConfig.FILE)) {
                  Files.copy(f, temp.resolve(file));
                }
              }
            }
          });
    }
  }

  /**
   * The linear weights to quantise, graph parameter name → module.
   *
   * @throws IllegalArgumentException for a name that matches no linear layer
   */
  private static Map<String, String> selected(ModelGraph graph, List<String> modules) {
    Map<String, String> out = new LinkedHashMap<>();
    Set<String> unmatched = new LinkedHashSet<>(modules);
    for (ModelGraph.Linear l : graph.linears()) {
      boolean take = modules.isEmpty() && l.layer() >= 0;
      for (String m : modules) {
        if (l.module().equals(m) || l.module().endsWith("." + m)) {
          take = true;
          unmatched.remove(m);
        }
      }
      if (take) {
        out.put(l.weight().name(), l.module());
      }
    }
    if (!unmatched.isEmpty()) {
      throw new IllegalArgumentException(
          "Modules "
              + unmatched
              + " match no linear layer of the model; name modules or suffixes such as "
              + graph.linears().stream()
                  .map(l -> l.module().substring(l.module().lastIndexOf('.') + 1))
                  .distinct()
                  .toList()
              + ".");
    }
    return out;
  }

  /** Adds the tensors of one quantised weight in bitsandbytes' layout. */
  private static void add(
      SafetensorsWriter writer, String name, long[] shape, FourBit.Quantised q) {
    writer.add(name, DType.U8, new long[] {q.packed().length, 1}, ByteBuffer.wrap(q.packed()));
    if (q.nested()) {
      writer.add(
          name + ".absmax",
          DType.U8,
          new long[] {q.absmaxCodes().length},
          ByteBuffer.wrap(q.absmaxCodes()));
      writer.add(name + ".nested_absmax", new long[] {q.nestedAbsmax().length}, q.nestedAbsmax());
      writer.add(name + ".nested_quant_map", new long[] {256}, FourBit.dynamic());
    } else {
      writer.add(name + ".absmax", new long[] {q.absmax().length}, q.absmax());
    }
    writer.add(name + ".quant_map", new long[] {16}, q.type().code());
    Map<String, Object> state = new LinkedHashMap<>();
    state.put("quant_type", q.type().label());
    state.put("blocksize", FourBit.BLOCK);
    state.put("dtype", "float32");
    state.put("shape", shape);
    if (q.nested()) {
      state.put("nested_blocksize", FourBit.NESTED_BLOCK);
      state.put("nested_dtype", "float32");
      state.put("nested_offset", (double) q.offset());
    }
    byte[] json;
    try {
      json = JSON.writeValueAsString(state).getBytes(StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
    writer.add(
        name + QUANT_STATE + q.type().label(),
        DType.U8,
        new long[] {json.length},
        ByteBuffer.wrap(json));
  }

  /** The quant_state tensor of weight {@code name}, or null. */
  private static String quantState(SafetensorsReader reader, String name) {
    for (FourBit.Type t : FourBit.Type.values()) {
      if (reader.contains(name + QUANT_STATE + t.label())) {
        return name + QUANT_STATE + t.label();
      }
    }
    return null;
  }

  private static void expect(
      SafetensorsReader reader, String weight, String tensor, DType dtype, long elements) {
    if (!reader.contains(tensor)) {
      throw damaged(reader, weight, "lacks \"" + tensor + "\"");
    }
    TensorInfo info = reader.info(tensor);
    if (info.dtype() != dtype || info.numel() != elements) {
      throw damaged(
          reader,
          weight,
          "has \""
              + tensor
              + "\" of "
              + info.dtype()
              + " "
              + Arrays.toString(info.shape())
              + " where its quant_state implies "
              + dtype
              + " of "
              + elements
              + " elements");
    }
  }

  private static void expectValues(
      SafetensorsReader reader, String weight, String tensor, float[] values) {
    expect(reader, weight, tensor, DType.F32, values.length);
    if (!Arrays.equals(reader.floats(tensor), values)) {
      throw damaged(reader, weight, "has a \"" + tensor + "\" that is not bitsandbytes' map");
    }
  }

  private static byte[] bytes(SafetensorsReader reader, String name) {
    ByteBuffer b = reader.bytes(name).order(ByteOrder.LITTLE_ENDIAN);
    byte[] out = new byte[b.remaining()];
    b.get(out);
    return out;
  }

  private static IllegalArgumentException damaged(
      SafetensorsReader reader, String weight, String what) {
    String file = reader.contains(weight) ? reader.fileName(weight) : reader.source();
    return new IllegalArgumentException(
        file
            + ": 4-bit weight \""
            + weight
            + "\" "
            + what
            + "; the folder is damaged or incomplete: write it again with graft:quantize.");
  }
}
