package dev.graft.graph;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Forward semantics of composite ops against direct Java computations, and build-time shape errors.
 */
class OpsTest {
  private static final DType F = DType.FLOAT64;

  private static NdArray run(Graph g, Tensor t, Map<String, NdArray> feeds) {
    return Interpreter.evaluate(g, feeds, java.util.List.of(t)).get(t);
  }

  @Test
  void crossEntropyAveragesOverTargetsThatAreNotIgnored() {
    double[] logits = {1, 2, 0.5, -1, 0, 3, 0.2, 0.2, 0.2};
    double[] targets = {1, -100, 2};
    Graph g = new Graph();
    Tensor l = g.input("l", F, Shape.of(3, 3));
    Tensor t = g.input("t", DType.INT64, Shape.of(3));
    Tensor loss = g.crossEntropy(l, t, -100);
    double expected = 0;
    for (int row : new int[] {0, 2}) {
      double lse = 0;
      for (int j = 0; j < 3; j++) {
        lse += Math.exp(logits[row * 3 + j]);
      }
      expected += Math.log(lse) - logits[row * 3 + (int) targets[row]];
    }
    expected /= 2;
    Map<String, NdArray> feeds =
        Map.of(
            "l",
            NdArray.of(F, new long[] {3, 3}, logits),
            "t",
            NdArray.of(DType.INT64, new long[] {3}, targets));
    assertEquals(expected, run(g, loss, feeds).item(), 1e-15);
    Map<String, NdArray> allIgnored =
        Map.of("l", feeds.get("l"), "t", NdArray.of(DType.INT64, new long[] {3}, -100, -100, -100));
    assertEquals(0.0, run(g, loss, allIgnored).item(), 0, "no kept targets gives 0, not NaN");
  }

  @Test
  void nf4DequantisationMatchesADirectJavaDecode() {
    Random rnd = new Random(11);
    long rows = 150;
    long cols = 128; // 19200 weights = 300 blocks of 64 = 2 groups of 256 blocks
    int n = (int) (rows * cols);
    int blocks = n / 64;
    double[] packed = new double[n / 2];
    double[] qa = new double[blocks];
    double[] code = new double[256];
    double[] absmax2 = {0.8, 1.3};
    double offset = 0.05;
    for (int i = 0; i < packed.length; i++) {
      packed[i] = rnd.nextInt(256);
    }
    for (int i = 0; i < blocks; i++) {
      qa[i] = rnd.nextInt(256);
    }
    for (int i = 0; i < 256; i++) {
      code[i] = -1 + 2.0 * i / 255;
    }
    Graph g = new Graph();
    Tensor w =
        g.nf4Dequantize(
            g.input("q", DType.UINT8, Shape.of(n / 2)),
            g.input("qa", DType.UINT8, Shape.of(blocks)),
            g.input("code", F, Shape.of(256)),
            g.input("absmax2", F, Shape.of(2)),
            g.input("offset", F, Shape.scalar()),
            Shape.of(rows, cols));
    NdArray got =
        run(
            g,
            w,
            Map.of(
                "q",
                NdArray.of(DType.UINT8, new long[] {n / 2}, packed),
                "qa",
                NdArray.of(DType.UINT8, new long[] {blocks}, qa),
                "code",
                NdArray.of(F, new long[] {256}, code),
                "absmax2",
                NdArray.of(F, new long[] {2}, absmax2),
                "offset",
                NdArray.scalar(F, offset)));
    assertArrayEquals(new long[] {rows, cols}, got.shape());
    for (int k = 0; k < n; k++) {
      int b = (int) packed[k / 2];
      int nibble = k % 2 == 0 ? b >> 4 : b & 0xF;
      int block = k / 64;
      double absmax = code[(int) qa[block]] * absmax2[block / 256] + offset;
      assertEquals(Graph.NF4_CODE[nibble] * absmax, got.get(k), 1e-15, "weight " + k);
    }
  }

  @Test
  void dropoutMasksAreReproduciblePerSeedAndKeepTheExpectedFraction() {
    Graph g = new Graph();
    Tensor x = g.input("x", F, Shape.with("batch", 1000));
    Tensor seed = g.input("seed", DType.INT64, Shape.scalar());
    Tensor y = g.dropout(x, 0.25, seed);
    double[] ones = new double[4000];
    java.util.Arrays.fill(ones, 1);
    NdArray in = NdArray.of(F, new long[] {4, 1000}, ones);
    double[] a = run(g, y, Map.of("x", in, "seed", NdArray.scalar(DType.INT64, 42))).data();
    double[] b = run(g, y, Map.of("x", in, "seed", NdArray.scalar(DType.INT64, 42))).data();
    double[] c = run(g, y, Map.of("x", in, "seed", NdArray.scalar(DType.INT64, 43))).data();
    assertArrayEquals(a, b, 0, "same seed, same mask");
    assertFalse(java.util.Arrays.equals(a, c), "another seed, another mask");
    long kept = java.util.Arrays.stream(a).filter(v -> v != 0).count();
    assertEquals(3000, kept, 60, "about 75% kept");
    assertTrue(
        java.util.Arrays.stream(a).allMatch(v -> v == 0 || Math.abs(v - 4.0 / 3) < 1e-15),
        "kept values scale by 1/(1-p)");
    int agree = 0;
    for (int i = 0; i < a.length; i++) {
      agree += (a[i] != 0) == (c[i] != 0) ? 1 : 0;
    }
    assertEquals(
        0.625 * a.length,
        agree,
        120,
        "masks of neighbouring seeds are independent (0.75^2 + 0.25^2)");
  }

