package dev.graft.train.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Preference pairs in batches: rows 2i and 2i+1 hold the chosen and rejected of one sample. */
class PairBatchesTest {
  /** Pair p: chosen ids {p, 1000 + p, …}, rejected {p, 2000 + p}; the lengths vary with p. */
  private static List<List<Encoded>> pairs(int n) {
    List<List<Encoded>> pairs = new ArrayList<>();
    for (int p = 0; p < n; p++) {
      int[] chosen = new int[2 + p % 3];
      java.util.Arrays.fill(chosen, 1000 + p);
      chosen[0] = p;
      boolean[] learnChosen = new boolean[chosen.length];
      java.util.Arrays.fill(learnChosen, 1, chosen.length, true);
      pairs.add(
          List.of(
              new Encoded(chosen, learnChosen),
              new Encoded(new int[] {p, 2000 + p}, new boolean[] {false, true})));
    }
    return pairs;
  }

  private static Batches batches(List<List<Encoded>> pairs, int batchSize, boolean packing) {
    return new Batches(
        pairs, RowLayout.PAIRS, List.of(), new Batches.Sizes(batchSize, 16, packing), 3, 0);
  }

  @Test
  void pairsStayAdjacentAndTogetherThroughShufflingOverSeveralEpochs() {
    Batches batches = batches(pairs(10), 3, false);
    assertEquals(4, batches.perEpoch(), "10 pairs in batches of 3 pairs");
    List<List<Integer>> epochOrders = new ArrayList<>();
    for (int epoch = 0; epoch < 3; epoch++) {
      List<Integer> order = new ArrayList<>();
      for (int i = 0; i < batches.perEpoch(); i++) {
        Batches.Batch b = batches.batch(epoch * batches.perEpoch() + i);
        assertEquals(0, b.rows() % 2, "whole pairs only");
        for (int r = 0; r < b.rows(); r += 2) {
          long pair = b.inputIds()[r * b.length()];
          assertEquals(1000 + pair, b.inputIds()[r * b.length() + 1], "row 2i is chosen");
          assertEquals(pair, b.inputIds()[(r + 1) * b.length()], "row 2i+1 is the same prompt");
          assertEquals(2000 + pair, b.inputIds()[(r + 1) * b.length() + 1], "and rejected");
          order.add((int) pair);
        }
      }
      assertEquals(10, new HashSet<>(order).size(), "every pair once per epoch: " + order);
      epochOrders.add(order);
    }
    assertTrue(Set.copyOf(epochOrders).size() > 1, "reshuffled each epoch: " + epochOrders);
  }

  @Test
  void aPairBatchFeedsTheIndicesOfItsChosenRows() {
    Batches.Batch b = batches(pairs(3), 3, false).batch(0);
    assertEquals(6, b.rows());
    dev.graft.api.backend.HostTensor rows = b.feeds().get(Batches.CHOSEN_ROWS);
    org.junit.jupiter.api.Assertions.assertArrayEquals(new long[] {3}, rows.shape());
    org.junit.jupiter.api.Assertions.assertArrayEquals(new long[] {0, 2, 4}, rows.longs());
  }

  @Test
  void aPairIsSkippedWholeWhenOneSideHasNothingToLearn() {
    List<List<Encoded>> pairs = new ArrayList<>(pairs(2));
    pairs.add(
        List.of(
            new Encoded(new int[] {7, 8}, new boolean[] {false, true}),
            new Encoded(new int[] {7, 9}, new boolean[] {false, false})));
    Batches.Batch b = batches(pairs, 8, false).batch(0);
    assertEquals(4, b.rows(), "two pairs; the third has a rejected side with no target");
  }

  @Test
  void packingPairsIsRefusedWithTheKeyToChange() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> batches(pairs(2), 1, true));
    assertEquals(
        "packing cannot lay out preference pairs (rows 2i and 2i+1 hold one pair);"
            + " set packing=false.",
        e.getMessage());
  }
}
