package dev.graft.conformance;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.graft.api.model.ModelService;
import dev.graft.train.service.ModelServiceImpl;
import dev.graft.train.service.TrainingServiceImpl;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * Named bad inputs through the entry points of {@code graft:train} and {@code graft:merge} (the
 * services the commands call; the headless runner prints an {@link IllegalArgumentException}'s
 * message alone on stderr and exits 1): each is refused with one line that names the file or key,
 * no exception class or stack frame in it, and nothing is written under the output path or the job
 * home.
 */
class BadInputsTest {
  @TempDir Path root;

  /** One case's folder: a good copy of stories260K, good data and a good job, then broken. */
  record Case(Path dir, Path model, Path data, Path job, Path out, Path home) {
    void write(String file, String text) throws IOException {
      Files.writeString(dir.resolve(file), text);
    }

    /** Sets job keys ({@code key=value} lines), replacing lines of the same keys. */
    void jobKey(String lines) throws IOException {
      List<String> kept = new ArrayList<>(Files.readAllLines(job));
      for (String line : lines.split("\n")) {
        String key = line.substring(0, line.indexOf('=') + 1);
        kept.removeIf(l -> l.startsWith(key));
        kept.add(line);
      }
      Files.write(job, kept);
    }

    void config(String from, String to) throws IOException {
      Path config = model.resolve("config.json");
      String text = Files.readString(config);
      assertTrue(text.contains(from), from);
      Files.writeString(config, text.replace(from, to));
    }

    void tokenizer(String from, String to) throws IOException {
      Path file = model.resolve("tokenizer.json");
      String text = Files.readString(file);
      assertTrue(text.contains(from), from);
      Files.writeString(file, text.replaceFirst(java.util.regex.Pattern.quote(from), to));
    }

    /** Replaces model.safetensors by a header and {@code dataBytes} zero bytes. */
    void safetensors(String header, int dataBytes) throws IOException {
      Files.write(model.resolve("model.safetensors"), BadInputsTest.safetensors(header, dataBytes));
    }
  }

  interface Breaker {
    void breakIt(Case c) throws Exception;
  }

  /** How a case is submitted. */
  enum Entry {
    TRAIN,
    MERGE
  }

  record Bad(String name, Entry entry, Breaker breaker, String named) {}

  static byte[] safetensors(String header, int dataBytes) {
    byte[] json = header.getBytes(StandardCharsets.UTF_8);
    return ByteBuffer.allocate(8 + json.length + dataBytes)
        .order(ByteOrder.LITTLE_ENDIAN)
        .putLong(json.length)
        .put(json)
        .array();
  }

  private static String tensor(String name, String dtype, String shape, long begin, long end) {
    return String.format(
        "\"%s\": {\"dtype\": \"%s\", \"shape\": %s, \"data_offsets\": [%d, %d]}",
        name, dtype, shape, begin, end);
  }

  private static final String W = "model.embed_tokens.weight";