  @Test
  void causalAndPaddingMasksCombine() {
    Graph g = new Graph();
    Tensor m = g.input("mask", DType.INT64, Shape.with("batch", "seq"));
    Tensor keep = g.and(g.causalMask(Dim.of("seq")), g.paddingMask(m)); // (B, 1, T, T)
    NdArray got = run(g, keep, Map.of("mask", NdArray.of(DType.INT64, new long[] {1, 3}, 1, 1, 0)));
    assertArrayEquals(new long[] {1, 1, 3, 3}, got.shape());
    assertArrayEquals(new double[] {1, 0, 0, 1, 1, 0, 1, 1, 0}, got.data());
  }

  @Test
  void ropeRotatesPairsOfHalves() {
    Graph g = new Graph();
    Tensor x = g.input("x", F, Shape.of(1, 4));
    double theta = 0.3;
    Tensor cos =
        g.constant(NdArray.of(F, new long[] {1, 4}, Math.cos(theta), 1, Math.cos(theta), 1));
    Tensor sin =
        g.constant(NdArray.of(F, new long[] {1, 4}, Math.sin(theta), 0, Math.sin(theta), 0));
    NdArray y =
        run(g, g.rope(x, cos, sin), Map.of("x", NdArray.of(F, new long[] {1, 4}, 1, 2, 3, 4)));
    // pair (x0, x2) = (1, 3) rotates by theta; pair (x1, x3) by 0
    assertArrayEquals(
        new double[] {
          Math.cos(theta) - 3 * Math.sin(theta), 2, 3 * Math.cos(theta) + Math.sin(theta), 4
        },
        y.data(),
        1e-15);
  }

  @Test
  void geluVariantsMatchTheirFormulas() {
    Graph g = new Graph();
    Tensor x = g.input("x", F, Shape.of(3));
    NdArray in = NdArray.of(F, new long[] {3}, -1.5, 0.2, 3.0);
    double[] exact = run(g, g.gelu(x, false), Map.of("x", in)).data();
    double[] approx = run(g, g.gelu(x, true), Map.of("x", in)).data();
    // Phi(x) for x = -1.5, 0.2, 3.0 from tables of the normal distribution
    double[] phi = {0.0668072012688581, 0.579259709439103, 0.998650101968370};
    for (int i = 0; i < 3; i++) {
      double v = in.get(i);
      assertEquals(v * phi[i], exact[i], 1e-14);
      assertEquals(
          0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v))),
          approx[i],
          1e-15);
    }
  }

  @Test
  void matmulShapeErrorNamesTheOpAndBothShapes() {
    Graph g = new Graph();
    Tensor a = g.input("a", F, Shape.of(2, 3));
    Tensor b = g.input("b", F, Shape.of(4, 5));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> g.matmul(a, b));
    assertEquals(
        "MatMul: cannot multiply [2, 3] by [4, 5] (inner dimensions 3 and 4 differ)",
        e.getMessage());
  }

  @Test
  void broadcastErrorsNameTheOpAndBothShapesIncludingSymbols() {
    Graph g = new Graph();
    Tensor a = g.input("a", F, Shape.with("batch", 3));
    Tensor b = g.input("b", F, Shape.with("seq", 3));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> g.add(a, b));
    assertEquals("Add: cannot broadcast [batch, 3] with [seq, 3]", e.getMessage());
  }

  @Test
  void reshapeChecksElementCountsSymbolically() {
    Graph g = new Graph();
    Tensor x = g.input("x", F, Shape.with("batch", "seq", 6));
    assertEquals(Shape.with(Dim.of("batch").times(Dim.of("seq")), 6), g.reshape(x, -1, 6).shape());
    assertEquals(Shape.with("batch", "seq", 2, 3), g.reshape(x, "batch", "seq", 2, 3).shape());
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> g.reshape(x, "batch", 6));
    assertTrue(
        e.getMessage().startsWith("Reshape: cannot reshape [batch, seq, 6]"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> g.reshape(x, -1, 4));
  }

  @Test
  void otherOpsRejectBadOperands() {
    Graph g = new Graph();
    Tensor x = g.input("x", F, Shape.of(2, 3));
    Tensor i = g.input("i", DType.INT64, Shape.of(2));
    assertThrows(
        IllegalArgumentException.class, () -> g.add(x, g.input("f32", DType.FLOAT32, Shape.of(3))));
    assertThrows(IllegalArgumentException.class, () -> g.gemm(x, x, null, false, false));
    assertThrows(IllegalArgumentException.class, () -> g.transpose(x, 0, 0));
    assertThrows(IllegalArgumentException.class, () -> g.slice(x, 1, 2, 5));
    assertThrows(IllegalArgumentException.class, () -> g.squeeze(x, 0));
    assertThrows(IllegalArgumentException.class, () -> g.softmax(x, 2));
    assertThrows(IllegalArgumentException.class, () -> g.gather(x, x, 0));
    assertThrows(IllegalArgumentException.class, () -> g.exp(i));
    assertThrows(
        IllegalArgumentException.class, () -> g.concat(0, x, g.input("y", F, Shape.of(2, 4))));
    assertThrows(
        IllegalArgumentException.class, () -> new Graph().add(x, x), "tensors of another graph");
  }

  @Test
  void theInterpreterRejectsFeedsThatContradictTheDeclaredShape() {
    Graph g = new Graph();
    Tensor a = g.input("a", F, Shape.with("n", 2));
    Tensor b = g.input("b", F, Shape.with("n", 2));
    g.output("s", g.add(a, b));
    NdArray two = NdArray.zeros(F, 2, 2);
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> Interpreter.run(g, Map.of("a", two, "b", NdArray.zeros(F, 3, 2))));
    assertTrue(e.getMessage().contains("b"), e.getMessage());
    assertEquals(4, Interpreter.run(g, Map.of("a", two, "b", two)).get("s").size());
  }
}
