package dev.graft.train.run;

import dev.graft.api.MethodRegistry;
import dev.graft.api.backend.ComputeBackend;
import dev.graft.api.backend.Program;
import dev.graft.api.backend.Session;
import dev.graft.api.progress.Progress;
import dev.graft.graph.DType;
import dev.graft.graph.Graph;
import dev.graft.model.ModelConfig;
import dev.graft.model.ModelGraph;
import dev.graft.model.SafetensorsReader;
import dev.graft.train.data.Batches;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;

/**
 * The mean next-token cross-entropy of a model folder, with or without an adapter, over batches:
 * the forward graph with every weight frozen and the loss ({@link Objectives#loss}, as training
 * computes it) as its one output, in an inference session. {@code graft:eval} and the validation
 * during training ({@code eval_steps}) both use it.
 */
public final class LossPass implements AutoCloseable {
  private static final String LOSS = "loss";
  private static final Set<DType> DTYPES = Set.of(DType.FLOAT32, DType.INT64, DType.BOOL);

  private final Session session;
  private final long prefixLength;

  /**
   * Opens the session.
   *
   * @param adapterDir the adapter to apply, or null for the model alone
   * @param settings settings for the adapter's methods ({@link Adapters#load(Path, Path,
   *     MethodRegistry, boolean, Map)})
   * @throws IOException when the model folder cannot be read
   */
  public LossPass(
      ComputeBackend backend,
      Path modelDir,
      Path adapterDir,
      MethodRegistry registry,
      Map<String, String> settings)
      throws IOException {
    if (adapterDir != null) {
      Adapters.Adapted adapted = Adapters.load(modelDir, adapterDir, registry, false, settings);
      lossOutput(adapted.model());
      this.prefixLength = adapted.model().prefixLength();
      this.session =
          backend.open(
              new Program(adapted.model().graph().toOnnx(), adapted.weights(), Map.of(), DTYPES));
      return;
    }
    ModelGraph model =
        ModelGraph.build(ModelConfig.read(modelDir.resolve(ModelConfig.FILE)), DType.FLOAT32);
    try (SafetensorsReader checkpoint = SafetensorsReader.open(modelDir)) {
      // The backend reads the weights in when it opens, while the checkpoint is still open.
      lossOutput(model);
      this.prefixLength = 0;
      this.session = backend.open(model.program(checkpoint, Map.of(), DTYPES, false));
    }
  }

  /**
   * The positions the adapter's virtual tokens and key/value prefixes take ahead of every row, 0
   * without: samples fit in {@code max_position_embeddings} less this.
   */
  public long prefixLength() {
    return prefixLength;
  }

  /** The loss as the graph's one output, in place of the logits. */
  private static void lossOutput(ModelGraph model) {
    Graph graph = model.graph();
    graph.output(LOSS, Objectives.loss(graph, model.logits(), null));
    graph.removeOutput(ModelGraph.LOGITS);
  }

  /**
   * The mean loss per learned token over one pass of {@code batches}, and the count of those
   * tokens.
   *
   * @param loss mean cross-entropy per learned token
   * @param targets the learned tokens it averages over
   */
  public record Mean(double loss, long targets) {}

  /** The mean over every learned token of one pass over {@code batches}. */
  public Mean mean(Batches batches) {
    double lossSum = 0;
    long targets = 0;
    try (Progress.Task task = Progress.start("evaluating loss", batches.perEpoch(), "batches")) {
      for (int i = 0; i < batches.perEpoch(); i++) {
        Batches.Batch b = batches.batch(i);
        // The batch loss is a mean over its targets; weighting by them gives the mean per token.
        lossSum +=
            (double) session.run(b.feeds(), Set.of(LOSS)).get(LOSS).floats()[0] * b.targets();
        targets += b.targets();
        task.advance(1);
      }
    }
    return new Mean(lossSum / targets, targets);
  }

  @Override
  public void close() {
    session.close();
  }
}
