package dev.graft.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.graft.api.backend.HostTensor;
import dev.graft.api.backend.Program;
import dev.graft.api.backend.Session;
import dev.graft.graph.DType;
import dev.graft.graph.GradCases;
import dev.graft.graph.GradCheck;
import dev.graft.graph.Graph;
import dev.graft.graph.Interpreter;
import dev.graft.graph.NdArray;
import dev.graft.graph.Reference;
import dev.graft.graph.Shape;
import dev.graft.graph.Tensor;
import dev.graft.graph.TestModels;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The ops quantised base weights need (8-bit integer casts, integer Div and Mod, 4-bit unpacking,
 * UINT8/INT8 frozen weights), and {@link Graph#stopGradient}, on ONNX Runtime against the reference
 * interpreter and plain Java.
 */
class QuantisedOpsTest {
  private static final CpuBackend BACKEND = Steps.cpu(1);

  private static final List<DType> INTEGER_AND_FLOAT =
      List.of(DType.FLOAT32, DType.FLOAT64, DType.INT64, DType.INT32, DType.UINT8, DType.INT8);

  /** Runs {@code g} on ONNX Runtime: {@code frozen} supplies its frozen parameters. */
  private static Map<String, double[]> onOrt(
      Graph g, Map<String, NdArray> inputs, Map<String, NdArray> frozen) {
    Map<String, HostTensor> weights = new HashMap<>();
    frozen.forEach((name, v) -> weights.put(name, Steps.host(v)));
    Map<String, HostTensor> feeds = new HashMap<>();
    inputs.forEach((name, v) -> feeds.put(name, Steps.host(v)));
    Map<String, double[]> out = new HashMap<>();
    try (Session s = BACKEND.open(new Program(g.toOnnx(), weights, Map.of(), Steps.dtypes(g)))) {
      s.run(feeds, g.outputs().keySet()).forEach((name, t) -> out.put(name, Steps.numbers(t)));
    }
    return out;
  }

  /**
   * Every cast out of {@code from}, with values that wrap where the target is narrower (C's
   * conversions); float sources only with values inside every target's range.
   */
  @ParameterizedTest
  @EnumSource(names = {"UINT8", "INT8", "INT32", "INT64", "FLOAT32"})
  void castsBetweenIntegerAndFloatTypesMatchTheInterpreter(DType from) {
    double[] values =
        switch (from) {
          case UINT8 -> new double[] {0, 7, 127, 128, 200, 255};
          case INT8 -> new double[] {-128, -56, -1, 0, 7, 127};
          case FLOAT32 -> new double[] {0, 2.75, 15.5, 100.25, 127.5, 3};
          default -> new double[] {300, -1, 200, -200, 127, 65_537};
        };
    Graph g = new Graph();
    Tensor x = g.input("x", from, Shape.of(values.length));
    INTEGER_AND_FLOAT.forEach(to -> g.output("to_" + to, g.cast(x, to)));
    Map<String, NdArray> feeds = Map.of("x", NdArray.of(from, new long[] {values.length}, values));
    Map<String, double[]> actual = onOrt(g, feeds, Map.of());
    Map<String, NdArray> expected = Interpreter.run(g, feeds);
    for (DType to : INTEGER_AND_FLOAT) {
      double[] want = expected.get("to_" + to).data();
      if (to == DType.FLOAT32) {
        for (int i = 0; i < want.length; i++) {
          want[i] = (float) want[i];
        }
      }
      assertArrayEquals(want, actual.get("to_" + to), 0, from + " to " + to);
    }
  }

  /** Div truncates toward zero and Mod takes the divisor's sign, in int32 and int64 alike. */
  @ParameterizedTest
  @EnumSource(names = {"INT32", "INT64"})
  void integerDivAndModMatchTheInterpreter(DType dtype) {
    double[] a = {7, -7, 7, -7, 255, 16, 0};
    double[] b = {2, 2, -2, -2, 16, 16, 16};
    Graph g = new Graph();
    Tensor x = g.input("a", dtype, Shape.of(a.length));
    Tensor y = g.input("b", dtype, Shape.of(b.length));
    g.output("div", g.div(x, y));
    g.output("mod", g.mod(x, y));
    Map<String, NdArray> feeds =
        Map.of(
            "a", NdArray.of(dtype, new long[] {a.length}, a),
            "b", NdArray.of(dtype, new long[] {b.length}, b));
    Map<String, double[]> actual = onOrt(g, feeds, Map.of());
    Map<String, NdArray> expected = Interpreter.run(g, feeds);
    assertArrayEquals(new double[] {3, -3, -3, 3, 15, 1, 0}, expected.get("div").data(), 0);
    assertArrayEquals(new double[] {1, 1, -1, -1, 15, 0, 0}, expected.get("mod").data(), 0);
    assertArrayEquals(expected.get("div").data(), actual.get("div"), 0, "Div");
    assertArrayEquals(expected.get("mod").data(), actual.get("mod"), 0, "Mod");
  }

  @Test
  void aPackedFourBitWeightFrozenAsUint8DequantisesLikePlainJava() {
    Random rnd = new Random(13);
    long rows = 12;
    long cols = 64;
    int blocks = (int) (rows * cols / TestModels.CODES_PER_SCALE);
    double[] packed = new double[(int) (rows * cols / 2)];
    for (int i = 0; i < packed.length; i++) {
      packed[i] = rnd.nextInt(256);
    }
    NdArray scales = GradCheck.random(rnd, GradCases.positive(blocks), DType.FLOAT32);
    Graph g = TestModels.blockwise4bit(rows, cols, Graph.NF4_CODE, DType.FLOAT32);
    Map<String, NdArray> frozen =
        Map.of("q", NdArray.of(DType.UINT8, new long[] {rows, cols / 2}, packed), "scale", scales);
    double[] actual = onOrt(g, Map.of(), frozen).get("w");
    double[] table = new double[16];
    for (int i = 0; i < 16; i++) {
      table[i] = (float) Graph.NF4_CODE[i];
    }
    double[] expected =
        Reference.dequantise4bit(packed, table, scales.data(), TestModels.CODES_PER_SCALE);
    double d = Steps.relativeDifference(actual, expected);
    assertTrue(d <= 1e-7, "4-bit weights in float32: max relative difference " + d);
    double e = Steps.relativeDifference(actual, Interpreter.run(g, frozen).get("w").data());
    assertTrue(e <= 1e-7, "against the interpreter: max relative difference " + e);
  }

  @Test
  void anInt8WeightFrozenAsAnInitializerIsScaledOnTheBackend() {
    double[] codes = {-128, -56, -1, 0, 1, 127};
    Graph g = new Graph();
    Tensor w = g.parameter("w8", DType.INT8, Shape.of(2, 3), false);
    Tensor scale = g.parameter("scale", DType.FLOAT64, Shape.of(2, 1), false);
    g.output("w", g.mul(g.cast(w, DType.FLOAT64), scale)); // (2, 3)
    Map<String, NdArray> frozen =
        Map.of(
            "w8", NdArray.of(DType.INT8, new long[] {2, 3}, codes),
            "scale", NdArray.of(DType.FLOAT64, new long[] {2, 1}, 0.5, 0.25));
    assertArrayEquals(
        new double[] {-64, -28, -0.5, 0, 0.25, 31.75}, onOrt(g, Map.of(), frozen).get("w"), 0);
  }

  /**
   * {@code d/dx sum(w · x · stopGradient(x)) = w · x} on the backend, as the interpreter computes
   * it (and not {@code 2 w x}); the value of {@code stopGradient(x)} is x.
   */
  @Test
  void stopGradientPassesTheValueAndNotTheGradientOnTheBackend() {
    DType f = DType.FLOAT64;
    Random rnd = new Random(17);
    NdArray x0 = GradCheck.random(rnd, GradCases.any(3, 4), f);
    NdArray w = GradCheck.random(rnd, GradCases.any(3, 4), f);
    Graph g = new Graph();
    Tensor x = g.parameter("x", f, Shape.of(3, 4), true);
    Tensor stopped = g.stopGradient(x);
    Tensor loss = g.reduceSum(g.mul(g.mul(x, stopped), g.constant(w)), false, 0, 1);
    g.output("stopped", stopped);
    g.output("dx", g.gradients(loss).get(x));
    Map<String, NdArray> feeds = Map.of("x", x0);
    Map<String, double[]> actual = onOrt(g, feeds, Map.of());
    double[] expected = new double[x0.size()];
    for (int i = 0; i < expected.length; i++) {
      expected[i] = w.get(i) * x0.get(i);
    }
    assertArrayEquals(x0.data(), actual.get("stopped"), 0);
    assertArrayEquals(expected, actual.get("dx"), 1e-15);
    assertArrayEquals(Interpreter.run(g, feeds).get("dx").data(), actual.get("dx"), 1e-15);
  }
}
