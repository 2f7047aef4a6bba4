package dev.graft.example.quickstart;

import dev.graft.api.backend.ComputeBackend;
import dev.graft.api.train.Job;
import dev.graft.api.train.JobState;
import dev.graft.api.train.JobStatus;
import dev.graft.api.train.TrainingService;
import dev.graft.example.quickstart.Facts.Fact;
import dev.graft.graph.DType;
import dev.graft.model.Generator;
import dev.graft.model.Tokenizer;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The quickstart, over the published API only: a tiny base model fails a task, LoRA fine-tunes it
 * through the {@link TrainingService}, and the base model with the adapter succeeds.
 *
 * <ol>
 *   <li>Write a tiny random Llama and pretrain it (full fine-tuning) on the colours of everyday
 *       things, so that it answers questions in the right form: this is the base model.
 *   <li>Ask it the colours of made-up animals: it guesses.
 *   <li>Train a LoRA adapter on those answers, printing the loss.
 *   <li>Ask again with the adapter merged into the base weights: it knows.
 * </ol>
 */
final class Quickstart {
  /**
   * What to run.
   *
   * @param pretrainSteps full fine-tuning steps that make the base model
   * @param steps LoRA steps
   * @param learningRate LoRA learning rate
   * @param seed seed of the weights, the data and the training runs
   * @param backend the compute backend both training runs use
   */
  record Settings(int pretrainSteps, int steps, double learningRate, long seed, String backend) {
    // The command's defaults (strings, as Gogo annotations need them); tested in QuickstartTest.
    static final String PRETRAIN_STEPS = "300";
    static final String STEPS = "100";
    static final String LEARNING_RATE = "5e-3";
    static final String SEED = "7";
    static final String BACKEND = "cpu";

    Settings {
      if (pretrainSteps < 1 || steps < 1) {
        throw new IllegalArgumentException(
            "Steps must be at least 1, not " + Math.min(pretrainSteps, steps) + ".");
      }
      if (!(learningRate > 0)) {
        throw new IllegalArgumentException(
            "The learning rate must be above 0, not " + learningRate + "; try 5e-3.");
      }
    }
  }

  /** One question as the model answered it. */
  record Answer(Fact fact, String text) {
    boolean correct() {
      return text.strip().equals(fact.colour());
    }
  }

  /** What a run found and wrote. */
  record Result(
      List<Answer> before,
      List<Answer> after,
      int everydayBefore,
      int everydayAfter,
      Path baseModel,
      Path adapter,
      Path report,
      Path metrics,
      String summary) {}

  private static final int MAX_NEW_TOKENS = 12;
  private static final String PRETRAIN_DATA = "data/pretrain.jsonl";
  private static final String LORA_DATA = "data/lora-train.jsonl";

  private final TrainingService training;
  private final ComputeBackend backend;
  private final Path work;
  private final PrintStream out;

  /**
   * @param backend where generation runs (training runs on the job's backend)
   * @param work the quickstart's own folder; its previous contents are replaced
   */
  Quickstart(TrainingService training, ComputeBackend backend, Path work, PrintStream out) {
    this.training = training;
    this.backend = backend;
    this.work = work.toAbsolutePath();
    this.out = out;
  }

