package dev.graft.model;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.api.backend.ComputeBackend;
import dev.graft.api.backend.HostTensor;
import dev.graft.api.backend.Program;
import dev.graft.api.backend.Session;
import dev.graft.graph.DType;
import dev.graft.graph.Graph;
import dev.graft.graph.Node;
import dev.graft.model.impl.Sampling;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * Text generation on a {@link ComputeBackend}: greedy or sampled (temperature, top-k, top-p),
 * repetition penalty, stop tokens and stop strings, batches of prompts.
 *
 * <p>With a graph from {@link ModelGraph#buildWithCache} the keys and values stay in the backend
 * between runs (carried state): the prompt runs once, then one new token per run. With a graph from
 * {@link ModelGraph#build} every run recomputes the whole sequence; that slow mode is the reference
 * the cache is tested against.
 *
 * <p>A batch is left-padded to its longest prompt; padding is masked out and each prompt's
 * positions start at 0 at its first token, so a prompt's completion does not depend on its batch.
 * Each prompt samples from its own generator seeded with {@link Options#seed()}, for the same
 * reason.
 *
 * <p>Not thread-safe. Close it to release the backend session.
 */
public final class Generator implements AutoCloseable {

  /** Why a completion ended. */
  public enum Finish {
    /** It produced a stop token (included in the ids). */
    STOP_TOKEN,
    /** Its text came to contain a stop string. */
    STOP_STRING,
    /** It reached {@link Options#maxNewTokens()}. */
    LENGTH
  }

  /**
   * A completion of one prompt.
   *
   * @param ids the new token ids, a stop token included
   * @param text the ids decoded without special tokens, or null when the generator has no tokenizer
   * @param finish why it ended
   */
  public record Completion(int[] ids, String text, Finish finish) {}

  /**
   * Generation settings, named after Hugging Face's {@code GenerationConfig}.
   *
   * @param maxNewTokens the most tokens to generate, at least 1
   * @param sample whether to sample; false picks the most likely token (greedy)
   * @param temperature divides the logits before sampling; above 0
   * @param topK sample among the k most likely tokens only; 0 for all
   * @param topP sample among the most likely tokens that together reach this probability; 1 for all
   * @param repetitionPenalty for tokens already in the sequence, positive logits are divided and
   *     negative ones multiplied by it; 1 for none
   * @param stopTokens ids that end a completion
   * @param stopStrings texts that end a completion once the generated text contains one (the
   *     completion keeps the token that completed it, as Hugging Face's {@code stop_strings})
   * @param seed seed of each prompt's sampling generator
   */
  public record Options(
      int maxNewTokens,
      boolean sample,
      double temperature,
      int topK,
      double topP,
      double repetitionPenalty,
      Set<Integer> stopTokens,
      List<String> stopStrings,
      long seed) {

    /**
     * Checks the ranges and copies the collections.
     *
     * @throws IllegalArgumentException naming the setting and its value
     */
    public Options {
      require(maxNewTokens >= 1, "max_new_tokens must be at least 1, not " + maxNewTokens);
      require(temperature > 0, "temperature must be above 0, not " + temperature);
      require(topK >= 0, "top_k must be 0 (off) or more, not " + topK);
      require(topP > 0 && topP <= 1, "top_p must be in (0, 1], not " + topP);
      require(
          repetitionPenalty > 0, "repetition_penalty must be above 0, not " + repetitionPenalty);
      stopTokens = Set.copyOf(stopTokens);
      stopStrings = List.copyOf(stopStrings);
      require(!stopStrings.contains(""), "stop strings must not be empty");
    }

    /** Greedy decoding of at most {@code maxNewTokens} tokens, without stop tokens. */
    public static Options greedy(int maxNewTokens) {
      return new Options(maxNewTokens, false, 1, 0, 1, 1, Set.of(), List.of(), 0);
    }

    /**
     * The settings of a model folder: {@code generation_config.json} where present ({@code
     * max_new_tokens}, {@code do_sample}, {@code temperature}, {@code top_k}, {@code top_p}, {@code
     * repetition_penalty}, {@code eos_token_id}), else the end-of-sequence ids of {@code
     * config.json}; otherwise greedy with at most 256 new tokens and, when sampling, Hugging Face's
     * defaults (top_k 50).
     */
    public static Options read(Path folder) throws IOException {
      ModelConfig config = ModelConfig.read(folder);
      Path file = folder.resolve("generation_config.json");
      if (!Files.exists(file)) {
        return greedy(256).withStopTokens(config.eosTokenIds());
      }
      JsonNode root;
      try {
        root = new ObjectMapper().readTree(Files.readString(file));
      } catch (JsonProcessingException e) {
        throw new IllegalArgumentException(
            "generation_config.json: is not valid JSON (" + e.getOriginalMessage() + ").");
      }
      Set<Integer> stop = new LinkedHashSet<>(config.eosTokenIds());
      JsonNode eos = root.path("eos_token_id");
      if (eos.isInt() || eos.isArray()) {
        stop.clear();
        (eos.isArray() ? eos : List.of(eos)).forEach(n -> stop.add(n.asInt()));
      }
      return new Options(
          root.path("max_new_tokens").asInt(256),
          root.path("do_sample").asBoolean(false),
          root.path("temperature").asDouble(1),
          root.path("top_k").asInt(50),
          root.path("top_p").asDouble(1),
          root.path("repetition_penalty").asDouble(1),
          stop,
          List.of(),
          0);
    }

    /** Sampling with these warpers instead of greedy decoding. */
    public Options withSampling(double temperature, int topK, double topP) {
      return new Options(
          maxNewTokens,
          true,
          temperature,
          topK,
          topP,
          repetitionPenalty,
          stopTokens,
          stopStrings,
          seed);
    }

    /** These settings with another repetition penalty. */
    public Options withRepetitionPenalty(double penalty) {
      return new Options(
          maxNewTokens, sample, temperature, topK, topP, penalty, stopTokens, stopStrings, seed);
    }

    /** These settings with other stop token ids (replacing the current ones). */
    public Options withStopTokens(Collection<Integer> ids) {
      return new Options(
          maxNewTokens,
          sample,
          temperature,
          topK,
          topP,
          repetitionPenalty,
          Set.copyOf(ids),
          stopStrings,
          seed);
    }

    /** These settings with other stop strings (replacing the current ones). */
    public Options withStopStrings(Collection<String> strings) {
      return new Options(
          maxNewTokens,
          sample,
          temperature,
          topK,
          topP,
          repetitionPenalty,
          stopTokens,
          List.copyOf(strings),
          seed);
    }

    /** These settings with another seed. */
    public Options withSeed(long seed) {
      return new Options(
          maxNewTokens,
          sample,
          temperature,
          topK,
          topP,
          repetitionPenalty,
          stopTokens,
          stopStrings,
          seed);
    }

    /** These settings with another token limit. */
    public Options withMaxNewTokens(int maxNewTokens) {
      return new Options(
          maxNewTokens,
          sample,
          temperature,
          topK,
          topP,
          repetitionPenalty,
          stopTokens,
          stopStrings,
          seed);
    }

    private static void require(boolean ok, String message) {
      if (!ok) {
        throw new IllegalArgumentException("Generation setting " + message + ".");
      }
    }
  }

  private final ModelGraph model;
  private final Tokenizer tokenizer;
  private final Options defaults;
  private final Session session;
  private final boolean cached;

  private Generator(ModelGraph model, Tokenizer tokenizer, Options defaults, Session session) {
    this.model = model;
    this.tokenizer = tokenizer;
    this.defaults = defaults;
    this.session = session;
    this.cached = !model.kvCache().isEmpty();
  }

  /**
   * The positions ahead of every prompt: virtual tokens and key/value prefixes of the adapter, 0
   * without. A prompt and its new tokens fit in {@code max_position_embeddings} less this.
   */
  public long prefixLength() {
    return model.prefixLength();
  }

  /**
   * Opens a Hugging Face model folder with a KV cache: config, checkpoint, tokenizer and {@link
   * Options#read generation settings}. The backend reads the weights that the checkpoint stores in
   * the compute type from its files itself; the checkpoint is closed once the backend holds them.
   *
   * @throws IllegalArgumentException when a file is malformed, the checkpoint does not fit the
   *     config, or the backend cannot run {@code computeType}
   */
  public static Generator open(ComputeBackend backend, Path folder, DType computeType)
      throws IOException {
    ModelGraph model = ModelGraph.buildWithCache(ModelConfig.read(folder), computeType);
    Tokenizer tokenizer = Tokenizer.load(folder);
    Options defaults = Options.read(folder);
    try (SafetensorsReader reader = SafetensorsReader.open(folder)) {
      Program program = model.program(reader, model.kvCache(), dtypes(model.graph()), false);
      return new Generator(model, tokenizer, defaults, backend.open(program));
    }
  }

  /**
   * Opens a model graph, possibly rewritten by methods (with every parameter frozen and supplied in
   * {@code weights}): a graph from {@link ModelGraph#buildWithCache} generates with the cache, one
   * from {@link ModelGraph#build} by full recomputation.
   *
   * @param tokenizer decodes the completions and finds stop strings; may be null (no text)
   * @param defaults the settings {@link #defaults()} returns
   * @throws IllegalArgumentException when a parameter is trainable (freeze it and pass its value in
   *     {@code weights})
   */
  public static Generator open(
      ComputeBackend backend,
      ModelGraph model,
      Map<String, HostTensor> weights,
      Tokenizer tokenizer,
      Options defaults) {
    Graph g = model.graph();
    if (!g.trainables().isEmpty()) {
      throw new IllegalArgumentException(
          "Generation runs frozen weights only; freeze "
              + g.trainables().stream().map(t -> t.name()).toList()
              + " and pass their values in the weights.");
    }
    Program program = new Program(g.toOnnx(), weights, model.kvCache(), dtypes(g));
    return new Generator(model, tokenizer, defaults, backend.open(program));
  }

  /** The settings the model folder asks for (or those given to {@link #open}). */
  public Options defaults() {
    return defaults;
  }

  /**
   * Completes a text, encoded with the tokenizer's special tokens (e.g. BOS).
   *
   * @throws IllegalStateException without a tokenizer
   */
  public Completion generate(String prompt, Options options) {
    if (tokenizer == null) {
      throw new IllegalStateException("This generator has no tokenizer; pass token ids.");
    }
    return generate(List.of(tokenizer.encode(prompt, true)), options).get(0);
  }

  /** Completes one prompt of token ids. */
  public Completion generate(int[] prompt, Options options) {
    return generate(List.of(prompt), options).get(0);
  }

  /**
   * Completes a batch of prompts of token ids, in one left-padded batch.
   *
   * @throws IllegalArgumentException for an empty prompt, an id outside the vocabulary, a prompt
   *     that with {@code maxNewTokens} and the graph's {@link ModelGraph#prefixLength} exceeds
   *     {@code max_position_embeddings}, or stop strings without a tokenizer
   */
  public List<Completion> generate(List<int[]> prompts, Options options) {
    checkPrompts(prompts, options);
    return new Batch(prompts, options).generate();
  }

  private static int choose(double[] logits, boolean[] seen, Options o, SplittableRandom rng) {
    Sampling.penalize(logits, seen, o.repetitionPenalty());
    return o.sample()
        ? Sampling.sample(logits, o.temperature(), o.topK(), o.topP(), rng)
        : Sampling.argmax(logits);
  }

  private void checkPrompts(List<int[]> prompts, Options options) {
    ModelConfig c = model.config();
    if (prompts.isEmpty()) {
      throw new IllegalArgumentException("Give at least one prompt.");
    }
    if (tokenizer == null && !options.stopStrings().isEmpty()) {
      throw new IllegalArgumentException(
          "Stop strings " + options.stopStrings() + " need a tokenizer; this generator has none.");
    }
    for (int[] p : prompts) {
      if (p.length == 0) {
        throw new IllegalArgumentException("A prompt is empty; give it at least one token.");
      }
      for (int id : p) {
        if (id < 0 || id >= c.vocabSize()) {
          throw new IllegalArgumentException(
              "Token id " + id + " is outside the vocabulary [0, " + c.vocabSize() + ").");
        }
      }
      // Virtual tokens and key/value prefixes take the first positions.
      long ahead = model.prefixLength();
      if (ahead + p.length + options.maxNewTokens() > c.maxPositionEmbeddings()) {
        throw new IllegalArgumentException(
            String.format(
                "A prompt of %d tokens plus %d new tokens%s exceeds max_position_embeddings %d;"
                    + " shorten the prompt or lower max_new_tokens.",
                p.length,
                options.maxNewTokens(),
                ahead == 0 ? "" : " after " + ahead + " virtual or prefix positions",
                c.maxPositionEmbeddings()));
      }
    }
  }

  /**
   * One batch being generated. Row b holds {@code pad[b]} padding tokens, its prompt, then its new
   * tokens in columns {@code width, width + 1, …}; a finished row keeps being fed (its last token)
   * but its results are ignored.
   */
  private final class Batch {
    final Options options;
    final int rows;
    final int width;
    final int[] pad;
    final long[][] tokens;
    final List<List<Integer>> generated = new ArrayList<>();
    final Finish[] finish;
    final boolean[][] seen;
    final SplittableRandom[] random;

    /** Cache slots: the prompt columns and every new token but the last, which is never fed. */
    final int slots;

    /** Tokens generated so far by the rows that are still running. */
    int produced;

    Batch(List<int[]> prompts, Options options) {
      this.options = options;
      rows = prompts.size();
      width = prompts.stream().mapToInt(p -> p.length).max().orElseThrow();
      slots = width + options.maxNewTokens() - 1;
      pad = new int[rows];
      tokens = new long[rows][width + options.maxNewTokens()];
      finish = new Finish[rows];
      seen = new boolean[rows][model.config().vocabSize()];
      random = new SplittableRandom[rows];
      for (int b = 0; b < rows; b++) {
        int[] p = prompts.get(b);
        pad[b] = width - p.length;
        for (int i = 0; i < p.length; i++) {
          tokens[b][pad[b] + i] = p[i];
          seen[b][p[i]] = true;
        }
        generated.add(new ArrayList<>());
        random[b] = new SplittableRandom(options.seed());
      }
    }

    List<Completion> generate() {
      double[][] logits = prompt();
      while (true) {
        for (int b = 0; b < rows; b++) {
          if (finish[b] == null) {
            append(b, choose(logits[b], seen[b], options, random[b]));
          }
        }
        produced++;
        if (Arrays.stream(finish).allMatch(f -> f != null)) {
          return completions();
        }
        logits = step();
      }
    }

    /** Runs the prompts; returns the logits of each row's next token. */
    private double[][] prompt() {
      if (cached) {
        ModelConfig c = model.config();
        long[] shape = {rows, slots, c.numKeyValueHeads(), c.headDim()};
        HostTensor zeros = zeros(model.logits().dtype(), shape);
        model.kvCache().values().forEach(past -> session.setState(past, zeros));
      }
      return run(0, width);
    }

    /** Feeds the token chosen last; returns the logits of the next one. */
    private double[][] step() {
      int column = width + produced - 1;
      return run(cached ? column : 0, column + 1);
    }

    /** Runs columns [from, to) (with the cache) or [0, to) (without); logits of column to - 1. */
    private double[][] run(int from, int to) {
      int n = to - from;
      long[] ids = new long[rows * n];
      long[] positions = new long[rows * n];
      long[] segments = new long[rows * n];
      for (int b = 0; b < rows; b++) {
        for (int t = 0; t < n; t++) {
          int j = from + t;
          ids[b * n + t] = tokens[b][j];
          positions[b * n + t] = Math.max(0, j - pad[b]);
          segments[b * n + t] = j < pad[b] ? 0 : 1;
        }
      }
      long[] shape = {rows, n};
      Map<String, HostTensor> feeds = new LinkedHashMap<>();
      feeds.put("input_ids", HostTensor.ofLongs(shape, ids));
      feeds.put("position_ids", HostTensor.ofLongs(shape, positions));
      if (cached) {
        long[] cachePosition = new long[n];
        Arrays.setAll(cachePosition, t -> from + t);
        long[] mask = new long[rows * slots];
        for (int b = 0; b < rows; b++) {
          Arrays.fill(mask, b * slots + pad[b], (b + 1) * slots, 1);
        }
        feeds.put("cache_position", HostTensor.ofLongs(new long[] {n}, cachePosition));
        feeds.put("attention_mask", HostTensor.ofLongs(new long[] {rows, slots}, mask));
      } else {
        feeds.put("segment_ids", HostTensor.ofLongs(shape, segments));
      }
      double[] all = values(session.run(feeds, Set.of("logits")).get("logits"));
      int vocab = model.config().vocabSize();
      int stride = cached ? vocab : n * vocab;
      int last = cached ? 0 : (n - 1) * vocab;
      double[][] out = new double[rows][];
      for (int b = 0; b < rows; b++) {
        out[b] = Arrays.copyOfRange(all, b * stride + last, b * stride + last + vocab);
      }
      return out;
    }

    private void append(int b, int token) {
      List<Integer> ids = generated.get(b);
      ids.add(token);
      seen[b][token] = true;
      if (options.stopTokens().contains(token)) {
        finish[b] = Finish.STOP_TOKEN;
      } else if (containsStopString(ids)) {
        finish[b] = Finish.STOP_STRING;
      } else if (ids.size() == options.maxNewTokens()) {
        finish[b] = Finish.LENGTH;
      }
      // Rows that finished keep feeding their last token to keep the batch aligned.
      Arrays.fill(tokens[b], width + ids.size() - 1, tokens[b].length, token);
    }

    private boolean containsStopString(List<Integer> ids) {
      if (options.stopStrings().isEmpty()) {
        return false;
      }
      String text = tokenizer.decode(toArray(ids), false);
      return options.stopStrings().stream().anyMatch(text::contains);
    }

    private List<Completion> completions() {
      List<Completion> out = new ArrayList<>();
      for (int b = 0; b < rows; b++) {
        int[] ids = toArray(generated.get(b));
        out.add(
            new Completion(ids, tokenizer == null ? null : tokenizer.decode(ids, true), finish[b]));
      }
      return out;
    }
  }

  /** Releases the backend session; a second call does nothing. */
  @Override
  public void close() {
    session.close();
  }

  private static int[] toArray(List<Integer> ids) {
    return ids.stream().mapToInt(Integer::intValue).toArray();
  }

  private static HostTensor zeros(DType dtype, long[] shape) {
    ByteBuffer b =
        ByteBuffer.allocateDirect(Math.toIntExact(HostTensor.elements(shape) * dtype.byteSize()));
    return new HostTensor(dtype, shape, b);
  }

  /** The values of a float tensor of any compute type. */
  private static double[] values(HostTensor t) {
    ByteBuffer b = t.data().order(ByteOrder.LITTLE_ENDIAN);
    double[] v = new double[Math.toIntExact(HostTensor.elements(t.shape()))];
    for (int i = 0; i < v.length; i++) {
      v[i] =
          switch (t.dtype()) {
            case FLOAT32 -> b.getFloat(4 * i);
            case FLOAT64 -> b.getDouble(8 * i);
            case FLOAT16 -> Half.toFloat(b.getShort(2 * i));
            case BFLOAT16 -> Half.bfloat16ToFloat(b.getShort(2 * i));
            default -> throw new IllegalStateException("Logits came back as " + t.dtype() + ".");
          };
    }
    return v;
  }

  /** Every element type the graph computes with, for the backend to check. */
  private static Set<DType> dtypes(Graph g) {
    Set<DType> dtypes = EnumSet.noneOf(DType.class);
    g.inputs().forEach(t -> dtypes.add(t.dtype()));
    g.parameters().forEach(t -> dtypes.add(t.dtype()));
    g.nodes().stream().map(Node::output).forEach(t -> dtypes.add(t.dtype()));
    return dtypes;
  }
}
