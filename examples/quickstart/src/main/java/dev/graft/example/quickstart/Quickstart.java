package dev.graft.example.quickstart;

import dev.graft.api.model.GenerationSettings;
import dev.graft.api.model.ModelService;
import dev.graft.api.train.Job;
import dev.graft.api.train.JobState;
import dev.graft.api.train.JobStatus;
import dev.graft.api.train.TrainingService;
import dev.graft.example.quickstart.Facts.Fact;
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
 * through the {@link TrainingService}, and the base model with the adapter succeeds, as the {@link
 * ModelService} generates with it.
 *
 * <ol>
 *   <li>Write a tiny random Llama and pretrain it (full fine-tuning) on the colours of everyday
 *       things, so that it answers questions in the right form: this is the base model.
 *   <li>Ask it the colours of made-up animals: it guesses.
 *   <li>Train a LoRA adapter on those answers, printing the loss.
 *   <li>Ask again with the adapter applied to the base model: it knows. The adapter is also merged
 *       into a copy of the base model, a plain Hugging Face model folder.
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
      Path merged,
      Path report,
      Path metrics,
      String summary) {}

  /** Enough for every colour and the newline or end of text after it. */
  private static final int MAX_NEW_TOKENS = 12;

  private static final String PRETRAIN_DATA = "data/pretrain.jsonl";
  private static final String LORA_DATA = "data/lora-train.jsonl";

  private final TrainingService training;
  private final ModelService models;
  private final Path work;
  private final PrintStream out;

  /**
   * @param work the quickstart's own folder; its previous contents are replaced
   */
  Quickstart(TrainingService training, ModelService models, Path work, PrintStream out) {
    this.training = training;
    this.models = models;
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
    GenerationSettings greedy = greedy(s.backend());
    List<Answer> before = ask(baseModel, null, task, greedy);
    int everydayBefore = correct(ask(baseModel, null, Facts.EVERYDAY, greedy));
    print(before);

    Job job = fineTune(baseModel, task, s);
    Path adapter = job.outputDirectory().resolve("adapter");

    out.printf("%n4. After fine-tuning (the base model with the adapter):%n");
    List<Answer> after = ask(baseModel, adapter, task, greedy);
    int everydayAfter = correct(ask(baseModel, adapter, Facts.EVERYDAY, greedy));
    print(after);
    // For tools that read plain model folders: W += s·B·A in every adapted layer, by the platform.
    Path merged = models.merge(baseModel, adapter, work.resolve("merged"));

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
    out.println("  base model + adapter merged " + merged + "/");
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
        before,
        after,
        everydayBefore,
        everydayAfter,
        baseModel,
        adapter,
        merged,
        report,
        metrics,
        summary);
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

  /**
   * The model's answers, with the adapter when there is one: greedy completions up to the end of
   * text or the end of the line, whichever comes first.
   */
  private List<Answer> ask(
      Path model, Path adapter, List<Fact> facts, GenerationSettings settings) {
    List<Answer> answers = new ArrayList<>();
    for (Fact f : facts) {
      answers.add(new Answer(f, firstLine(models.generate(model, adapter, f.prompt(), settings))));
    }
    return answers;
  }

  /** Greedy decoding of at most {@link #MAX_NEW_TOKENS} tokens on this backend. */
  static GenerationSettings greedy(String backend) {
    GenerationSettings greedy = GenerationSettings.greedy(MAX_NEW_TOKENS);
    return new GenerationSettings(
        greedy.maxNewTokens(),
        greedy.temperature(),
        greedy.topK(),
        greedy.topP(),
        greedy.repetitionPenalty(),
        greedy.seed(),
        backend);
  }

  /** The text up to its first newline, stripped. */
  static String firstLine(String text) {
    int newline = text.indexOf('\n');
    return (newline < 0 ? text : text.substring(0, newline)).strip();
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
