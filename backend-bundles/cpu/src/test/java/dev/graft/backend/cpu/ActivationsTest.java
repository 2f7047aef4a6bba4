package dev.graft.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.graft.api.backend.HostTensor;
import dev.graft.api.backend.Program;
import dev.graft.api.backend.Session;
import dev.graft.graph.DType;
import dev.graft.graph.Graph;
import dev.graft.graph.Interpreter;
import dev.graft.graph.NdArray;
import dev.graft.graph.OnnxReader;
import dev.graft.graph.Shape;
import dev.graft.graph.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * GELU (tanh and exact) and SiLU on ONNX Runtime: values and gradients against the interpreter, and
 * what ORT's graph optimiser makes of them in a float32 training graph.
 */
class ActivationsTest {
  private static final OrtEnvironment ENV = OrtEnvironment.getEnvironment();
  private static final CpuBackend BACKEND = Steps.cpu(1);

  @TempDir Path dir;

  private static BiFunction<Graph, Tensor, Tensor> activation(String name) {
    return switch (name) {
      case "gelu tanh" -> (g, x) -> g.gelu(x, true);
      case "gelu exact" -> (g, x) -> g.gelu(x, false);
      case "silu" -> Graph::silu;
      default -> throw new IllegalArgumentException(name);
    };
  }

  /**
   * f(x) and d sum(f(x)) / dx over [-12, 12] (float64 also at ±40) against the interpreter, as
   * {@code |ort - interpreter| / (1 + |interpreter|)}. Float32 runs ORT's fused kernels (FastGelu,
   * Gelu, QuickGelu) forward; ORT's float32 tanh, erf and logistic are accurate to about 1e-7
   * absolutely, not relatively, which the backward multiplies by up to ~20 where a sigmoid is
   * small. There is no float64 Erf kernel for exact GELU.
   */
  @ParameterizedTest
  @CsvSource({
    "gelu tanh, FLOAT64",
    "silu, FLOAT64",
    "gelu tanh, FLOAT32",
    "gelu exact, FLOAT32",
    "silu, FLOAT32"
  })
  void valuesAndGradientsMatchTheInterpreter(String name, DType f) {
    List<Double> grid = new ArrayList<>();
    for (double v = -12; v <= 12; v += 1 / 16.0) {
      grid.add(v);
    }
    if (f == DType.FLOAT64) {
      grid.addAll(List.of(-40.0, 40.0));
    }
    double[] xs = grid.stream().mapToDouble(Double::doubleValue).toArray();
    Graph g = new Graph();
    Tensor x = g.parameter("x", f, Shape.of(xs.length), true);
    Tensor y = activation(name).apply(g, x);
    g.output("y", y);
    g.output("grad", g.gradients(g.reduceSum(y, false, 0)).get(x));
    NdArray in = NdArray.of(f, new long[] {xs.length}, xs);
    Map<String, NdArray> expected = Interpreter.run(g, Map.of("x", in));
    // Float32: as good as the composites of primitives were (2.1e-6 for the tanh form's gradient).
    double tolerance = f == DType.FLOAT64 ? 1e-14 : 3e-6;
    try (Session s = BACKEND.open(new Program(g.toOnnx(), Map.of(), Map.of(), Steps.dtypes(g)))) {
      Map<String, HostTensor> actual = s.run(Map.of("x", Steps.host(in)), expected.keySet());
      for (String out : expected.keySet()) {
        double[] got = Steps.values(actual.get(out));
        double[] want = expected.get(out).data();
        double worst = 0;
        int at = 0;
        for (int i = 0; i < xs.length; i++) {
          double e = Math.abs(got[i] - want[i]) / (1 + Math.abs(want[i]));
          if (e > worst) {
            worst = e;
            at = i;
          }
        }
        assertTrue(
            worst <= tolerance,
            name
                + " in "
                + f
                + ", "
                + out
                + " at x = "
                + xs[at]
                + ": "
                + got[at]
                + " vs "
                + want[at]);
      }
    }
  }

  /**
   * In a float32 training graph (forward and backward) ORT fuses the forward's lowering into one
   * kernel. It fuses only intermediates that one node reads, so this also shows that no backward
   * node reads them and that common-subexpression elimination merged none of the backward's
   * recomputation into them (a backward Sigmoid(x) for SiLU would be merged, and then nothing is
   * fused).
   */
  @ParameterizedTest
  @ValueSource(strings = {"gelu tanh:FastGelu", "gelu exact:Gelu", "silu:QuickGelu"})
  void theForwardFusesIntoOneKernelAndTheBackwardReadsOnlyX(String spec)
      throws OrtException, IOException {
    String name = spec.substring(0, spec.indexOf(':'));
    String fused = spec.substring(spec.indexOf(':') + 1);
    BiFunction<Graph, Tensor, Tensor> act = activation(name);
    Graph g = new Graph();
    DType f = DType.FLOAT32;
    Tensor x = g.input("x", f, Shape.with("batch", 8));
    Tensor w = g.parameter("w", f, Shape.of(16, 8), true);
    Tensor w2 = g.parameter("w2", f, Shape.of(4, 16), true);
    Tensor y = g.linear(act.apply(g, g.linear(x, w, null)), w2, null);
    Tensor loss = g.reduceSum(g.mul(y, y), false, 0, 1);
    Map<Tensor, Tensor> grads = g.gradients(loss);
    g.output("loss", loss);
    g.output("grad.w", grads.get(w));
    g.output("grad.w2", grads.get(w2));
    Path optimised = dir.resolve("optimised.onnx");
    try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
      // The fusions and CSE are level 1 and 2 (EXTENDED); the backend's ALL_OPT adds layout
      // transforms, with which ORT warns when it saves the optimised model.
      options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.EXTENDED_OPT);
      options.setOptimizedModelFilePath(optimised.toString());
      ENV.createSession(g.toOnnx(), options).close();
    }
    List<String> ops = opTypes(Files.readAllBytes(optimised));
    assertEquals(1, ops.stream().filter(fused::equals).count(), name + ": " + ops);
  }

  /** The op types of the nodes of a ModelProto's graph, in order. */
  private static List<String> opTypes(byte[] model) {
    return new OnnxReader(model).nodes.stream().map(OnnxReader.NodeInfo::op).toList();
  }
}
