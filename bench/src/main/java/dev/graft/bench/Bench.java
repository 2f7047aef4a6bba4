package dev.graft.bench;

import static java.nio.charset.StandardCharsets.UTF_8;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.graft.api.FineTuningMethod;
import dev.graft.api.MethodRegistry;
import dev.graft.api.backend.Availability;
import dev.graft.api.backend.ComputeBackend;
import dev.graft.api.backend.HostTensor;
import dev.graft.api.backend.Program;
import dev.graft.api.backend.Session;
import dev.graft.api.quant.FourBit;
import dev.graft.backend.cpu.CpuBackend;
import dev.graft.graph.DType;
import dev.graft.graph.Graph;
import dev.graft.graph.Shape;
import dev.graft.graph.Tensor;
import dev.graft.method.adalora.AdaLoraMethod;
import dev.graft.method.adapter.BottleneckAdapterMethod;
import dev.graft.method.bitfit.BitFitMethod;
import dev.graft.method.deltalora.DeltaLoraMethod;
import dev.graft.method.dora.DoraMethod;
import dev.graft.method.full.FullFineTuning;
import dev.graft.method.lora.LoraMethod;
import dev.graft.method.loradrop.LoraDropMethod;
import dev.graft.method.moelora.MoeLoraMethod;
import dev.graft.method.prefix.PrefixTuningMethod;
import dev.graft.method.prompt.PromptTuningMethod;
import dev.graft.method.qlora.QloraMethod;
import dev.graft.model.FourBitCheckpoint;
import dev.graft.model.ModelConfig;
import dev.graft.model.ModelGraph;
import dev.graft.model.SafetensorsReader;
import dev.graft.model.SafetensorsWriter;
import dev.graft.train.job.JobSpec;
import dev.graft.train.job.Run;
import dev.graft.train.registry.FixedMethodRegistry;
import dev.graft.train.run.SftRun;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * Graft's side of {@code bench/run}. Three commands, each meant to run in its own JVM so that its
 * peak RSS is its own:
 *
 * <ul>
 *   <li>{@code init dir=D shape=gpt2|llama [layers=L]}: a random-init Hugging Face model folder
 *       (config.json, model.safetensors, a byte-level tokenizer.json) and a JSONL file of samples
 *       longer than any benchmarked sequence, so that every row of every batch is full; and its NF4
 *       copy as {@code graft:quantize} writes it, in {@code D/nf4}.
 *   <li>{@code row dir=D workload=W batch=B seq=S warmup=W steps=N threads=T [profile=PREFIX]
 *       [lockstep=true]}, W one of lora-qv, lora-all, full, infer, adalora, adapter, bitfit,
 *       prompt-tuning, prefix-tuning, delta-lora-qv, moelora-qv, lora-drop-qv, dora, dora-expanded,
 *       qlora, qlora-prequantised, lora-dpo, lora-dpo-precompute: training rows build and run
 *       exactly {@link SftRun} (graph, methods, cross-entropy, backward, AdamW, one ONNX program
 *       per step on the CPU backend); {@code infer} runs the forward graph of {@link
 *       ModelGraph#build} and fetches the logits. Prints one {@code RESULT {json}} line.
 *   <li>{@code gemm n=2048 threads=T}: fp32 n³ MatMuls (four chained per run, the right-hand side a
 *       frozen weight) through the CPU backend (ORT/MLAS), the machine's GEMM ceiling as Graft sees
 *       it. Prints one {@code RESULT {json}} line.
 * </ul>
 */
public final class Bench {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** The folder under a model folder where init writes its NF4 copy. */
  private static final String NF4 = "nf4";

  private Bench() {}

  public static void main(String[] args) throws Exception {
    if (args.length == 0) {
      System.err.println("usage: Bench init|row|gemm key=value ...");
      System.exit(2);
    }
    Map<String, String> a = new LinkedHashMap<>();
    for (int i = 1; i < args.length; i++) {
      int eq = args[i].indexOf('=');
      if (eq < 0) {
        throw new IllegalArgumentException("Arguments are key=value, not " + args[i]);
      }
      a.put(args[i].substring(0, eq), args[i].substring(eq + 1));
    }
    switch (args[0]) {
      case "init" -> init(a);
      case "row" -> row(a);
      case "gemm" -> gemm(a);
      default -> throw new IllegalArgumentException("Unknown command " + args[0]);
    }
  }

  // ---------------------------------------------------------------- init

  static void init(Map<String, String> a) throws IOException {
    Path dir = Path.of(a.get("dir"));
    String shape = a.get("shape");
    Files.createDirectories(dir);
    ObjectNode c = JSON.createObjectNode();
    if (shape.equals("gpt2")) {
      c.putArray("architectures").add("GPT2LMHeadModel");
      c.put("model_type", "gpt2");
      c.put("n_embd", 768);
      c.put("n_layer", Integer.parseInt(a.getOrDefault("layers", "12")));
      c.put("n_head", 12);
      c.put("n_inner", 3072);
      c.put("vocab_size", 50257);
      c.put("n_positions", 1024);
      c.put("activation_function", "gelu_new");
      c.put("layer_norm_epsilon", 1e-5);
      c.put("tie_word_embeddings", true);
    } else if (shape.equals("llama")) {
      c.putArray("architectures").add("LlamaForCausalLM");
      c.put("model_type", "llama");
      c.put("hidden_size", 1024);
      c.put("intermediate_size", 2816);
      c.put("num_hidden_layers", Integer.parseInt(a.getOrDefault("layers", "2")));
      c.put("num_attention_heads", 16);
      c.put("num_key_value_heads", 16);
      c.put("vocab_size", 32000);
      c.put("max_position_embeddings", 2048);
      c.put("rms_norm_eps", 1e-6);
      c.put("rope_theta", 10000.0);
      c.put("tie_word_embeddings", false);
      c.put("hidden_act", "silu");
      c.put("bos_token_id", 1);
      c.put("eos_token_id", 2);
    } else {
      throw new IllegalArgumentException("shape is gpt2 or llama, not " + shape);
    }
    Files.writeString(
        dir.resolve(ModelConfig.FILE), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(c));
    ModelConfig config = ModelConfig.read(dir.resolve(ModelConfig.FILE));

    // Random init as GPT-2/Llama do it (std 0.02 for matrices, norms at 1, biases at 0), drawn
    // uniformly with the same standard deviation because only the arithmetic matters here.
    SplittableRandom random = new SplittableRandom(1234);
    double half = 0.02 * Math.sqrt(3);
    SafetensorsWriter writer = new SafetensorsWriter().metadata("format", "pt");
    long params = 0;
    for (Map.Entry<String, long[]> t : config.expectedTensors().entrySet()) {
      long[] s = t.getValue();
      float[] v = new float[Math.toIntExact(HostTensor.elements(s))];
      if (s.length == 1) {
        if (!t.getKey().endsWith(".bias")) {
          java.util.Arrays.fill(v, 1f);
        }
      } else {
        for (int i = 0; i < v.length; i++) {
          v[i] = (float) ((random.nextDouble() * 2 - 1) * half);
        }
      }
      params += v.length;
      writer.add(t.getKey(), s, v);
    }
    writer.write(dir.resolve("model.safetensors"));
    Files.writeString(dir.resolve("tokenizer.json"), byteLevelTokenizer());
    // 64 samples of 1100 characters: one token per byte with this tokenizer, so every sample is
    // cut to max_length and every batch is batch × seq real tokens.
    StringBuilder lines = new StringBuilder();
    String[] words = {"the", "cat", "sat", "on", "a", "warm", "mat", "and", "dog", "ran", "far"};
    for (int i = 0; i < 64; i++) {
      StringBuilder text = new StringBuilder();
      while (text.length() < 1100) {
        text.append(words[random.nextInt(words.length)]).append(' ');
      }
      lines.append("{\"text\": \"").append(text.toString().trim()).append("\"}\n");
    }
    Files.writeString(dir.resolve("data.jsonl"), lines);
    // The same model quantised to NF4 as graft:quantize writes it, for qlora-prequantised.
    FourBitCheckpoint.write(dir, dir.resolve(NF4), FourBit.Type.NF4, true, List.of());
    System.out.println(
        "RESULT "
            + JSON.writeValueAsString(
                Map.of("init", shape, "params", params, "weights_bytes", 4 * params)));
  }

  /** Byte-level BPE without merges: token id = byte (GPT-2's byte-to-unicode mapping). */
  static String byteLevelTokenizer() throws IOException {
    List<Integer> bs = new ArrayList<>();
    for (int b = '!'; b <= '~'; b++) bs.add(b);
    for (int b = 0xA1; b <= 0xAC; b++) bs.add(b);
    for (int b = 0xAE; b <= 0xFF; b++) bs.add(b);
    Map<Integer, Integer> chars = new LinkedHashMap<>();
    bs.forEach(b -> chars.put(b, b));
    int n = 0;
    for (int b = 0; b < 256; b++) {
      if (!chars.containsKey(b)) {
        chars.put(b, 256 + n++);
      }
    }
    ObjectNode vocab = JSON.createObjectNode();
    for (int b = 0; b < 256; b++) {
      vocab.put(new String(Character.toChars(chars.get(b))), b);
    }
    ObjectNode root = JSON.createObjectNode();
    root.put("version", "1.0");
    root.putArray("added_tokens");
    root.putNull("normalizer");
    ObjectNode pre = root.putObject("pre_tokenizer");
    pre.put("type", "ByteLevel");
    pre.put("add_prefix_space", false);
    pre.put("trim_offsets", true);
    pre.put("use_regex", true);
    root.putNull("post_processor");
    ObjectNode dec = root.putObject("decoder");
    dec.put("type", "ByteLevel");
    dec.put("add_prefix_space", true);
    dec.put("trim_offsets", true);
    dec.put("use_regex", true);
    ObjectNode model = root.putObject("model");
    model.put("type", "BPE");
    model.putNull("dropout");
    model.putNull("unk_token");
    model.put("byte_fallback", false);
    model.set("vocab", vocab);
    model.putArray("merges");
    return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root);
  }

  // ---------------------------------------------------------------- row

  /**
   * Preference pairs from {@code data.jsonl}: the prompt is a line's first 100 characters, chosen
   * the rest of it, rejected the rest of the next line (each side longer than any bench seq).
   */
  static Path pairs(Path dir) throws IOException {
    List<String> texts = new ArrayList<>();
    for (String line : Files.readAllLines(dir.resolve("data.jsonl"))) {
      if (!line.isBlank()) {
        texts.add(JSON.readTree(line).get("text").asText());
      }
    }
    StringBuilder out = new StringBuilder();
    for (int i = 0; i < texts.size(); i++) {
      String next = texts.get((i + 1) % texts.size());
      Map<String, String> pair = new LinkedHashMap<>();
      pair.put("prompt", texts.get(i).substring(0, 100));
      pair.put("chosen", texts.get(i).substring(100));
      pair.put("rejected", next.substring(100));
      out.append(JSON.writeValueAsString(pair)).append('\n');
    }
    Path file = dir.resolve("pairs.jsonl");
    Files.writeString(file, out);
    return file;
  }

  static void row(Map<String, String> a) throws Exception {
    Path dir = Path.of(a.get("dir"));
    String workload = a.get("workload");
    int batch = Integer.parseInt(a.getOrDefault("batch", "4"));
    int seq = Integer.parseInt(a.getOrDefault("seq", "256"));
    int warmup = Integer.parseInt(a.getOrDefault("warmup", "2"));
    int steps = Integer.parseInt(a.getOrDefault("steps", "2"));
    int threads = Integer.parseInt(a.getOrDefault("threads", "2"));
    String profile = a.getOrDefault("profile", "");
    boolean lockstep = Boolean.parseBoolean(a.getOrDefault("lockstep", "false"));
    BufferedReader control = new BufferedReader(new InputStreamReader(System.in, UTF_8));
    ComputeBackend backend = profile.isEmpty() ? cpu(threads) : profiling(threads, profile);

    long t0 = System.nanoTime();
    List<Double> times = new ArrayList<>();
    double setup;
    long setupPeak;
    long setupFile;
    String note = "";
    if (workload.equals("infer")) {
      ModelConfig config = ModelConfig.read(dir.resolve(ModelConfig.FILE));
      try (SafetensorsReader checkpoint = SafetensorsReader.open(dir)) {
        ModelGraph model = ModelGraph.build(config, DType.FLOAT32);
        Program program =
            model.program(
                checkpoint, Map.of(), Set.of(DType.FLOAT32, DType.INT64, DType.BOOL), false);
        try (Session session = backend.open(program)) {
          setup = (System.nanoTime() - t0) / 1e9;
          setupPeak = procStatus("VmHWM");
          setupFile = procStatus("RssFile");
          SplittableRandom random = new SplittableRandom(7);
          long[] shape = {batch, seq};
          long[] ids = new long[batch * seq];
          long[] pos = new long[batch * seq];
          long[] seg = new long[batch * seq];
          for (int i = 0; i < ids.length; i++) {
            ids[i] = random.nextInt(config.vocabSize());
            pos[i] = i % seq;
            seg[i] = 1;
          }
          Map<String, HostTensor> feeds = new LinkedHashMap<>();
          feeds.put("input_ids", HostTensor.ofLongs(shape, ids));
          feeds.put("position_ids", HostTensor.ofLongs(shape, pos));
          feeds.put("segment_ids", HostTensor.ofLongs(shape, seg));
          ready(lockstep);
          for (int s = 0; s < warmup + steps; s++) {
            await(lockstep, control);
            long t = System.nanoTime();
            Map<String, HostTensor> out = session.run(feeds, Set.of("logits"));
            if (out.get("logits").shape()[2] != config.vocabSize()) {
              throw new IllegalStateException("unexpected logits shape");
            }
            double dt = (System.nanoTime() - t) / 1e9;
            done(lockstep, dt);
            if (s >= warmup) {
              times.add(dt);
            }
          }
        }
      }
      note = "forward over batch x seq, logits (B,S,V) fetched to the host";
    } else {
      Map<String, String> spec = new LinkedHashMap<>();
      spec.put("model", dir.toString());
      spec.put("data", dir.resolve("data.jsonl").toString());
      spec.put("seed", "7");
      spec.put("per_device_train_batch_size", Integer.toString(batch));
      spec.put("max_length", Integer.toString(seq));
      spec.put("learning_rate", "1e-4");
      spec.put("lr_scheduler_type", "constant");
      spec.put("max_steps", Integer.toString(warmup + steps));
      switch (workload) {
        case "lora-qv" -> {
          // PEFT's default targets: q_proj, v_proj (Llama); c_attn, the fused q|k|v (GPT-2).
          spec.put("method", "lora");
          spec.put("lora.r", "8");
          spec.put("lora.lora_alpha", "16");
        }
        case "lora-all" -> {
          spec.put("method", "lora");
          spec.put("lora.r", "8");
          spec.put("lora.lora_alpha", "16");
          spec.put("lora.target_modules", "all-linear");
        }
        case "adalora" -> {
          // PEFT's AdaLoraConfig defaults on PEFT's default targets; total_step = the job's steps.
          spec.put("method", "adalora");
          spec.put("adalora.init_r", "12");
          spec.put("adalora.target_r", "8");
          spec.put("adalora.lora_alpha", "16");
        }
        case "delta-lora-qv" -> {
          // lora-qv with Delta-LoRA's update of W from the first step (K = 0, λ = 2).
          spec.put("method", "delta-lora");
          spec.put("delta-lora.r", "8");
          spec.put("delta-lora.lora_alpha", "16");
          spec.put("delta-lora.update_start_step", "0");
        }
        case "moelora-qv" -> {
          // lora-qv as 4 MoELoRA experts of rank 2 and a gate; one task (the data has no field).
          spec.put("method", "moelora");
          spec.put("moelora.r", "8");
          spec.put("moelora.lora_alpha", "16");
          spec.put("moelora.num_experts", "4");
        }
        case "lora-drop-qv" -> {
          // lora-qv after LoRA-drop's choice; its 2 warm-up steps and measurement run in the
          // first (untimed) step.
          spec.put("method", "lora-drop");
          spec.put("lora-drop.r", "8");
          spec.put("lora-drop.lora_alpha", "16");
          spec.put("lora-drop.lora_drop_warmup_steps", "2");
          spec.put("lora-drop.lora_drop_samples", "2");
        }
        case "dora", "dora-expanded" -> {
          // DoRA on lora-qv's layers and settings: the step-time ratio to LoRA. The second row
          // expands the row norm (‖W‖² + 2s·(W·Aᵀ)·B + s²·B·A·Aᵀ·B) (one JVM per row: the property
          // is ours).
          if (workload.equals("dora-expanded")) {
            System.setProperty("graft.dora.expandNorm", "true");
          }
          spec.put("method", "dora");
          spec.put("dora.r", "8");
          spec.put("dora.lora_alpha", "16");
        }
        case "qlora", "qlora-prequantised" -> {
          // lora-all on the NF4 base (double-quantised scales): method=qlora means qlora,lora.
          // Prequantised: on the 4-bit folder init wrote (graft:quantize), whose stored codes the
          // step program is fed without a float copy.
          if (workload.equals("qlora-prequantised")) {
            spec.put("model", dir.resolve(NF4).toString());
          }
          spec.put("method", "qlora");
          spec.put("lora.r", "8");
          spec.put("lora.lora_alpha", "16");
          spec.put("lora.target_modules", "all-linear");
        }
        case "full" -> spec.put("method", "full");
        // AdapterHub's houlsby: an adapter after attention and one after the MLP, d/16 wide.
        case "adapter" -> spec.put("method", "adapter");
        // Every bias trains; Llama gets zero biases on all seven linears of each block.
        case "bitfit" -> spec.put("method", "bitfit");
        case "prompt-tuning", "prefix-tuning" -> {
          // 20 virtual tokens (PEFT's examples): every row attends to 20 more positions.
          spec.put("method", workload);
          spec.put(workload + ".num_virtual_tokens", "20");
        }
        case "lora-dpo", "lora-dpo-precompute" -> {
          // lora-qv's adapter under DPO: batch rows = batch / 2 pairs, plus the reference pass
          // before each step, or (precompute) once over all pairs during setup.
          spec.put("precompute_ref_log_probs", Boolean.toString(workload.endsWith("precompute")));
          spec.put("method", "lora,dpo");
          spec.put("lora.r", "8");
          spec.put("lora.lora_alpha", "16");
          spec.put("data", pairs(dir).toString());
          spec.put("per_device_train_batch_size", Integer.toString(batch / 2));
        }
        default -> throw new IllegalArgumentException("Unknown workload " + workload);
      }
      try (SftRun run = new SftRun(JobSpec.parse(spec, REGISTRY), REGISTRY, backend, n -> {})) {
        setup = (System.nanoTime() - t0) / 1e9;
        setupPeak = procStatus("VmHWM");
        setupFile = procStatus("RssFile");
        ready(lockstep);
        for (int s = 0; s < warmup + steps; s++) {
          await(lockstep, control);
          long t = System.nanoTime();
          Run.StepResult r = run.step(s);
          double dt = (System.nanoTime() - t) / 1e9;
          done(lockstep, dt);
          if (r.tokens() != (long) batch * seq) {
            throw new IllegalStateException(
                "step " + s + " had " + r.tokens() + " tokens, not " + batch * seq);
          }
          if (!Double.isFinite(r.loss())) {
            throw new IllegalStateException("step " + s + " loss " + r.loss());
          }
          if (s >= warmup) {
            times.add(dt);
          }
        }
      }
      note = "SftRun.step: feeds, forward+backward+clip+AdamW, loss fetched";
    }
    double total = times.stream().mapToDouble(Double::doubleValue).sum();
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("framework", "graft");
    out.put("workload", workload);
    out.put("batch", batch);
    out.put("seq", seq);
    out.put("threads", threads);
    out.put("warmup", warmup);
    out.put("steps", steps);
    out.put("setup_s", round(setup));
    out.put("step_s", times.stream().map(Bench::round).toList());
    out.put("tokens_per_s", round((double) batch * seq * steps / total));
    out.put("peak_rss_bytes", procStatus("VmHWM"));
    out.put("peak_rss_after_setup_bytes", setupPeak);
    out.put("rss_after_steps_bytes", procStatus("VmRSS"));
    out.put("rss_file_after_setup_bytes", setupFile);
    out.put("weights_bytes", weightsBytes(dir));
    out.put("device", backend.device());
    out.put("note", note);
    System.out.println("RESULT " + JSON.writeValueAsString(out));
  }

  /*
   * Lock-step mode (bench/interleave.py): after setup the process says READY, then runs one step
   * per STEP line on stdin and answers DONE <seconds>, so that a driver can alternate Graft and
   * PyTorch step by step and both see the same load from other jobs on the machine.
   */

  private static void ready(boolean lockstep) {
    if (lockstep) {
      System.out.println("READY");
      System.out.flush();
    }
  }

  private static void await(boolean lockstep, BufferedReader control) throws IOException {
    if (lockstep) {
      String line = control.readLine();
      if (!"STEP".equals(line)) {
        throw new IllegalStateException("expected STEP on stdin, got " + line);
      }
    }
  }

  private static void done(boolean lockstep, double seconds) {
    if (lockstep) {
      System.out.println("DONE " + seconds);
      System.out.flush();
    }
  }

  // ---------------------------------------------------------------- gemm

  static void gemm(Map<String, String> a) {
    int n = Integer.parseInt(a.getOrDefault("n", "2048"));
    int threads = Integer.parseInt(a.getOrDefault("threads", "2"));
    int repeats = Integer.parseInt(a.getOrDefault("repeats", "5"));
    int chain = 4;
    // x·B·B·B·B with B a frozen weight: four MatMuls per run, so the copies of the fed x and the
    // fetched result weigh little. B's rows sum to about 1, so values stay finite.
    Graph g = new Graph();
    Tensor x = g.input("x", DType.FLOAT32, Shape.of(n, n));
    Tensor b = g.parameter("b", DType.FLOAT32, Shape.of(n, n), false);
    Tensor y = x;
    for (int i = 0; i < chain; i++) {
      y = g.matmul(y, b);
    }
    g.output("y", y);
    float[] values = new float[n * n];
    SplittableRandom random = new SplittableRandom(3);
    for (int i = 0; i < values.length; i++) {
      values[i] = (float) (random.nextDouble() * 2.0 / n);
    }
    long[] shape = {n, n};
    Program program =
        new Program(
            g.toOnnx(),
            Map.of("b", HostTensor.ofFloats(shape, values)),
            Map.of(),
            Set.of(DType.FLOAT32));
    Map<String, HostTensor> feeds = Map.of("x", HostTensor.ofFloats(shape, values));
    double best = Double.MAX_VALUE;
    try (Session session = cpu(threads).open(program)) {
      for (int i = 0; i < repeats + 2; i++) {
        long t = System.nanoTime();
        session.run(feeds, Set.of("y"));
        double dt = (System.nanoTime() - t) / 1e9;
        if (i >= 2) {
          best = Math.min(best, dt);
        }
      }
    }
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("framework", "graft");
    out.put("gemm_n", n);
    out.put("threads", threads);
    out.put("best_s", round(best / chain));
    out.put("gflops", round(2.0 * n * n * n * chain / best / 1e9));
    out.put(
        "note",
        "ORT MatMul (MLAS) through the cpu backend, "
            + chain
            + " chained per run, best of "
            + repeats
            + " runs");
    try {
      System.out.println("RESULT " + JSON.writeValueAsString(out));
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  // ---------------------------------------------------------------- helpers

  private static double round(double v) {
    return Math.round(v * 1e4) / 1e4;
  }

  /** Bytes of the model's fp32 weights, from its config. */
  static long weightsBytes(Path dir) throws IOException {
    ModelConfig config = ModelConfig.read(dir.resolve(ModelConfig.FILE));
    return 4 * config.expectedTensors().values().stream().mapToLong(HostTensor::elements).sum();
  }

  /** A line of /proc/self/status in bytes (VmHWM: peak resident set). */
  static long procStatus(String key) throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
      if (line.startsWith(key + ":")) {
        String[] parts = line.substring(key.length() + 1).trim().split("\\s+");
        return Long.parseLong(parts[0]) * 1024;
      }
    }
    return -1;
  }

  static CpuBackend cpu(int threads) {
    CpuBackend backend = new CpuBackend();
    backend.configure(CpuBackend.config(threads));
    if (!backend.availability().available()) {
      throw new IllegalStateException(backend.availability().reason());
    }
    return backend;
  }

  /**
   * The CPU backend's session options plus ORT's profiler, which writes {@code PREFIX_<date>.json}
   * when the session closes.
   */
  static ComputeBackend profiling(int threads, String prefix) {
    CpuBackend cpu = cpu(threads);
    return new ComputeBackend() {
      @Override
      public String name() {
        return "cpu-profiled";
      }

      @Override
      public String device() {
        return cpu.device() + ", ORT profiler on";
      }

      @Override
      public Availability availability() {
        return cpu.availability();
      }

      @Override
      public Session open(Program program) {
        return cpu.open(program, options -> options.enableProfiling(prefix));
      }
    };
  }

  static final List<FineTuningMethod> METHODS =
      List.of(
          new LoraMethod(),
          new AdaLoraMethod(),
          new DoraMethod(),
          new QloraMethod(),
          new FullFineTuning(),
          new BottleneckAdapterMethod(),
          new BitFitMethod(),
          new PromptTuningMethod(),
          new PrefixTuningMethod(),
          new DeltaLoraMethod(),
          new MoeLoraMethod(),
          new LoraDropMethod(),
          new dev.graft.method.dpo.DpoMethod());

  /** The benchmarked methods as a registry, without a framework. */
  static final MethodRegistry REGISTRY = new FixedMethodRegistry(METHODS);
}
