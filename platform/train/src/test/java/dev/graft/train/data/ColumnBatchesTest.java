package dev.graft.train.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.graft.api.backend.HostTensor;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Extra per-sample columns (a task id) are fed per token, as INT64 (rows, length). */
class ColumnBatchesTest {
  private final Encoded a =
      new Encoded(new int[] {11, 12, 13}, new boolean[] {false, true, true}, Map.of("task", 5L));
  private final Encoded b =
      new Encoded(new int[] {21, 22}, new boolean[] {false, true}, Map.of("task", 7L));

  private static Batches batches(List<Encoded> samples, boolean packing) {
    return new Batches(
        samples.stream().map(List::of).toList(),
        RowLayout.SINGLE,
        List.of("task"),
        new Batches.Sizes(2, 8, packing),
        0,
        0);
  }

  @Test
  void aPackedRowGivesEachTokenItsOwnSamplesValue() {
    Batches.Batch batch = batches(List.of(a, b), true).batch(0);
    assertEquals(1, batch.rows());
    assertArrayEquals(new long[] {5, 5, 5, 7, 7}, batch.columns().get("task"));
    HostTensor fed = batch.feeds().get("task");
    assertArrayEquals(new long[] {1, 5}, fed.shape());
    assertArrayEquals(new long[] {5, 5, 5, 7, 7}, fed.longs());
  }

  @Test
  void aPaddedRowCarriesItsSamplesValueAndZeroAtPadding() {
    Batches.Batch batch = batches(List.of(a, b), false).batch(0);
    assertEquals(2, batch.rows());
    long[] expected =
        batch.inputIds()[0] == 11 ? new long[] {5, 5, 5, 7, 7, 0} : new long[] {7, 7, 0, 5, 5, 5};
    assertArrayEquals(expected, batch.columns().get("task"));
  }

  @Test
  void aSampleWithoutAnAskedColumnIsAnError() {
    Encoded bare = new Encoded(new int[] {1, 2}, new boolean[] {false, true});
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> batches(List.of(a, bare), false));
    assertEquals("A sample lacks the input columns [task]; it has [].", e.getMessage());
  }
}