  static List<Bad> cases() {
    List<Bad> all = new ArrayList<>();
    // ---------------------------------------------------------------- model.safetensors
    String st = "model.safetensors";
    all.add(
        train(
            "safetensors header length beyond the file",
            c ->
                Files.write(
                    c.model().resolve(st),
                    ByteBuffer.allocate(16)
                        .order(ByteOrder.LITTLE_ENDIAN)
                        .putLong(1_000_000)
                        .array()),
            st));
    all.add(
        train(
            "safetensors header length beyond 100 MB",
            c -> {
              try (RandomAccessFile f =
                  new RandomAccessFile(c.model().resolve(st).toFile(), "rw")) {
                f.setLength(0);
                f.setLength(101L << 20); // sparse: the length is checked before any allocation
                f.seek(0);
                f.write(
                    ByteBuffer.allocate(8)
                        .order(ByteOrder.LITTLE_ENDIAN)
                        .putLong((101L << 20) - 8)
                        .array());
              }
            },
            "exceeds the limit"));
    all.add(
        train(
            "safetensors file shorter than 8 bytes",
            c -> Files.write(c.model().resolve(st), new byte[3]),
            st));
    all.add(
        train("safetensors file empty", c -> Files.write(c.model().resolve(st), new byte[0]), st));
    all.add(
        train(
            "safetensors header not JSON",
            c -> c.safetensors("{\"a\": [1,}", 0),
            "not valid JSON"));
    all.add(
        train(
            "safetensors header a JSON array",
            c -> c.safetensors("[1, 2]", 0),
            "not a JSON object"));
    all.add(
        train(
            "safetensors overlapping offsets",
            c ->
                c.safetensors(
                    "{"
                        + tensor("a", "F32", "[2]", 0, 8)
                        + ", "
                        + tensor("b", "F32", "[2]", 4, 12)
                        + "}",
                    12),
            "overlap"));
    all.add(
        train(
            "safetensors offsets beyond the data",
            c -> c.safetensors("{" + tensor("a", "F32", "[4]", 0, 16) + "}", 8),
            "truncated"));
    all.add(
        train(
            "safetensors gap between tensors",
            c ->
                c.safetensors(
                    "{"
                        + tensor("a", "F32", "[1]", 0, 4)
                        + ", "
                        + tensor("b", "F32", "[1]", 8, 12)
                        + "}",
                    12),
            "gap"));
    all.add(
        train(
            "safetensors dtype and shape disagree with the byte count",
            c -> c.safetensors("{" + tensor("a", "F32", "[3]", 0, 8) + "}", 8),
            "span 8 bytes"));
    all.add(
        train(
            "safetensors unknown dtype",
            c -> c.safetensors("{" + tensor("a", "F33", "[1]", 0, 4) + "}", 4),
            "unknown dtype"));
    all.add(
        train(
            "safetensors duplicated tensor name",
            c ->
                c.safetensors(
                    "{"
                        + tensor("a", "F32", "[1]", 0, 4)
                        + ", "
                        + tensor("a", "F32", "[1]", 4, 8)
                        + "}",
                    8),
            "Duplicate field 'a'"));
    all.add(
        train(
            "safetensors tensor name with ..",
            c -> c.safetensors("{" + tensor("../../etc/passwd", "F32", "[1]", 0, 4) + "}", 4),
            "'..'"));
    all.add(
        train(
            "safetensors tensor name with /",
            c -> c.safetensors("{" + tensor("model/embed", "F32", "[1]", 0, 4) + "}", 4),
            "'/'"));
    all.add(
        train(
            "safetensors negative dimension",
            c -> c.safetensors("{" + tensor("a", "F32", "[-1]", 0, 4) + "}", 4),
            "not a list of non-negative integers"));
    all.add(
        train(
            "safetensors end before begin",
            c -> c.safetensors("{" + tensor("a", "F32", "[1]", 4, 0) + "}", 4),
            "data_offsets"));
    all.add(
        train(
            "safetensors shape whose size overflows",
            c -> c.safetensors("{" + tensor("a", "F32", "[4611686018427387904, 4]", 0, 4) + "}", 4),
            "too many"));
    all.add(
        train(
            "safetensors metadata not an object",
            c -> c.safetensors("{\"__metadata__\": [1]}", 0),
            "__metadata__"));
    all.add(
        train(
            "safetensors without a tensor config.json expects",
            c -> c.safetensors("{" + tensor("a", "F32", "[1]", 0, 4) + "}", 4),
            "\"" + W + "\" is missing"));
    all.add(
        train(
            "safetensors tensor of another shape than config.json implies",
            c -> c.config("\"vocab_size\": 512", "\"vocab_size\": 500"),
            "implies"));
    all.add(
        train(
            "PyTorch pickle instead of safetensors",
            c -> {
              Files.delete(c.model().resolve(st));
              Files.write(c.model().resolve("pytorch_model.bin"), new byte[] {(byte) 0x80, 2, 'c'});
            },
            "convert it to safetensors"));
    all.add(
        train(
            "sharded index naming a missing shard",
            c -> {
              Files.delete(c.model().resolve(st));
              c.write(
                  "model/model.safetensors.index.json",
                  "{\"weight_map\": {\"" + W + "\": \"model-1.safetensors\"}}");
            },
            "is missing"));
    all.add(
        train(
            "sharded index naming a shard outside the folder",
            c -> {
              Files.delete(c.model().resolve(st));
              c.write(
                  "model/model.safetensors.index.json",
                  "{\"weight_map\": {\"" + W + "\": \"../data.jsonl\"}}");
            },
            "not a file name"));
    // ---------------------------------------------------------------- config.json
    all.add(
        train(
            "config.json not JSON",
            c -> c.write("model/config.json", "{\"hidden_size\": "),
            "config.json"));
    all.add(
        train(
            "config.json missing hidden_size",
            c -> c.config("\"hidden_size\": 64,", ""),
            "\"hidden_size\" is required"));
    all.add(
        train(
            "config.json zero hidden_size",
            c -> c.config("\"hidden_size\": 64", "\"hidden_size\": 0"),
            "\"hidden_size\" is 0"));
    all.add(
        train(
            "config.json zero attention heads",
            c -> c.config("\"num_attention_heads\": 8", "\"num_attention_heads\": 0"),
            "\"num_attention_heads\" is 0"));
    all.add(
        train(
            "config.json negative intermediate_size",
            c -> c.config("\"intermediate_size\": 172", "\"intermediate_size\": -172"),
            "\"intermediate_size\" is -172"));
    all.add(
        train(
            "config.json a million layers",
            c -> c.config("\"num_hidden_layers\": 5", "\"num_hidden_layers\": 1000000"),
            "more layers than any model has"));
    all.add(
        train(
            "config.json unsupported architecture",
            c -> c.config("LlamaForCausalLM", "BertModel"),
            "BertModel"));
    all.add(
        train(
            "config.json vocab_size a string",
            c -> c.config("\"vocab_size\": 512", "\"vocab_size\": \"512\""),
            "\"vocab_size\""));
    all.add(
        train(
            "config.json absent",
            c -> Files.delete(c.model().resolve("config.json")),
            "has no config.json"));
    // ---------------------------------------------------------------- tokenizer.json
    all.add(
        train(
            "tokenizer.json not JSON",
            c -> c.write("model/tokenizer.json", "{\"model\": "),
            "tokenizer.json"));
    all.add(
        train(
            "tokenizer.json of another model type",
            c -> c.tokenizer("\"type\": \"BPE\"", "\"type\": \"WordPiece\""),
            "WordPiece"));
    all.add(
        train(
            "tokenizer.json negative token id",
            c -> c.tokenizer("\"<unk>\": 0", "\"<unk>\": -5"),
            "has id -5"));
    all.add(
        train(
            "tokenizer.json token id of two billion",
            c -> c.tokenizer("\"<unk>\": 0", "\"<unk>\": 2000000000"),
            "has id 2000000000"));
    all.add(
        train(
            "tokenizer.json merge of unknown tokens",
            c -> c.tokenizer("\"merges\": [", "\"merges\": [\"qqq zzz\", "),
            "not in the vocabulary"));
    all.add(
        train(
            "tokenizer.json merge pair of one",
            c -> c.tokenizer("\"merges\": [", "\"merges\": [[\"a\"], "),
            "not a pair"));
    // ---------------------------------------------------------------- data (JSONL)
    all.add(
        train(
            "JSONL broken line",
            c -> Files.writeString(c.data(), "{\"text\": \"a b\"}\n{\"text\": \n"),
            "data.jsonl:2"));
    all.add(
        train(
            "JSONL wrong field type",
            c -> Files.writeString(c.data(), "{\"text\": 5}\n"),
            "must be a string"));
    all.add(train("JSONL empty file", c -> Files.writeString(c.data(), ""), "holds no samples"));
    all.add(
        train(
            "JSONL line of 100 MB",
            c -> {
              byte[] line = new byte[100 << 20];
              java.util.Arrays.fill(line, (byte) 'a');
              line[0] = '{';
              Files.write(c.data(), line);
            },
            "longer than"));
    all.add(
        train(
            "JSONL line that is an array",
            c -> Files.writeString(c.data(), "[1, 2]\n"),
            "one JSON object"));
    all.add(
        train(
            "JSONL two objects on a line",
            c -> Files.writeString(c.data(), "{\"text\": \"a\"} {\"text\": \"b\"}\n"),
            "data.jsonl:1"));
    all.add(
        train(
            "JSONL damaged gzip",
            c -> {
              java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
              try (GZIPOutputStream gz = new GZIPOutputStream(bytes)) {
                gz.write(
                    "{\"text\": \"once upon a time\"}\n"
                        .repeat(50)
                        .getBytes(StandardCharsets.UTF_8));
              }
              byte[] all2 = bytes.toByteArray();
              Files.write(c.data(), java.util.Arrays.copyOf(all2, all2.length / 2));
            },
            "gzip"));
    all.add(
        train(
            "JSONL conversation without an assistant turn",
            c ->
                Files.writeString(
                    c.data(), "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}\n"),
            "no assistant turn"));
    all.add(
        train(
            "JSONL fields of no known format",
            c -> Files.writeString(c.data(), "{\"body\": \"a\"}\n"),
            "data_columns"));
    // ---------------------------------------------------------------- job files
    all.add(train("learning_rate NaN", c -> c.jobKey("learning_rate=NaN"), "learning_rate"));
    all.add(
        train(
            "learning_rate negative",
            c -> c.jobKey("learning_rate=-1e-4"),
            "learning_rate must be 0 or more"));
    all.add(
        train(
            "gradient_accumulation_steps zero",
            c -> c.jobKey("gradient_accumulation_steps=0"),
            "gradient_accumulation_steps must be at least 1"));
    all.add(
        train(
            "save_best without validation samples",
            c -> c.jobKey("save_best=true"),
            "save_best=true needs validation samples; set eval_data"));
    all.add(
        train(
            "eval_data that does not exist",
            c -> c.jobKey("eval_data=/nowhere/valid.jsonl"),
            "eval_data file /nowhere/valid.jsonl does not exist"));
    all.add(train("max_steps zero", c -> c.jobKey("max_steps=0"), "max_steps must be at least 1"));
    all.add(
        train("max_steps negative", c -> c.jobKey("max_steps=-5"), "max_steps must be at least 1"));
    all.add(
        train(
            "batch size zero",
            c -> c.jobKey("per_device_train_batch_size=0"),
            "per_device_train_batch_size must be at least 1"));
    all.add(
        train(
            "epochs negative",
            c -> c.jobKey("max_steps=-1\nnum_train_epochs=-2"),
            "num_train_epochs must be more than 0"));
    all.add(train("warmup_ratio above one", c -> c.jobKey("warmup_ratio=1.5"), "warmup_ratio"));
    all.add(
        train(
            "skip_nonfinite_steps negative",
            c -> c.jobKey("skip_nonfinite_steps=-1"),
            "skip_nonfinite_steps"));
    all.add(
        train(
            "unknown key", c -> c.jobKey("learning_rat=1e-4"), "Did you mean \"learning_rate\"?"));
    all.add(train("unknown method", c -> c.jobKey("method=lorra"), "Did you mean \"lora\"?"));
    all.add(
        train(
            "conflicting methods",
            c -> c.jobKey("method=prompt-tuning,prefix-tuning"),
            "choose one of them"));
    all.add(train("method named twice", c -> c.jobKey("method=lora,lora"), "twice"));
    all.add(train("option of a method the job lacks", c -> c.jobKey("full.x=1"), "full.x"));
    all.add(
        train(
            "job file that is broken YAML",
            c -> {
              Path yaml = c.dir().resolve("job.yaml");
              Files.writeString(yaml, "model: [unclosed\n");
              Files.move(yaml, c.job(), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            },
            "job"));
    // ---------------------------------------------------------------- adapters and output paths
    all.add(
        train(
            "adapter folder without adapter_config.json",
            c -> c.jobKey("adapter=" + Files.createDirectories(c.dir().resolve("adapter"))),
            "adapter_config.json"));
    all.add(
        train(
            "ref_adapter folder without adapter_config.json",
            c -> c.jobKey("ref_adapter=" + Files.createDirectories(c.dir().resolve("reference"))),
            "ref_adapter"));
    all.add(
        train(
            "precompute_ref_log_probs that is not a boolean",
            c -> c.jobKey("precompute_ref_log_probs=yes"),
            "precompute_ref_log_probs"));
    all.add(
        train(
            "precompute_ref_log_probs without an objective that has a reference",
            c -> c.jobKey("precompute_ref_log_probs=true"),
            "precompute_ref_log_probs"));
    all.add(
        train(
            "output_dir inside the model folder",
            c -> c.jobKey("output_dir=" + c.model().resolve("out")),
            "inside the model folder"));
    all.add(
        new Bad(
            "adapter for another base model shape",
            Entry.MERGE,
            c -> {
              Path a = Files.createDirectories(c.dir().resolve("adapter"));
              Files.writeString(
                  a.resolve("adapter_config.json"),
                  "{\"peft_type\": \"LORA\", \"r\": 2, \"lora_alpha\": 4, \"target_modules\": [\"q_proj\"],"
                      + " \"base_model_name_or_path\": \"another-model\"}");
              String p = "base_model.model.model.layers.0.self_attn.q_proj.";
              Files.write(
                  a.resolve("adapter_model.safetensors"),
                  safetensors(
                      "{"
                          + tensor(p + "lora_A.weight", "F32", "[2, 96]", 0, 768)
                          + ", "
                          + tensor(p + "lora_B.weight", "F32", "[96, 2]", 768, 1536)
                          + "}",
                      1536));
            },
            "adapter"));
    all.add(
        new Bad(
            "merge output inside the model folder",
            Entry.MERGE,
            c ->
                Files.createDirectories(c.dir().resolve("adapter"))
                    .resolve("adapter_config.json")
                    .toFile()
                    .createNewFile(),
            "inside the model folder"));
    return all;
  }

  private static Bad train(String name, Breaker breaker, String named) {
    return new Bad(name, Entry.TRAIN, breaker, named);
  }

  private Case fresh(String name) throws IOException {
    Path dir =
        Files.createDirectories(
            root.resolve(
                name.replaceAll("[^A-Za-z0-9]+", "-")
                    + "-"
                    + Integer.toHexString(name.hashCode())));
    Path model = Files.createDirectories(dir.resolve("model"));
    Path shared = Fixtures.shared("models/stories260K");
    for (String f :
        List.of(
            "config.json",
            "model.safetensors",
            "tokenizer.json",
            "tokenizer_config.json",
            "special_tokens_map.json")) {
      Files.copy(shared.resolve(f), model.resolve(f));
    }
    Path data = dir.resolve("data.jsonl");
    StringBuilder lines = new StringBuilder();
    for (String s : GoldenCurveTest.STORIES) {
      lines.append("{\"text\": \"").append(s).append("\"}\n");
    }
    Files.writeString(data, lines);
    Path out = dir.resolve("out");
    Path job = dir.resolve("job.properties");
    Files.writeString(
        job,
        "model="
            + model
            + "\ndata="
            + data
            + "\nmethod=lora\nmax_steps=1\nmax_length=32\n"
            + "output_dir="
            + out
            + "\n");
    return new Case(dir, model, data, job, out, dir.resolve("home"));
  }

  @TestFactory
  Stream<DynamicTest> eachBadInputIsRefusedInOneLineNamingItAndNothingIsWritten() {
    List<Bad> all = cases();
    assertTrue(all.size() >= 40, "at least 40 bad inputs: " + all.size());
    return all.stream().map(bad -> DynamicTest.dynamicTest(bad.name(), () -> check(bad)));
  }

  private void check(Bad bad) throws Exception {
    Case c = fresh(bad.name());
    bad.breaker().breakIt(c);
    Path mergedOut =
        bad.name().contains("inside the model") ? c.model().resolve("merged") : c.out();
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> {
              switch (bad.entry()) {
                case TRAIN -> {
                  TrainingServiceImpl service =
                      TrainingServiceImpl.standalone(
                          Fixtures.REGISTRY, Fixtures.BACKENDS, c.home());
                  service.submit(c.job(), Map.of());
                }
                case MERGE -> {
                  ModelService models = new ModelServiceImpl(Fixtures.REGISTRY, Fixtures.BACKENDS);
                  models.merge(c.model(), c.dir().resolve("adapter"), mergedOut);
                }
              }
            },
            bad.name());
    String message = e.getMessage();
    assertTrue(
        message.contains(bad.named()), bad.name() + ": names \"" + bad.named() + "\": " + message);
    assertFalse(message.contains("\n"), bad.name() + ": one line: " + message);
    assertFalse(
        message.matches(".*(Exception|\\tat |\\bat dev\\.graft).*"), bad.name() + ": " + message);
    assertTrue(
        message.endsWith(".") || message.endsWith("?"), bad.name() + ": a sentence: " + message);
    assertFalse(Files.exists(mergedOut), bad.name() + ": nothing under " + mergedOut);
    assertFalse(Files.exists(c.out()), bad.name() + ": nothing under " + c.out());
    assertTrue(
        !Files.exists(c.home().resolve("jobs")) || isEmpty(c.home().resolve("jobs")),
        bad.name() + ": no job folder");
  }

  private static boolean isEmpty(Path dir) throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.findAny().isEmpty();
    }
  }
}