  Result run(Settings s) throws IOException, InterruptedException {
    long started = System.nanoTime();
    deleteTree(work);
    Files.createDirectories(work);
    out.println("Graft quickstart: teach a small language model new facts with LoRA.");
    out.println("Work folder: " + work);

    Path baseModel = pretrain(s);

    List<Fact> task = Facts.task(s.seed());
    out.printf(
        "%n2. The task: the colours of %d made-up animals. The base model has never seen them."
            + "%n   Before fine-tuning it answers:%n",
        task.size());
    List<Answer> before = ask(baseModel, task);
    int everydayBefore = correct(ask(baseModel, Facts.EVERYDAY));
    print(before);

    Job job = fineTune(baseModel, task, s);
    Path adapter = job.outputDirectory().resolve("adapter");

    // The generator opens model folders, so the adapter is merged into a copy of the base model.
    Path merged = work.resolve("merged");
    int layers = PeftMerge.merge(baseModel, adapter, merged);
    out.printf(
        "%n4. After fine-tuning (base model + adapter, merged into its %d linear layers):%n",
        layers);
    List<Answer> after = ask(merged, task);
    int everydayAfter = correct(ask(merged, Facts.EVERYDAY));
    print(after);

    int n = task.size();
    int everyday = Facts.EVERYDAY.size();
    out.printf(
        "%nMade-up animals answered right: %d/%d before, %d/%d after"
            + " (the questions the adapter was trained on:%n"
            + "LoRA taught the model new facts). Everyday facts: %d/%d before, %d/%d after.%n",
        correct(before), n, correct(after), n, everydayBefore, everyday, everydayAfter, everyday);
    Path report = job.outputDirectory().resolve("report.html");
    Path metrics = job.outputDirectory().resolve("metrics.csv");
    out.println();
    out.println("Files:");
    out.println("  LoRA adapter (PEFT format)  " + adapter + "/");
    out.println("  training report             " + report);
    out.println("  loss per step               " + metrics);
    out.println("  training data               " + work.resolve(LORA_DATA));
    out.println("  base model                  " + baseModel + "/");
    out.println("  base model + adapter        " + merged + "/");
    String summary =
        String.format(
            Locale.ROOT,
            "Quickstart done in %.0f s: %d/%d right before LoRA, %d/%d after.%n"
                + "Adapter: %s/%nReport:  %s%n",
            (System.nanoTime() - started) / 1e9,
            correct(before),
            n,
            correct(after),
            n,
            adapter,
            report);
    return new Result(
        before, after, everydayBefore, everydayAfter, baseModel, adapter, report, metrics, summary);
  }

  /** Writes a random tiny Llama and pretrains it on everyday facts; returns the model folder. */
  private Path pretrain(Settings s) throws IOException, InterruptedException {
    Path init = work.resolve("init");
    long parameters = TinyLlama.write(init, s.seed());
    Path data = work.resolve(PRETRAIN_DATA);
    Facts.writeText(data, Facts.EVERYDAY);
    out.printf(
        Locale.ROOT,
        "%n1. The base model: a tiny Llama (%d layers, hidden size %d, %d-character vocabulary,"
            + " %,d parameters),%n   pretrained from random weights on %d facts about everyday"
            + " things (full fine-tuning, %d steps).%n",
        TinyLlama.LAYERS,
        TinyLlama.HIDDEN,
        TinyLlama.VOCAB.size(),
        parameters,
        Facts.EVERYDAY.size(),
        s.pretrainSteps());
    Map<String, String> spec = spec(init, data, "full", s);
    spec.put("max_steps", Integer.toString(s.pretrainSteps()));
    spec.put("per_device_train_batch_size", Integer.toString(Facts.EVERYDAY.size()));
    spec.put("learning_rate", "3e-3");
    spec.put("output_dir", work.resolve("base").toString());
    return follow(training.submit(spec)).outputDirectory().resolve("model");
  }

  /**
   * Trains the LoRA adapter on the new facts and the everyday ones (replayed, as one does to keep
   * what a model knows: without them this small model forgets most everyday facts).
   */
  private Job fineTune(Path baseModel, List<Fact> task, Settings s)
      throws IOException, InterruptedException {
    List<Fact> lessons = new ArrayList<>(task);
    lessons.addAll(Facts.EVERYDAY);
    Path data = work.resolve(LORA_DATA);
    Facts.writePromptCompletion(data, lessons);
    Map<String, String> spec = spec(baseModel, data, "lora", s);
    spec.put("max_steps", Integer.toString(s.steps()));
    spec.put("per_device_train_batch_size", Integer.toString(lessons.size()));
    spec.put("learning_rate", Double.toString(s.learningRate()));
    spec.put("lora.r", "8");
    spec.put("lora.lora_alpha", "16");
    spec.put("lora.target_modules", "all-linear");
    spec.put("output_dir", work.resolve("lora").toString());
    out.printf(
        Locale.ROOT,
        "%n3. LoRA fine-tuning: rank 8 on every linear layer, %d steps, learning rate %s,"
            + " on the %d new facts%n   and the %d everyday ones (replayed, so that the model"
            + " keeps them). The base weights stay frozen.%n",
        s.steps(),
        spec.get("learning_rate"),
        task.size(),
        Facts.EVERYDAY.size());
    return follow(training.submit(spec));
  }

