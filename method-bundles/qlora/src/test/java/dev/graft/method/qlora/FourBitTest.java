package dev.graft.method.qlora;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.graft.api.quant.FourBit;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** Quantise → dequantise of blocks whose codes and scales are worked out by hand. */
class FourBitTest {
  private static final float[] NF4 = FourBit.Type.NF4.code();

  @Test
  void aBlockOfZerosDequantisesToZeros() {
    FourBit.Quantised q = FourBit.quantise(new float[64], FourBit.Type.NF4, false);
    assertArrayEquals(new float[] {0f}, q.absmax());
    float[] w = q.dequantise();
    for (float v : w) {
      assertEquals(0f, Math.abs(v)); // bitsandbytes gives 0·∞ = NaN code 0 (−1), times absmax 0
    }
  }

  @Test
  void anOutlierSetsItsBlocksScaleAndTheOthersRoundToTheNearestCode() {
    float[] w = new float[64];
    Arrays.fill(w, 0.5f);
    w[5] = 2f;
    FourBit.Quantised q = FourBit.quantise(w, FourBit.Type.NF4, false);
    assertArrayEquals(new float[] {2f}, q.absmax());
    float[] back = q.dequantise();
    assertEquals(2f, back[5]);
    // 0.5 / 2 = 0.25 is nearest to code 10 (0.2461…), not 11 (0.3379…)
    assertEquals(NF4[10] * 2f, back[0]);
    assertEquals(0xAA, q.packed()[0] & 0xff);
    assertEquals(0xAF, q.packed()[2] & 0xff); // elements 4, 5: codes 10 and 15
  }

  @Test
  void anOddSizeIsPaddedWithOneCodeOfZeroInTheLowNibble() {
    FourBit.Quantised q = FourBit.quantise(new float[] {1f, -1f, 0.5f}, FourBit.Type.NF4, false);
    // codes 15, 0, 12 (0.5 is 0.059 from 0.4407 and 0.063 from 0.5626), then 7 (= 0.0) as padding
    assertArrayEquals(new byte[] {(byte) 0xF0, (byte) 0xC7}, q.packed());
    assertArrayEquals(new float[] {1f, -1f, NF4[12]}, q.dequantise());
  }

  @Test
  void aPartialLastBlockHasItsOwnScale() {
    float[] w = new float[65];
    Arrays.fill(w, 1f);
    w[64] = -0.25f;
    FourBit.Quantised q = FourBit.quantise(w, FourBit.Type.NF4, false);
    assertArrayEquals(new float[] {1f, 0.25f}, q.absmax());
    assertEquals(33, q.packed().length);
    assertEquals(-0.25f, q.dequantise()[64]);
  }

  @Test
  void doubleQuantisationStoresTheScalesAsEightBitCodesAroundTheirMean() {
    float[] w = new float[128];
    Arrays.fill(w, 0, 64, 1f);
    Arrays.fill(w, 64, 128, 3f);
    FourBit.Quantised q = FourBit.quantise(w, FourBit.Type.NF4, true);
    // absmax (1, 3): offset 2, centred (−1, 1), one group of 256 with absmax 1. The signed
    // dynamic map reaches 1 but stops at −0.99296874 below, so the smaller scale comes back high.
    assertEquals(2f, q.offset());
    assertArrayEquals(new float[] {1f}, q.nestedAbsmax());
    assertEquals(0, q.absmaxCodes()[0]);
    assertEquals(-0.99296874f, FourBit.dynamic()[0]);
    assertEquals(255, q.absmaxCodes()[1] & 0xff);
    assertArrayEquals(new float[] {-0.99296874f + 2f, 3f}, q.scales());
    assertEquals(-0.99296874f + 2f, q.dequantise()[0]);
    assertEquals(3f, q.dequantise()[127]);
  }

  @Test
  void fp4CodesAreTheSignedMiniFloatsOverTwelve() {
    FourBit.Quantised q = FourBit.quantise(new float[] {12f, -6f, 1f, 0f}, FourBit.Type.FP4, false);
    // 1 → code 3 (12/12), −0.5 → 13 (−6/12), 1/12 → 6 (2/12) vs 1 (0.0625/12): nearest 2/12? no:
    // |1/12 − 2/12| = 0.0833, |1/12 − 0.0625/12| = 0.078: code 1
    assertArrayEquals(new byte[] {(byte) 0x3D, (byte) 0x10}, q.packed());
    assertArrayEquals(new float[] {12f, -6f, 0.0625f, 0f}, q.dequantise());
  }

  @Test
  void aNonFiniteWeightIsRefused() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> FourBit.quantise(new float[] {1f, Float.NaN}, FourBit.Type.NF4, true));
    assertEquals("Cannot quantise a weight holding NaN; check the checkpoint.", e.getMessage());
  }
}
