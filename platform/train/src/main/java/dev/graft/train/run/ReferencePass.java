package dev.graft.train.run;

import dev.graft.api.MethodRegistry;
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
import java.nio.file.Path;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * The reference model of a preference objective (DPO), in a second, inference-only session. By
 * default it is the base model as the checkpoint holds it, built without any method's rewrites:
 * what PEFT calls the model with its adapter disabled (every method's change is gone, and
 * LoRA-style adapters are additive on frozen weights), and, for full fine-tuning, the frozen copy
 * of the starting model that TRL makes when no reference model is given. A job continuing from an
 * earlier adapter still compares against the base model, as TRL does with {@code disable_adapter},
 * unless the job key {@code ref_adapter} names an adapter folder: then the reference is the base
 * model with that adapter applied and frozen ({@link #withAdapter}, TRL's {@code
 * ref_adapter_name}), loaded as {@code graft:eval} loads one ({@link Adapters#load}).
 *
 * <p>Schedule and cost, by default: before each training micro-step the run feeds the same batch
 * (ids, positions, segments, labels) to this session and passes the per-row log-probability sums it
 * returns into the training graph as {@value Objectives#REFERENCE} (B); the value is a constant of
 * the step, so no gradient flows back. That is one extra forward per micro-step — no backward, no
 * optimizer, no dropout — about a third of a training step's compute, with its activations freed
 * when the run returns. Its weights come from the same checkpoint files as the training program's
 * frozen weights, as external data that ONNX Runtime reads where they lie: like a training step, a
 * run multiplies them by many rows, so the session keeps no prepacked copies ({@link
 * dev.graft.api.backend.Program#training}), and the process holds the base weights once, in the
 * page cache of the checkpoint mapping both sessions read. A reference adapter's own tensors (and
 * base weights it replaces) are held by the session besides; loading it reads the base weights into
 * the heap once, as evaluation does, and lets them go when the session is open.
 *
 * <p>With {@code precompute_ref_log_probs} ({@link #precompute}) the run instead computes every
 * training row's sums once, before the first step, batch by batch as the first epoch lays the rows
 * out: the same forwards as one epoch of the default schedule, at once. It then closes the session,
 * which frees the reference's memory (its session, its arena, an adapter's tensors), and each
 * micro-step reads its rows' stored sums (4 bytes a row) by their {@link Batches#unitsOf units}, in
 * whatever order an epoch's shuffle put them. Later epochs thus cost no reference forward at all; a
 * run shorter than an epoch pays for the rows it does not reach. A resumed job computes the sums
 * again when it starts.
 */
final class ReferencePass implements AutoCloseable {
  private static final String SUMS = "reference_sums";
  private static final Set<DType> DTYPES = Set.of(DType.FLOAT32, DType.INT64, DType.BOOL);

  private final Set<String> inputs = new HashSet<>();

  /** The reference session; null once the sums are precomputed, or after {@link #close}. */
  private Session session;

  /** After {@link #precompute}: each unit's per-row sums, and the batches they index. */
  private float[][] stored;

  private Batches batches;

  /**
   * Opens the reference session on {@code model}: its frozen weights from {@code checkpoint},
   * except those in {@code supplied}.
   */
  private ReferencePass(
      ModelGraph model,
      Map<String, HostTensor> supplied,
      SafetensorsReader checkpoint,
      ComputeBackend backend) {
    Graph graph = model.graph();
    graph.output(SUMS, Objectives.logProbs(graph, model.logits(), Objectives.CROSS_ENTROPY).sums());
    graph.removeOutput(ModelGraph.LOGITS); // (B) sums out, not (batch, seq, vocab)
    graph.inputs().stream().map(Tensor::name).forEach(inputs::add);
    this.session = backend.open(model.program(checkpoint, supplied, Map.of(), DTYPES, true));
  }

  /**
   * The base model as the reference.
   *
   * @param checkpoint the base model's weights; must stay open until this returns
   */
  static ReferencePass base(
      ModelConfig config, SafetensorsReader checkpoint, ComputeBackend backend) {
    return new ReferencePass(
        ModelGraph.build(config, DType.FLOAT32), Map.of(), checkpoint, backend);
  }

  /**
   * The base model with the adapter in {@code adapterDir} applied and frozen as the reference.
   *
   * @param checkpoint the base model's weights (those of {@code modelDir}); must stay open until
   *     this returns
   * @throws IllegalArgumentException as {@link Adapters#load} does for an adapter that does not fit
   *     the model or whose methods are not installed
   */
  static ReferencePass withAdapter(
      Path modelDir,
      Path adapterDir,
      MethodRegistry registry,
      SafetensorsReader checkpoint,
      ComputeBackend backend) {
    Adapters.Adapted adapted = Adapters.load(modelDir, adapterDir, registry, false);
    Map<String, String> base = adapted.model().checkpointNames();
    // The unchanged base weights come from the checkpoint's files, as in the base reference.
    Map<String, HostTensor> supplied = new LinkedHashMap<>(adapted.weights());
    supplied.keySet().removeIf(p -> base.containsKey(p) && !adapted.fromAdapter().contains(p));
    return new ReferencePass(adapted.model(), supplied, checkpoint, backend);
  }

  /**
   * Computes the reference sums of every row of {@code batches} once, batch by batch as its first
   * epoch lays them out, stores them by unit and closes the session; {@link #sums} reads them from
   * then on.
   *
   * @return the rows computed
   */
  int precompute(Batches batches) {
    float[][] byUnit = new float[batches.units()][];
    int rows = 0;
    for (int i = 0; i < batches.perEpoch(); i++) {
      Batches.Batch batch = batches.batch(i);
      float[] sums = run(batch).floats(); // (B)
      int[] units = batches.unitsOf(i);
      int perUnit = sums.length / units.length; // 1, or a pair's 2
      for (int k = 0; k < units.length; k++) {
        byUnit[units[k]] = java.util.Arrays.copyOfRange(sums, k * perUnit, (k + 1) * perUnit);
      }
      rows += sums.length;
    }
    session.close();
    session = null;
    this.stored = byUnit;
    this.batches = batches;
    return rows;
  }

  /**
   * The reference model's per-row sums of learned-token log-probabilities (B) for {@code batch},
   * batch number {@code index} of the run's batches: computed now, or read from what {@link
   * #precompute} stored.
   */
  HostTensor sums(long index, Batches.Batch batch) {
    if (stored == null) {
      return run(batch);
    }
    float[] sums = new float[batch.rows()];
    int at = 0;
    for (int u : batches.unitsOf(index)) {
      System.arraycopy(stored[u], 0, sums, at, stored[u].length);
      at += stored[u].length;
    }
    return HostTensor.ofFloats(new long[] {sums.length}, sums);
  }

  private HostTensor run(Batches.Batch batch) {
    if (session == null) {
      throw new IllegalStateException("The reference pass is closed.");
    }
    Map<String, HostTensor> feeds = new LinkedHashMap<>(batch.feeds());
    feeds.keySet().retainAll(inputs); // the methods' extra columns are not base-model inputs
    return session.run(feeds, Set.of(SUMS)).get(SUMS);
  }

  @Override
  public void close() {
    if (session != null) {
      session.close();
      session = null;
    }
  }
}
