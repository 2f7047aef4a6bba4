package dev.graft.train.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

class BatchesTest {
  private static Encoded sample(int[] ids, boolean... learn) {
    return new Encoded(ids, learn);
  }

  // Sample a: 3 tokens, learns the last two; sample b: 2 tokens, learns the last; c: 4 tokens, all.
  private final Encoded a = sample(new int[] {11, 12, 13}, false, true, true);
  private final Encoded b = sample(new int[] {21, 22}, false, true);
  private final Encoded c = sample(new int[] {31, 32, 33, 34}, true, true, true, true);

  @Test
  void packedRowsRestartPositionsAndSeparateSegmentsOnAHandMadeBatch() {
    Batches batches = new Batches(List.of(a, b, c), 1, 5, true, 0, 0);
    assertEquals(2, batches.perEpoch(), "a and b share a row; c starts a new one");
    Batches.Batch ab =
        List.of(batches.batch(0), batches.batch(1)).stream()
            .filter(x -> x.length() == 5)
            .findFirst()
            .orElseThrow();
    assertArrayEquals(new long[] {11, 12, 13, 21, 22}, ab.inputIds());
    assertArrayEquals(new long[] {0, 1, 2, 0, 1}, ab.positionIds());
    assertArrayEquals(new long[] {1, 1, 1, 2, 2}, ab.segmentIds());
    // 11 → 12, 12 → 13, 13 is a's last token (no label across the sample boundary), 21 → 22.
    assertArrayEquals(new long[] {12, 13, -100, 22, -100}, ab.labels());
    assertEquals(5, ab.tokens());
    assertEquals(3, ab.targets());
  }

  @Test
  void paddedRowsFillWithThePadIdAndSegmentZero() {
    Batches batches = new Batches(List.of(a, c), 2, 8, false, 0, 99);
    Batches.Batch batch = batches.batch(0);
    assertEquals(2, batch.rows());
    assertEquals(4, batch.length());
    int aRow = batch.inputIds()[0] == 11 ? 0 : 1;
    long[] row = java.util.Arrays.copyOfRange(batch.inputIds(), aRow * 4, aRow * 4 + 4);
    assertArrayEquals(new long[] {11, 12, 13, 99}, row);
    assertArrayEquals(
        new long[] {1, 1, 1, 0},
        java.util.Arrays.copyOfRange(batch.segmentIds(), aRow * 4, aRow * 4 + 4));
    assertArrayEquals(
        new long[] {12, 13, -100, -100},
        java.util.Arrays.copyOfRange(batch.labels(), aRow * 4, aRow * 4 + 4));
    assertEquals(7, batch.tokens());
  }

  @Test
  void batchesAreReproducibleAndReshuffledEachEpoch() {
    List<Encoded> many = new java.util.ArrayList<>();
    for (int i = 0; i < 20; i++) {
      many.add(sample(new int[] {i, i + 100}, false, true));
    }
    Batches one = new Batches(many, 4, 8, false, 7, 0);
    Batches two = new Batches(many, 4, 8, false, 7, 0);
    assertArrayEquals(one.batch(3).inputIds(), two.batch(3).inputIds());
    assertNotEquals(
        java.util.Arrays.toString(one.batch(0).inputIds()),
        java.util.Arrays.toString(one.batch(5).inputIds()));
  }

  @Test
  void samplesWithNothingToLearnAreSkipped() {
    Batches batches =
        new Batches(List.of(sample(new int[] {1, 2}, true, false), a), 4, 8, false, 0, 0);
    assertEquals(1, batches.batch(0).rows());
  }

  /** The first token of each row of {@code batch}. */
  private static long[] rowStarts(Batches.Batch batch) {
    long[] starts = new long[batch.rows()];
    java.util.Arrays.setAll(starts, r -> batch.inputIds()[r * batch.length()]);
    return starts;
  }

  @Test
  void theUnitsOfABatchNameItsRowsInEveryEpochWithPackingAndWithPairs() {
    List<Encoded> many = new java.util.ArrayList<>();
    for (int i = 0; i < 9; i++) {
      many.add(sample(new int[] {i, i + 100, i + 200}, false, true, true));
    }
    // Packing puts samples 2k and 2k+1 in one row (unit k); pairs put both sequences of a sample
    // in two rows (one unit).
    Batches packed = new Batches(many, 2, 6, true, 5, 0);
    Batches pairs =
        new Batches(
            many.stream().map(e -> List.of(e, sample(new int[] {-1, -2}, false, true))).toList(),
            RowLayout.PAIRS,
            List.of(),
            new Batches.Sizes(2, 6, false),
            5,
            0);
    assertEquals(5, packed.units());
    assertEquals(9, pairs.units());
    for (long index = 0; index < 3 * packed.perEpoch(); index++) {
      long[] want = java.util.Arrays.stream(packed.unitsOf(index)).mapToLong(u -> 2L * u).toArray();
      assertArrayEquals(want, rowStarts(packed.batch(index)), "packed batch " + index);
    }
    for (long index = 0; index < 3 * pairs.perEpoch(); index++) {
      long[] want =
          java.util.Arrays.stream(pairs.unitsOf(index))
              .mapToObj(u -> new long[] {u, -1})
              .flatMapToLong(java.util.Arrays::stream)
              .toArray();
      assertArrayEquals(want, rowStarts(pairs.batch(index)), "pair batch " + index);
    }
    assertNotEquals(
        java.util.Arrays.toString(pairs.unitsOf(0)),
        java.util.Arrays.toString(pairs.unitsOf(pairs.perEpoch())),
        "the second epoch is shuffled anew");
  }
}
