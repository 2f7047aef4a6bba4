package dev.graft.train.run;

import dev.graft.api.backend.ComputeBackend;
import dev.graft.api.backend.HostTensor;
import dev.graft.api.backend.Session;
import dev.graft.graph.DType;
import dev.graft.graph.Graph;
import dev.graft.graph.Tensor;
import dev.graft.model.ModelConfig;
import dev.graft.model.ModelGraph;
import dev.graft.model.SafetensorsReader;
import dev.graft.train.data.Batches;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * The reference model of a preference objective (DPO): the base model as the checkpoint holds it,
 * built without any method's rewrites, in a second, inference-only session. It is what PEFT calls
 * the model with its adapter disabled (every method's change is gone, and LoRA-style adapters are
 * additive on frozen weights), and, for full fine-tuning, the frozen copy of the starting model
 * that TRL makes when no reference model is given. A job continuing from an earlier adapter still
 * compares against the base model, as TRL does with {@code disable_adapter}.
 *
 * <p>Schedule and cost: before each training micro-step the run feeds the same batch (ids,
 * positions, segments, labels) to this session and passes the per-row log-probability sums it
 * returns into the training graph as {@value Objectives#REFERENCE} (B); the value is a constant of
 * the step, so no gradient flows back. That is one extra forward per micro-step — no backward, no
 * optimizer, no dropout — about a third of a training step's compute, with its activations freed
 * when the run returns. Its weights come from the same checkpoint files as the training program's
 * frozen weights, as external data that ONNX Runtime reads where they lie: like a training step, a
 * run multiplies them by many rows, so the session keeps no prepacked copies ({@link
 * dev.graft.api.backend.Program#training}), and the process holds the base weights once, in the
 * page cache of the checkpoint mapping both sessions read.
 */
final class ReferencePass implements AutoCloseable {
  private static final String SUMS = "reference_sums";

  private final Session session;
  private final Set<String> inputs;

  /**
   * Opens the reference session.
   *
   * @param checkpoint the base model's weights; must stay open until this returns
   */
  ReferencePass(ModelConfig config, SafetensorsReader checkpoint, ComputeBackend backend) {
    ModelGraph base = ModelGraph.build(config, DType.FLOAT32);
    Graph graph = base.graph();
    graph.output(SUMS, Objectives.logProbs(graph, base.logits(), Objectives.CROSS_ENTROPY).sums());
    graph.removeOutput(ModelGraph.LOGITS); // (B) sums out, not (batch, seq, vocab)
    this.inputs = new java.util.HashSet<>();
    graph.inputs().stream().map(Tensor::name).forEach(inputs::add);
    this.session =
        backend.open(
            base.program(
                checkpoint, Map.of(), Set.of(DType.FLOAT32, DType.INT64, DType.BOOL), true));
  }

  /** The reference model's per-row sums of learned-token log-probabilities for {@code batch}. */
  HostTensor sums(Batches.Batch batch) {
    Map<String, HostTensor> feeds = new LinkedHashMap<>(batch.feeds());
    feeds.keySet().retainAll(inputs); // the methods' extra columns are not base-model inputs
    return session.run(feeds, Set.of(SUMS)).get(SUMS);
  }

  @Override
  public void close() {
    session.close();
  }
}
