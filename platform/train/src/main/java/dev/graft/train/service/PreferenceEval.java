package dev.graft.train.service;

import dev.graft.api.MethodRegistry;
import dev.graft.api.backend.ComputeBackend;
import dev.graft.api.backend.Program;
import dev.graft.api.backend.Session;
import dev.graft.api.model.EvaluationSettings;
import dev.graft.api.model.PreferenceEvaluation;
import dev.graft.api.progress.Progress;
import dev.graft.graph.DType;
import dev.graft.graph.Graph;
import dev.graft.model.ChatTemplate;
import dev.graft.model.ModelGraph;
import dev.graft.model.SafetensorsReader;
import dev.graft.model.Tokenizer;
import dev.graft.train.data.Batches;
import dev.graft.train.data.Cuts;
import dev.graft.train.data.Encoded;
import dev.graft.train.data.Jsonl;
import dev.graft.train.data.RowLayout;
import dev.graft.train.data.Sample;
import dev.graft.train.run.Adapters;
import dev.graft.train.run.Objectives;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * DPO's evaluation of an adapter on preference pairs: the per-row log-probability sums of the model
 * with the adapter (the policy) and without it (the reference, as in training), in two forward-only
 * sessions over the same pair batches, and the loss and rewards from them in double precision.
 */
final class PreferenceEval {
  private static final String SUMS = "sums";
  private static final Set<DType> DTYPES = Set.of(DType.FLOAT32, DType.INT64, DType.BOOL);

  private PreferenceEval() {}

  /**
   * Evaluates; empty when the data's first sample is not a preference pair.
   *
   * @param context the model's {@code max_position_embeddings}
   */
  static Optional<PreferenceEvaluation> evaluate(
      MethodRegistry methods,
      ComputeBackend backend,
      Path modelDir,
      Path adapterDir,
      Path data,
      EvaluationSettings settings,
      double beta,
      Tokenizer tokenizer,
      ChatTemplate template,
      int context) {
    if (!(beta > 0)) {
      throw new IllegalArgumentException("beta must be positive, not " + beta + "; DPO uses 0.1.");
    }
    List<Jsonl.Line> lines =
        Jsonl.lines(
            data,
            Jsonl.Format.parse(settings.dataFormat()),
            settings.dataColumns(),
            settings.maxSamples(),
            List.of());
    Sample first = lines.get(0).sample();
    if (!(first instanceof Sample.Preference || first instanceof Sample.ChatPreference)) {
      return Optional.empty();
    }
    Totals t = new Totals();
    try (Pass policy = sums(methods, backend, modelDir, adapterDir);
        Pass reference = sums(methods, backend, modelDir, null)) {
      // The adapter's virtual tokens or key/value prefixes take the first positions.
      Encoded.Settings encoding =
          new Encoded.Settings(settings.maxLength(), true, true, false)
              .within((int) (context - policy.prefixLength()));
      List<List<Encoded>> pairs = new ArrayList<>();
      Cuts cuts = new Cuts();
      for (int i = 0; i < lines.size(); i++) {
        pairs.add(
            Encoded.rows(
                lines.get(i), i, tokenizer, template, null, RowLayout.PAIRS, encoding, cuts));
      }
      cuts.sentence(2 * pairs.size(), "sequences", encoding.maxLength()).ifPresent(Progress::note);
      Batches batches =
          new Batches(
              pairs,
              RowLayout.PAIRS,
              List.of(),
              new Batches.Sizes(settings.batchSize(), encoding.maxLength(), false),
              0,
              Batches.padId(tokenizer));
      try (Progress.Task task = Progress.start("evaluating pairs", pairs.size(), "pairs")) {
        for (int i = 0; i < batches.perEpoch(); i++) {
          Batches.Batch b = batches.batch(i);
          Map<String, dev.graft.api.backend.HostTensor> feeds = b.feeds();
          feeds.remove(Batches.CHOSEN_ROWS);
          float[] pi = policy.session().run(feeds, Set.of(SUMS)).get(SUMS).floats(); // (rows)
          float[] rho = reference.session().run(feeds, Set.of(SUMS)).get(SUMS).floats(); // (rows)
          for (int p = 0; p < b.rows() / 2; p++) {
            t.add(beta, pi[2 * p], rho[2 * p], pi[2 * p + 1], rho[2 * p + 1]);
          }
          task.advance(b.rows() / 2);
        }
      }
    }
    int n = t.pairs;
    return Optional.of(
        new PreferenceEvaluation(
            beta,
            t.loss / n,
            t.chosen / n,
            t.rejected / n,
            (double) t.correct / n,
            (t.chosen - t.rejected) / n,
            t.logpChosen / n,
            t.logpRejected / n,
            n));
  }

  /** Sums over the pairs. */
  private static final class Totals {
    int pairs;
    int correct;
    double loss;
    double chosen;
    double rejected;
    double logpChosen;
    double logpRejected;

    void add(double beta, double piW, double rhoW, double piL, double rhoL) {
      double w = beta * (piW - rhoW);
      double l = beta * (piL - rhoL);
      double margin = w - l;
      // −log σ(m) = log(1 + e^{−m}), without overflow
      loss += Math.max(-margin, 0) + Math.log1p(Math.exp(-Math.abs(margin)));
      chosen += w;
      rejected += l;
      correct += w > l ? 1 : 0;
      logpChosen += piW;
      logpRejected += piL;
      pairs++;
    }
  }

  /** A session that outputs per-row sums, and the positions its prefixes take ahead of a row. */
  private record Pass(Session session, long prefixLength) implements AutoCloseable {
    @Override
    public void close() {
      session.close();
    }
  }

  /**
   * A forward-only session whose one output is each row's sum of learned-token log-probabilities
   * (B): the model with the adapter, or the base model when {@code adapterDir} is null.
   */
  private static Pass sums(
      MethodRegistry methods, ComputeBackend backend, Path modelDir, Path adapterDir) {
    if (adapterDir != null) {
      Adapters.Adapted adapted = Adapters.load(modelDir, adapterDir, methods, false);
      sumsOutput(adapted.model());
      return new Pass(
          backend.open(
              new Program(adapted.model().graph().toOnnx(), adapted.weights(), Map.of(), DTYPES)),
          adapted.model().prefixLength());
    }
    try (SafetensorsReader checkpoint = SafetensorsReader.open(modelDir)) {
      ModelGraph model =
          ModelGraph.build(
              dev.graft.model.ModelConfig.read(modelDir.resolve(dev.graft.model.ModelConfig.FILE)),
              DType.FLOAT32);
      sumsOutput(model);
      // The backend reads the weights in when it opens, while the checkpoint is still open.
      return new Pass(backend.open(model.program(checkpoint, Map.of(), DTYPES, false)), 0);
    } catch (IOException e) {
      throw new UncheckedIOException("Could not read " + modelDir + ": " + e.getMessage(), e);
    }
  }

  private static void sumsOutput(ModelGraph model) {
    Graph graph = model.graph();
    graph.output(SUMS, Objectives.logProbs(graph, model.logits(), Objectives.CROSS_ENTROPY).sums());
    graph.removeOutput(ModelGraph.LOGITS);
  }
}
