package dev.graft.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.graft.api.backend.HostTensor;
import dev.graft.api.backend.Program;
import dev.graft.api.backend.Session;
import dev.graft.graph.DType;
import dev.graft.graph.ExternalData;
import dev.graft.graph.Graph;
import dev.graft.graph.Shape;
import dev.graft.graph.Tensor;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CpuBackendTest {
  private static final CpuBackend BACKEND = new CpuBackend();

  @BeforeAll
  static void start() {
    BACKEND.configure(CpuBackend.config(1));
    assertTrue(BACKEND.availability().available(), BACKEND.availability().reason());
  }

  /**
   * y = x·Wᵀ with W (3, 2) frozen, supplied as an external weight. The transpose feeding MatMul is
   * what ORT's MatmulTransposeFusion rewrites.
   */
  private static Program matmulProgram(DType dtype) {
    Graph g = new Graph();
    Tensor x = g.input("x", dtype, Shape.of(1, 2));
    Tensor w = g.parameter("w", dtype, Shape.of(3, 2), false);
    g.output("y", g.matmul(x, g.transposeLast2(w)));
    HostTensor weights =
        dtype == DType.FLOAT64
            ? HostTensor.ofDoubles(new long[] {3, 2}, 1, 4, 2, 5, 3, 6)
            : HostTensor.ofFloats(new long[] {3, 2}, 1, 4, 2, 5, 3, 6);
    return new Program(g.toOnnx(), Map.of("w", weights), Map.of(), Set.of(dtype));
  }

  /** next_acc = acc + x: one carried input. */
  private static Program counterProgram() {
    Graph g = new Graph();
    Tensor acc = g.input("acc", DType.FLOAT32, Shape.of(2));
    Tensor x = g.input("x", DType.FLOAT32, Shape.of(2));
    g.output("next_acc", g.add(acc, x));
    return new Program(g.toOnnx(), Map.of(), Map.of("next_acc", "acc"), Set.of(DType.FLOAT32));
  }

  @Test
  void frozenWeightsEnterAsExternalInitializers() {
    try (Session s = BACKEND.open(matmulProgram(DType.FLOAT32))) {
      HostTensor y =
          s.run(Map.of("x", HostTensor.ofFloats(new long[] {1, 2}, 1, 1)), Set.of("y")).get("y");
      assertArrayEquals(new long[] {1, 3}, y.shape());
      assertArrayEquals(new float[] {5, 7, 9}, y.floats());
    }
  }

  /**
   * The same W read by ONNX Runtime from a file, at an offset behind other bytes (as in a
   * safetensors file), next to a second weight that Java supplies.
   */
  @Test
  void frozenWeightsAreReadFromTheirFilesInTheWeightFolder(@TempDir Path folder)
      throws IOException {
    ByteBuffer file = ByteBuffer.allocate(8 + 24).order(ByteOrder.LITTLE_ENDIAN);
    file.putLong(-1);
    for (float v : new float[] {1, 4, 2, 5, 3, 6}) {
      file.putFloat(v);
    }
    Files.write(folder.resolve("weights.bin"), file.array());
    Graph g = new Graph();
    Tensor x = g.input("x", DType.FLOAT32, Shape.of(1, 2));
    Tensor w = g.parameter("w", DType.FLOAT32, Shape.of(3, 2), false);
    Tensor b = g.parameter("b", DType.FLOAT32, Shape.of(3), false);
    g.output("y", g.add(g.matmul(x, g.transposeLast2(w)), b));
    for (boolean training : new boolean[] {false, true}) { // prepacked weights, or not
      Program program =
          new Program(
              g.toOnnx(Map.of("w", new ExternalData("weights.bin", 8, 24))),
              Map.of("b", HostTensor.ofFloats(new long[] {3}, 10, 20, 30)),
              Map.of(),
              Set.of(DType.FLOAT32),
              folder,
              training);
      try (Session s = BACKEND.open(program)) {
        HostTensor y =
            s.run(Map.of("x", HostTensor.ofFloats(new long[] {1, 2}, 1, 1)), Set.of("y")).get("y");
        assertArrayEquals(new float[] {15, 27, 39}, y.floats());
      }
    }
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> g.toOnnx(Map.of("w", new ExternalData("weights.bin", 8, 20))));
    assertEquals("w: FLOAT32[3, 2] takes 24 bytes, but its external data has 20.", e.getMessage());
  }

  @Test
  void float64GraphsRunDespiteTheMatmulTransposeFusionTrap() {
    try (Session s = BACKEND.open(matmulProgram(DType.FLOAT64))) {
      HostTensor y =
          s.run(Map.of("x", HostTensor.ofDoubles(new long[] {1, 2}, 0.5, -1)), Set.of("y"))
              .get("y");
      assertArrayEquals(new double[] {-3.5, -4, -4.5}, y.doubles());
    }
  }

  @Test
  void carriedOutputsFeedTheNextRun() {
    try (Session s = BACKEND.open(counterProgram())) {
      s.setState("acc", HostTensor.ofFloats(new long[] {2}, 0, 10));
      for (int i = 0; i < 3; i++) {
        s.run(Map.of("x", HostTensor.ofFloats(new long[] {2}, 1, 2)), Set.of());
      }
      assertArrayEquals(new float[] {3, 16}, s.state("acc").floats());
      s.setState("acc", HostTensor.ofFloats(new long[] {2}, 0, 0));
      HostTensor fetched =
          s.run(Map.of("x", HostTensor.ofFloats(new long[] {2}, 1, 1)), Set.of("next_acc"))
              .get("next_acc");
      assertArrayEquals(new float[] {1, 1}, fetched.floats());
    }
  }

  @Test
  void aClosedSessionRefusesWorkAndClosesOnce() {
    Session s = BACKEND.open(counterProgram());
    s.setState("acc", HostTensor.ofFloats(new long[] {2}, 0, 0));
    s.run(Map.of("x", HostTensor.ofFloats(new long[] {2}, 1, 1)), Set.of());
    s.close();
    s.close();
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> s.state("acc"));
    assertEquals("This cpu session is closed.", e.getMessage());
  }

  @Test
  void badFeedsAndStateAreNamed() {
    try (Session s = BACKEND.open(counterProgram())) {
      IllegalArgumentException e =
          assertThrows(IllegalArgumentException.class, () -> s.run(Map.of(), Set.of()));
      assertEquals("Carried input \"acc\" has no value; call setState first.", e.getMessage());
      s.setState("acc", HostTensor.ofFloats(new long[] {2}, 0, 0));
      e =
          assertThrows(
              IllegalArgumentException.class,
              () -> s.run(Map.of("z", HostTensor.ofFloats(new long[] {2}, 0, 0)), Set.of()));
      assertEquals("\"z\" is not a per-run input of this program; it takes: [x].", e.getMessage());
      e = assertThrows(IllegalArgumentException.class, () -> s.run(Map.of(), Set.of()));
      assertEquals("Missing inputs [x] for this run.", e.getMessage());
      e =
          assertThrows(
              IllegalArgumentException.class,
              () -> s.setState("x", HostTensor.ofFloats(new long[] {2}, 0, 0)));
      assertEquals(
          "\"x\" is not a carried input of this program; carried inputs: [acc].", e.getMessage());
      e =
          assertThrows(
              IllegalArgumentException.class,
              () -> s.setState("acc", HostTensor.ofFloats(new long[] {3}, 0, 0, 0)));
      assertEquals("Carried input \"acc\" is FLOAT32 [2], not FLOAT32 [3].", e.getMessage());
    }
  }

  /**
   * Fixed-shape state lives in two buffers that runs alternate between: a value read back or
   * fetched is a copy, unchanged by later runs.
   */
  @Test
  void stateReadBackIsACopy() {
    try (Session s = BACKEND.open(counterProgram())) {
      s.setState("acc", HostTensor.ofFloats(new long[] {2}, 1, 2));
      HostTensor before = s.state("acc");
      HostTensor fetched =
          s.run(Map.of("x", HostTensor.ofFloats(new long[] {2}, 1, 1)), Set.of("next_acc"))
              .get("next_acc");
      s.run(Map.of("x", HostTensor.ofFloats(new long[] {2}, 1, 1)), Set.of());
      s.run(Map.of("x", HostTensor.ofFloats(new long[] {2}, 1, 1)), Set.of());
      assertArrayEquals(new float[] {1, 2}, before.floats());
      assertArrayEquals(new float[] {2, 3}, fetched.floats());
      assertArrayEquals(new float[] {4, 5}, s.state("acc").floats());
    }
  }

  @Test
  void bfloat16IsRefusedNamingBackendAndDtype() {
    Program p = new Program(new byte[0], Map.of(), Map.of(), Set.of(DType.BFLOAT16));
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> BACKEND.open(p));
    assertTrue(e.getMessage().startsWith("The cpu backend cannot run BFLOAT16"), e.getMessage());
  }

  @Test
  void theThreadCountComesFromConfiguration() {
    CpuBackend b = new CpuBackend();
    b.configure(CpuBackend.config(3));
    assertTrue(b.device().startsWith("CPU, 3 threads"), b.device());
    assertThrows(IllegalArgumentException.class, () -> b.configure(CpuBackend.config(-1)));
  }
}