  /**
   * The job settings both runs share. Each run puts all its samples in one batch, so that the loss
   * it prints is the loss on the whole training set, not on a varying part of it.
   */
  private static Map<String, String> spec(Path model, Path data, String method, Settings s) {
    Map<String, String> spec = new LinkedHashMap<>();
    spec.put("model", model.toString());
    spec.put("data", data.toString());
    spec.put("method", method);
    spec.put("backend", s.backend());
    spec.put("max_length", "64");
    spec.put("lr_scheduler_type", "cosine");
    spec.put("warmup_steps", "10");
    spec.put("save_steps", "0");
    spec.put("seed", Long.toString(s.seed()));
    return spec;
  }

  /** Greedy answers, up to the end-of-text token. */
  private List<Answer> ask(Path model, List<Fact> facts) throws IOException {
    try (Generator generator = Generator.open(backend, model, DType.FLOAT32)) {
      Tokenizer tokenizer = Tokenizer.load(model);
      List<int[]> prompts = new ArrayList<>();
      facts.forEach(f -> prompts.add(tokenizer.encode(f.prompt(), true)));
      Generator.Options greedy =
          Generator.Options.greedy(MAX_NEW_TOKENS)
              .withStopTokens(List.of(tokenizer.eosId().orElseThrow()))
              .withStopStrings(List.of("\n"));
      List<Generator.Completion> completions = generator.generate(prompts, greedy);
      List<Answer> answers = new ArrayList<>();
      for (int i = 0; i < facts.size(); i++) {
        answers.add(new Answer(facts.get(i), completions.get(i).text().strip()));
      }
      return answers;
    }
  }

  private void print(List<Answer> answers) {
    for (Answer a : answers) {
      out.printf(
          "   %-28s -> %-10s %s%n",
          a.fact().prompt().replace("\n", " ").replace(" A:", ""),
          a.text(),
          a.correct() ? "right" : "wrong (it is " + a.fact().colour() + ")");
    }
  }

  private static int correct(List<Answer> answers) {
    return (int) answers.stream().filter(Answer::correct).count();
  }

  /**
   * Prints the loss every few steps until the job ends; fails unless it completed. When the thread
   * is interrupted (Ctrl-C in the shell) the job is cancelled.
   */
  private Job follow(Job job) throws InterruptedException {
    try {
      return progress(job);
    } catch (InterruptedException e) {
      job.cancel();
      throw e;
    }
  }

  private Job progress(Job job) throws InterruptedException {
    long shown = 0;
    while (true) {
      JobStatus st = job.status();
      long every = Math.max(1, st.totalSteps() / 10);
      // The first step, then one line per tenth of the run (the latest loss), and the last step.
      if (st.step() > shown
          && (shown == 0 || st.step() / every > shown / every || st.state().isFinal())) {
        out.printf(
            Locale.ROOT,
            "   step %4d/%d  loss %.4f  %,.0f tokens/s%n",
            st.step(),
            st.totalSteps(),
            st.loss(),
            st.tokensPerSecond());
        out.flush();
        shown = st.step();
      }
      if (st.state().isFinal()) {
        if (st.state() != JobState.COMPLETED) {
          throw new IllegalStateException(
              "Training job "
                  + job.id()
                  + " "
                  + st.state().name().toLowerCase(Locale.ROOT)
                  + ": "
                  + st.message());
        }
        return job;
      }
      Thread.sleep(50);
    }
  }

  static void deleteTree(Path path) throws IOException {
    if (!Files.exists(path)) {
      return;
    }
    try (Stream<Path> walk = Files.walk(path)) {
      for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
        Files.delete(p);
      }
    }
  }
}
