package dev.graft.graph;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The integer ops that quantised weights need, on the reference interpreter. */
class QuantisedOpsTest {
  private static double[] cast(DType from, DType to, double... values) {
    Graph g = new Graph();
    g.output("y", g.cast(g.input("x", from, Shape.of(values.length)), to));
    NdArray x = NdArray.of(from, new long[] {values.length}, values);
    return Interpreter.run(g, Map.of("x", x)).get("y").data();
  }

  @Test
  void castToAnIntegerTypeTruncatesAndWrapsLikeC() {
    assertArrayEquals(
        new double[] {44, 255, 0, 200}, cast(DType.INT32, DType.UINT8, 300, -1, 256, 200), 0);
    assertArrayEquals(
        new double[] {44, -1, -56, -128}, cast(DType.INT32, DType.INT8, 300, 255, 200, 128), 0);
    assertArrayEquals(new double[] {-56, 127, 0}, cast(DType.UINT8, DType.INT8, 200, 127, 0), 0);
    assertArrayEquals(new double[] {200, 255, 7}, cast(DType.INT8, DType.UINT8, -56, -1, 7), 0);
    assertArrayEquals(new double[] {-2, 2, 0}, cast(DType.FLOAT64, DType.INT8, -2.7, 2.7, -0.5), 0);
  }

  @Test
  void castFromUint8AndInt8KeepsTheirValues() {
    assertArrayEquals(new double[] {200, 0, 255}, cast(DType.UINT8, DType.FLOAT32, 200, 0, 255), 0);
    assertArrayEquals(new double[] {-128, 5, 127}, cast(DType.INT8, DType.INT64, -128, 5, 127), 0);
    assertArrayEquals(new double[] {-128, 5, 127}, cast(DType.INT8, DType.INT32, -128, 5, 127), 0);
  }

  @Test
  void unpackNibblesSplitsEachByteHighNibbleFirst() {
    Graph g = new Graph();
    Tensor codes = g.unpackNibbles(g.input("q", DType.UINT8, Shape.of(2, 2)));
    g.output("codes", codes);
    NdArray q = NdArray.of(DType.UINT8, new long[] {2, 2}, 0x3A, 0xF0, 0x07, 0xFF);
    NdArray got = Interpreter.run(g, Map.of("q", q)).get("codes");
    assertArrayEquals(new long[] {2, 4}, got.shape());
    assertArrayEquals(new double[] {3, 10, 15, 0, 0, 7, 15, 15}, got.data(), 0);
    assertTrue(codes.dtype() == DType.INT32, codes.toString());
  }

  @Test
  void unpackNibblesRejectsBytesOfAnotherDtype() {
    Graph g = new Graph();
    Tensor q = g.input("q", DType.INT8, Shape.of(4));
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> g.unpackNibbles(q));
    assertTrue(e.getMessage().contains("UINT8"), e.getMessage());
  }

  @Test
  void integerParametersCanOnlyBeFrozen() {
    Graph g = new Graph();
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class, () -> g.parameter("q", DType.UINT8, Shape.of(4), true));
    assertTrue(e.getMessage().contains("\"q\" is UINT8") && e.getMessage().contains("frozen"));
    Tensor codes = g.parameter("codes", DType.INT8, Shape.of(4), false);
    assertThrows(IllegalArgumentException.class, () -> g.setTrainable(codes, true));
    assertTrue(!g.isTrainable(codes));
  }

  @Test
  void aPackedFourBitWeightDequantisesLikeThePlainJavaReference() {
    Random rnd = new Random(9);
    long rows = 6;
    long cols = 32;
    int blocks = (int) (rows * cols / TestModels.CODES_PER_SCALE);
    double[] packed = new double[(int) (rows * cols / 2)];
    for (int i = 0; i < packed.length; i++) {
      packed[i] = rnd.nextInt(256);
    }
    NdArray scales = GradCheck.random(rnd, GradCases.positive(blocks), DType.FLOAT64);
    Graph g = TestModels.blockwise4bit(rows, cols, Graph.NF4_CODE, DType.FLOAT64);
    Map<String, NdArray> feeds =
        Map.of("q", NdArray.of(DType.UINT8, new long[] {rows, cols / 2}, packed), "scale", scales);
    NdArray w = Interpreter.run(g, feeds).get("w");
    assertArrayEquals(new long[] {rows, cols}, w.shape());
    double[] expected =
        Reference.dequantise4bit(packed, Graph.NF4_CODE, scales.data(), TestModels.CODES_PER_SCALE);
    assertArrayEquals(expected, w.data(), 0);
  }
}
