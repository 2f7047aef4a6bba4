package dev.graft.train.data;

import dev.graft.api.backend.HostTensor;
import dev.graft.graph.DType;
import dev.graft.graph.Graph;
import dev.graft.graph.Shape;
import dev.graft.graph.Tensor;
import dev.graft.model.Tokenizer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Turns encoded samples into fixed, reproducible batches. A row holds one sample (padding) or
 * several (packing: samples laid end to end up to {@code maxLength}, positions restarting at 0 and
 * a new segment id per sample, so attention stays inside each sample). Rows are shuffled anew each
 * epoch from the seed; batch {@code i} is always the same batch, which is what lets a resumed job
 * continue the same loss curve.
 */
public final class Batches {
  /** Label of a position the loss ignores. */
  public static final long IGNORE = -100;

  /** Name of the graph input that holds the labels. */
  public static final String LABELS = "labels";

  /**
   * The mean next-token cross-entropy over the learned positions of {@code logits} (B, T, V):
   * declares the {@value #LABELS} input (B, T) that {@link Batch#feeds()} fills.
   */
  public static Tensor loss(Graph graph, Tensor logits) {
    Tensor labels = graph.input(LABELS, DType.INT64, Shape.with("batch", "seq"));
    long vocab = logits.shape().dim(-1).size();
    Tensor flatLogits = graph.reshape(logits, -1, vocab); // (B·T, V)
    Tensor flatLabels = graph.reshape(labels, -1); // (B·T)
    return graph.crossEntropy(flatLogits, flatLabels, IGNORE);
  }

  /** The id batches pad with: the tokenizer's pad token, else its end of text, else 0. */
  public static int padId(Tokenizer tokenizer) {
    return tokenizer.padId().orElse(tokenizer.eosId().orElse(0));
  }

  /**
   * One batch, row-major (rows × length).
   *
   * @param segmentIds 0 for padding, else the sample's number within its row (from 1)
   * @param labels the next token where the loss learns it, else {@link #IGNORE}
   * @param tokens real (non-padding) tokens
   * @param targets positions the loss learns
   */
  public record Batch(
      int rows,
      int length,
      long[] inputIds,
      long[] positionIds,
      long[] segmentIds,
      long[] labels,
      long tokens,
      long targets) {
    /** The model graph's inputs and the labels, by input name. */
    public Map<String, HostTensor> feeds() {
      long[] shape = {rows, length};
      Map<String, HostTensor> feeds = new LinkedHashMap<>();
      feeds.put("input_ids", HostTensor.ofLongs(shape, inputIds));
      feeds.put("position_ids", HostTensor.ofLongs(shape, positionIds));
      feeds.put("segment_ids", HostTensor.ofLongs(shape, segmentIds));
      feeds.put(LABELS, HostTensor.ofLongs(shape, labels));
      return feeds;
    }
  }

  private final List<List<Encoded>> rows;
  private final int batchSize;
  private final long seed;
  private final int padId;

  /**
   * @param samples the encoded samples, in the order to pack them
   * @param padId the id written at padding positions (never attended to, never learned)
   */
  public Batches(
      List<Encoded> samples, int batchSize, int maxLength, boolean packing, long seed, int padId) {
    if (batchSize <= 0) {
      throw new IllegalArgumentException(
          "per_device_train_batch_size must be positive, not " + batchSize + ".");
    }
    this.batchSize = batchSize;
    this.seed = seed;
    this.padId = padId;
    List<List<Encoded>> packed = new ArrayList<>();
    List<Encoded> row = new ArrayList<>();
    int used = 0;
    for (Encoded e : samples) {
      if (!e.teaches()) {
        continue;
      }
      if (!packing || used + e.ids().length > maxLength) {
        if (!row.isEmpty()) {
          packed.add(row);
        }
        row = new ArrayList<>();
        used = 0;
      }
      row.add(e);
      used += e.ids().length;
    }
    if (!row.isEmpty()) {
      packed.add(row);
    }
    if (packed.isEmpty()) {
      throw new IllegalArgumentException(
          "No sample has a token to learn from; check completion_only_loss, assistant_only_loss and the data.");
    }
    this.rows = packed;
  }

  /** Batches in one pass over the data; the last may be smaller. */
  public int perEpoch() {
    return (rows.size() + batchSize - 1) / batchSize;
  }

  /** Batch number {@code index}, counted across epochs from 0. */
  public Batch batch(long index) {
    long epoch = index / perEpoch();
    int within = (int) (index % perEpoch());
    List<List<Encoded>> order = new ArrayList<>(rows);
    Collections.shuffle(order, new Random(seed + epoch));
    List<List<Encoded>> chosen =
        order.subList(within * batchSize, Math.min(order.size(), (within + 1) * batchSize));
    int length = 0;
    for (List<Encoded> r : chosen) {
      length = Math.max(length, r.stream().mapToInt(e -> e.ids().length).sum());
    }
    int n = chosen.size() * length;
    long[] ids = new long[n];
    long[] positions = new long[n];
    long[] segments = new long[n];
    long[] labels = new long[n];
    java.util.Arrays.fill(ids, padId);
    java.util.Arrays.fill(labels, IGNORE);
    long tokens = 0;
    long targets = 0;
    for (int r = 0; r < chosen.size(); r++) {
      int at = r * length;
      int segment = 0;
      for (Encoded e : chosen.get(r)) {
        segment++;
        for (int i = 0; i < e.ids().length; i++) {
          ids[at + i] = e.ids()[i];
          positions[at + i] = i;
          segments[at + i] = segment;
          // Position i predicts token i + 1 of the same sample, where that token is learned.
          if (i + 1 < e.ids().length && e.learn()[i + 1]) {
            labels[at + i] = e.ids()[i + 1];
            targets++;
          }
        }
        tokens += e.ids().length;
        at += e.ids().length;
      }
    }
    return new Batch(chosen.size(), length, ids, positions, segments, labels, tokens, targets);
  }
}
