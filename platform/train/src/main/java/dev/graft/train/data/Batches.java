package dev.graft.train.data;

import dev.graft.api.backend.HostTensor;
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
 * a new segment id per sample, so attention stays inside each sample). With {@link RowLayout#PAIRS}
 * a sample is a (chosen, rejected) pair in two adjacent rows, shuffled and batched as one unit,
 * never packed. Units are shuffled anew each epoch from the seed; batch {@code i} is always the
 * same batch, which is what lets a resumed job continue the same loss curve. Extra per-sample
 * columns are fed per token, so a packed row gives each token its own sample's value.
 */
public final class Batches {
  /** Label of a position the loss ignores. */
  public static final long IGNORE = -100;

  /** Name of the graph input that holds the labels. */
  public static final String LABELS = "labels";

  /**
   * Name of the INT64 (pairs) input that {@link RowLayout#PAIRS} batches feed: the chosen rows 0,
   * 2, 4, …; each rejected row follows its chosen one.
   */
  public static final String CHOSEN_ROWS = "chosen_rows";

  /** The id batches pad with: the tokenizer's pad token, else its end of text, else 0. */
  public static int padId(Tokenizer tokenizer) {
    return tokenizer.padId().orElse(tokenizer.eosId().orElse(0));
  }

  /**
   * One batch, row-major (rows × length).
   *
   * @param segmentIds 0 for padding, else the sample's number within its row (from 1)
   * @param labels the next token where the loss learns it, else {@link #IGNORE}
   * @param layout how the samples lie in the rows
   * @param columns each extra input by name: its sample's value at each token, 0 at padding
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
      RowLayout layout,
      Map<String, long[]> columns,
      long tokens,
      long targets) {
    /** The model graph's inputs, the labels and the extra columns, by input name. */
    public Map<String, HostTensor> feeds() {
      long[] shape = {rows, length};
      Map<String, HostTensor> feeds = new LinkedHashMap<>();
      feeds.put("input_ids", HostTensor.ofLongs(shape, inputIds));
      feeds.put("position_ids", HostTensor.ofLongs(shape, positionIds));
      feeds.put("segment_ids", HostTensor.ofLongs(shape, segmentIds));
      feeds.put(LABELS, HostTensor.ofLongs(shape, labels));
      columns.forEach((name, values) -> feeds.put(name, HostTensor.ofLongs(shape, values)));
      if (layout == RowLayout.PAIRS) {
        long[] chosen = new long[rows / 2];
        java.util.Arrays.setAll(chosen, i -> 2L * i);
        feeds.put(CHOSEN_ROWS, HostTensor.ofLongs(new long[] {chosen.length}, chosen));
      }
      return feeds;
    }
  }

  /** Shuffling units: each a list of rows (one, or a pair), each row a list of packed samples. */
  private final List<List<List<Encoded>>> units;

  private final RowLayout layout;
  private final List<String> columns;
  private final int batchSize;
  private final long seed;
  private final int padId;

  /**
   * Batches of one sequence per sample, without extra columns.
   *
   * @param samples the encoded samples, in the order to pack them
   * @param padId the id written at padding positions (never attended to, never learned)
   */
  public Batches(
      List<Encoded> samples, int batchSize, int maxLength, boolean packing, long seed, int padId) {
    this(
        samples.stream().map(List::of).toList(),
        RowLayout.SINGLE,
        List.of(),
        new Sizes(batchSize, maxLength, packing),
        seed,
        padId);
  }

  /**
   * How rows are sized.
   *
   * @param batchSize samples per batch (pairs, for {@link RowLayout#PAIRS})
   * @param maxLength the longest packed row
   * @param packing whether short samples share rows
   */
  public record Sizes(int batchSize, int maxLength, boolean packing) {}

  /**
   * @param samples each sample's sequences, as many as {@code layout} takes, in the order to pack
   *     them
   * @param columns the extra integer inputs each sample carries (in {@link Encoded#columns()}), fed
   *     as INT64 (rows, length)
   * @param padId the id written at padding positions (never attended to, never learned)
   * @throws IllegalArgumentException for a non-positive batch size, packing with pairs, a sample
   *     without one of the columns, or no sample with a token to learn
   */
  public Batches(
      List<List<Encoded>> samples,
      RowLayout layout,
      List<String> columns,
      Sizes sizes,
      long seed,
      int padId) {
    if (sizes.batchSize() <= 0) {
      throw new IllegalArgumentException(
          "per_device_train_batch_size must be positive, not " + sizes.batchSize() + ".");
    }
    if (sizes.packing() && layout == RowLayout.PAIRS) {
      throw new IllegalArgumentException(
          "packing cannot lay out preference pairs (rows 2i and 2i+1 hold one pair);"
              + " set packing=false.");
    }
    this.batchSize = sizes.batchSize();
    this.layout = layout;
    this.columns = List.copyOf(columns);
    this.seed = seed;
    this.padId = padId;
    List<List<List<Encoded>>> all = new ArrayList<>();
    List<Encoded> row = new ArrayList<>();
    int used = 0;
    for (List<Encoded> sample : samples) {
      if (sample.size() != layout.sequences()) {
        throw new IllegalArgumentException(
            "A sample has "
                + sample.size()
                + " sequences where the "
                + layout
                + " layout takes "
                + layout.sequences()
                + ".");
      }
      for (Encoded e : sample) {
        if (!e.columns().keySet().containsAll(this.columns)) {
          throw new IllegalArgumentException(
              "A sample lacks the input columns "
                  + this.columns
                  + "; it has "
                  + e.columns().keySet()
                  + ".");
        }
      }
      if (!sample.stream().allMatch(Encoded::teaches)) {
        continue;
      }
      if (layout == RowLayout.PAIRS) {
        all.add(sample.stream().map(List::of).toList());
        continue;
      }
      Encoded e = sample.get(0);
      if (!sizes.packing() || used + e.ids().length > sizes.maxLength()) {
        if (!row.isEmpty()) {
          all.add(List.of(row));
        }
        row = new ArrayList<>();
        used = 0;
      }
      row.add(e);
      used += e.ids().length;
    }
    if (!row.isEmpty()) {
      all.add(List.of(row));
    }
    if (all.isEmpty()) {
      throw new IllegalArgumentException(
          "No sample has a token to learn from; check completion_only_loss, assistant_only_loss and the data.");
    }
    this.units = all;
  }

  /** Batches in one pass over the data; the last may be smaller. */
  public int perEpoch() {
    return (units.size() + batchSize - 1) / batchSize;
  }

  /**
   * The shuffling units: each one row, or a pair's two rows ({@link RowLayout#sequences()} rows
   * each); {@link #unitsOf} numbers them from 0.
   */
  public int units() {
    return units.size();
  }

  /**
   * The units that batch {@code index} holds, in the order of its rows: a value computed per row
   * once, in any batch, is found again for the rows of every later batch, whatever the epoch's
   * shuffle.
   */
  public int[] unitsOf(long index) {
    long epoch = index / perEpoch();
    int within = (int) (index % perEpoch());
    List<Integer> order = new ArrayList<>();
    for (int u = 0; u < units.size(); u++) {
      order.add(u);
    }
    Collections.shuffle(order, new Random(seed + epoch));
    return order
        .subList(within * batchSize, Math.min(order.size(), (within + 1) * batchSize))
        .stream()
        .mapToInt(Integer::intValue)
        .toArray();
  }

  /** Batch number {@code index}, counted across epochs from 0. */
  public Batch batch(long index) {
    List<List<Encoded>> chosen = new ArrayList<>();
    for (int u : unitsOf(index)) {
      chosen.addAll(units.get(u));
    }
    int length = 0;
    for (List<Encoded> r : chosen) {
      length = Math.max(length, r.stream().mapToInt(e -> e.ids().length).sum());
    }
    int n = chosen.size() * length;
    long[] ids = new long[n];
    long[] positions = new long[n];
    long[] segments = new long[n];
    long[] labels = new long[n];
    Map<String, long[]> values = new LinkedHashMap<>();
    columns.forEach(c -> values.put(c, new long[n]));
    java.util.Arrays.fill(ids, padId);
    java.util.Arrays.fill(labels, IGNORE);
    long tokens = 0;
    long targets = 0;
    for (int r = 0; r < chosen.size(); r++) {
      int at = r * length;
      int segment = 0;
      for (Encoded e : chosen.get(r)) {
        segment++;
        for (String c : columns) {
          java.util.Arrays.fill(values.get(c), at, at + e.ids().length, e.columns().get(c));
        }
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
    return new Batch(
        chosen.size(), length, ids, positions, segments, labels, layout, values, tokens, targets);
  }
}
