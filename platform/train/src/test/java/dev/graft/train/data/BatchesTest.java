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
}
