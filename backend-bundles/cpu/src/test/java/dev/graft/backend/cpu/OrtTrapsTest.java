package dev.graft.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.graft.api.backend.HostTensor;
import dev.graft.api.backend.Program;
import dev.graft.api.backend.Session;
import dev.graft.graph.DType;
import dev.graft.graph.Graph;
import dev.graft.graph.NdArray;
import dev.graft.graph.Shape;
import dev.graft.graph.Tensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The ONNX Runtime traps of reference/onnxruntime.md, each shown on a bare ORT session and avoided
 * by {@link CpuBackend}. bfloat16 and closed sessions are covered in {@link CpuBackendTest}.
 */
class OrtTrapsTest {
  private static final CpuBackend BACKEND = Steps.cpu(1);
  private static final OrtEnvironment ENV = OrtEnvironment.getEnvironment();
  private static final float[] W = {1, 4, 2, 5, 3, 6}; // (3, 2)
  private static final float[] X_TIMES_W_T = {5, 7, 9}; // [1, 1]·Wᵀ

  private static OnnxTensor tensor(float[] values, long... shape) throws OrtException {
    ByteBuffer b = ByteBuffer.allocateDirect(values.length * 4).order(ByteOrder.nativeOrder());
    b.asFloatBuffer().put(values);
    return OnnxTensor.createTensor(ENV, b.asFloatBuffer(), shape);
  }

  /**
   * A weight supplied with {@code addInitializer} over an inline placeholder: constant folding
   * computes Transpose(W) from the placeholder's zeros at session creation, so every optimisation
   * level above NO_OPT returns zeros. If this test fails, ONNX Runtime has fixed the trap. Graft
   * declares frozen weights as external data instead ({@code addExternalInitializers}), which
   * {@link CpuBackendTest#frozenWeightsEnterAsExternalInitializers} checks under ALL_OPT.
   */
  @Test
  void addInitializerUnderConstantFoldingSilentlyUsesThePlaceholder() throws OrtException {
    Graph g = new Graph();
    Tensor x = g.input("x", DType.FLOAT32, Shape.of(1, 2));
    Tensor placeholder = g.constant(NdArray.zeros(DType.FLOAT32, 3, 2));
    g.output("y", g.matmul(x, g.transposeLast2(placeholder)));
    for (OrtSession.SessionOptions.OptLevel level :
        new OrtSession.SessionOptions.OptLevel[] {
          OrtSession.SessionOptions.OptLevel.NO_OPT, OrtSession.SessionOptions.OptLevel.ALL_OPT
        }) {
      try (OrtSession.SessionOptions options = new OrtSession.SessionOptions();
          OnnxTensor w = tensor(W, 3, 2);
          OnnxTensor in = tensor(new float[] {1, 1}, 1, 2)) {
        options.setOptimizationLevel(level);
        options.addInitializer(placeholder.name(), w);
        try (OrtSession s = ENV.createSession(g.toOnnx(), options);
            OrtSession.Result r = s.run(Map.of("x", in))) {
          float[] y = ((float[][]) r.get(0).getValue())[0];
          float[] expected =
              level == OrtSession.SessionOptions.OptLevel.NO_OPT ? X_TIMES_W_T : new float[3];
          assertArrayEquals(expected, y, level.toString());
        }
      }
    }
  }

  /**
   * x·Wᵀ in float64 with W an input, as trainables are: ORT's MatmulTransposeFusion rewrites it to
   * com.microsoft.FusedMatMul, which has only float kernels, so session creation fails; the cpu
   * backend disables that fusion for float64 programs.
   */
  @Test
  void float64MatmulTransposeFusionFailsOnABareSessionButRunsOnTheBackend() throws OrtException {
    Graph g = new Graph();
    Tensor x = g.input("x", DType.FLOAT64, Shape.of(1, 2));
    Tensor w = g.input("w", DType.FLOAT64, Shape.of(3, 2));
    g.output("y", g.matmul(x, g.transposeLast2(w)));
    byte[] onnx = g.toOnnx();
    try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
      options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
      OrtException e =
          assertThrows(OrtException.class, () -> ENV.createSession(onnx, options).close());
      assertTrue(e.getMessage().contains("FusedMatMul"), e.getMessage());
    }
    try (Session s = BACKEND.open(new Program(onnx, Map.of(), Map.of(), Set.of(DType.FLOAT64)))) {
      Map<String, HostTensor> feeds =
          Map.of(
              "x", HostTensor.ofDoubles(new long[] {1, 2}, 1, 1),
              "w", HostTensor.ofDoubles(new long[] {3, 2}, 1, 4, 2, 5, 3, 6));
      assertArrayEquals(new double[] {5, 7, 9}, s.run(feeds, Set.of("y")).get("y").doubles());
    }
  }
}
