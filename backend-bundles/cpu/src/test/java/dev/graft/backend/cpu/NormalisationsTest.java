package dev.graft.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OrtSession;
import dev.graft.api.backend.HostTensor;
import dev.graft.api.backend.Program;
import dev.graft.api.backend.Session;
import dev.graft.backend.cpu.ort.OrtProgramSession;
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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * LayerNorm and RMSNorm on ONNX Runtime: values and gradients against the interpreter in float32
 * and float64, with the norm's weights trainable (graph inputs) or frozen (external initializers),
 * and what ORT's graph optimiser makes of the float32 forward in a training graph.
 */
class NormalisationsTest {
  private static final CpuBackend BACKEND = Steps.cpu(1);
  private static final long D = 16;

  @TempDir Path dir;

  /** The norm of {@code x}: "layerNorm", "layerNorm without beta" or "rmsNorm". */
  private static Tensor norm(String name, Graph g, Tensor x, Tensor gamma, Tensor beta) {
    return switch (name) {
      case "layerNorm" -> g.layerNorm(x, gamma, beta, 1e-5);
      case "layerNorm without beta" -> g.layerNorm(x, gamma, null, 1e-5);
      case "rmsNorm" -> g.rmsNorm(x, gamma, 1e-6);
      default -> throw new IllegalArgumentException(name);
    };
  }

  private static NdArray random(Random rnd, DType f, double offset, double scale, long... shape) {
    int n = 1;
    for (long s : shape) {
      n *= (int) s;
    }
    double[] v = new double[n];
    for (int i = 0; i < n; i++) {
      double x = offset + scale * (2 * rnd.nextDouble() - 1);
      v[i] = f == DType.FLOAT32 ? (float) x : x;
    }
    return NdArray.of(f, shape, v);
  }

  /** (rows, D) values, each row with a mean in ±maxMean and a spread from minSpread to 2. */
  private static NdArray rows(Random rnd, DType f, int rows, double maxMean, double minSpread) {
    double[] x = new double[(int) (rows * D)];
    for (int r = 0; r < rows; r++) {
      double mean = maxMean * (2 * rnd.nextDouble() - 1);
      double spread = minSpread + (2 - minSpread) * rnd.nextDouble();
      for (int j = 0; j < D; j++) {
        double v = mean + spread * (2 * rnd.nextDouble() - 1);
        x[(int) (r * D + j)] = f == DType.FLOAT32 ? (float) v : v;
      }
    }
    return NdArray.of(f, new long[] {rows, D}, x);
  }

  /**
   * y and the gradients of sum(y w) for x and the trainable weights, from ORT against the
   * interpreter, as {@code max |ort - interpreter| / max |interpreter|} per output. In float64 the
   * rows of x have means up to ±4 and spreads from 0.1, so the centring matters. Float32 runs ORT's
   * LayerNormalization and SimplifiedLayerNormalization kernels forward.
   */
  @ParameterizedTest
  @CsvSource({
    "layerNorm, FLOAT64, true",
    "layerNorm, FLOAT64, false",
    "layerNorm without beta, FLOAT64, true",
    "rmsNorm, FLOAT64, true",
    "rmsNorm, FLOAT64, false",
    "layerNorm, FLOAT32, true",
    "layerNorm, FLOAT32, false",
    "layerNorm without beta, FLOAT32, false",
    "rmsNorm, FLOAT32, true",
    "rmsNorm, FLOAT32, false"
  })
  void valuesAndGradientsMatchTheInterpreter(String name, DType f, boolean trainableWeights) {
    Random rnd = new Random(name.hashCode() + f.ordinal());
    // Float32: means small against the spread (see layerNormInFloat32LosesPrecisionToLargeMeans).
    double means = f == DType.FLOAT64 ? 4 : 1;
    double spreads = f == DType.FLOAT64 ? 0.1 : 0.5;
    Map<String, NdArray> feeds = new LinkedHashMap<>();
    feeds.put("x", rows(rnd, f, 12, means, spreads));
    feeds.put("gamma", random(rnd, f, 1, 0.5, D));
    feeds.put("beta", random(rnd, f, 0, 1, D));
    Graph g = new Graph();
    Tensor xt = g.parameter("x", f, Shape.of(12, D), true);
    Tensor gamma = g.parameter("gamma", f, Shape.of(D), trainableWeights);
    Tensor beta =
        name.equals("layerNorm") ? g.parameter("beta", f, Shape.of(D), trainableWeights) : null;
    Tensor y = norm(name, g, xt, gamma, beta);
    Tensor w = g.constant(random(rnd, f, 0, 1, 12, D));
    Map<Tensor, Tensor> grads = g.gradients(g.reduceSum(g.mul(y, w), false, 0, 1));
    g.output("y", y);
    grads.forEach((p, grad) -> g.output("grad." + p.name(), grad));
    assertEquals(trainableWeights ? (name.equals("layerNorm") ? 4 : 3) : 2, g.outputs().size());
    Map<String, NdArray> expected = Interpreter.run(g, feeds);

    Map<String, HostTensor> runFeeds = new LinkedHashMap<>();
    Map<String, HostTensor> frozen = new LinkedHashMap<>();
    for (Tensor p : g.parameters()) {
      if (g.isTrainable(p)) {
        runFeeds.put(p.name(), Steps.host(feeds.get(p.name())));
      } else {
        frozen.put(p.name(), Steps.host(feeds.get(p.name())));
      }
    }
    // Float64: rounding only (3e-16 seen); float32: the kernels' float32 sums and square roots.
    double tolerance = f == DType.FLOAT64 ? 1e-14 : 2e-6;
    try (Session s = BACKEND.open(new Program(g.toOnnx(), frozen, Map.of(), Steps.dtypes(g)))) {
      Map<String, HostTensor> actual = s.run(runFeeds, expected.keySet());
      for (String out : expected.keySet()) {
        double difference =
            Steps.relativeDifference(Steps.values(actual.get(out)), expected.get(out).data());
        assertTrue(
            difference <= tolerance,
            name + " in " + f + ", " + out + ": relative difference " + difference);
      }
    }
  }

  /**
   * ORT's CPU LayerNormalization kernel computes the variance in one pass, {@code mean(x^2) -
   * mean(x)^2}, in the input's precision, so in float32 a row whose mean is large against its
   * spread loses relative precision of about {@code 1e-7 (mean / std)^2}; torch and the interpreter
   * subtract the mean first. Here means up to ±4 with spreads down to 0.1 (mean/std up to 70) move
   * y by about 1e-4 of its scale; the backward, which recomputes the variance in two passes, is not
   * affected. If this test fails at its lower bound, ORT has changed the kernel.
   */
  @ParameterizedTest
  @CsvSource({"layerNorm", "layerNorm without beta"})
  void layerNormInFloat32LosesPrecisionToLargeMeans(String name) {
    DType f = DType.FLOAT32;
    Random rnd = new Random(3);
    Map<String, NdArray> feeds = new LinkedHashMap<>();
    feeds.put("x", rows(rnd, f, 64, 4, 0.1));
    feeds.put("gamma", random(rnd, f, 1, 0.5, D));
    feeds.put("beta", random(rnd, f, 0, 1, D));
    Graph g = new Graph();
    Tensor x = g.input("x", f, Shape.of(64, D));
    Tensor gamma = g.input("gamma", f, Shape.of(D));
    Tensor beta = name.equals("layerNorm") ? g.input("beta", f, Shape.of(D)) : null;
    g.output("y", norm(name, g, x, gamma, beta));
    Map<String, NdArray> expected = Interpreter.run(g, feeds);
    Map<String, HostTensor> runFeeds = new LinkedHashMap<>();
    g.inputs().forEach(t -> runFeeds.put(t.name(), Steps.host(feeds.get(t.name()))));
    try (Session s = BACKEND.open(new Program(g.toOnnx(), Map.of(), Map.of(), Steps.dtypes(g)))) {
      double difference =
          Steps.relativeDifference(
              Steps.values(s.run(runFeeds, expected.keySet()).get("y")), expected.get("y").data());
      assertTrue(difference > 1e-5 && difference < 1e-3, name + ": " + difference);
    }
  }

  /**
   * In a float32 training graph (a residual block, forward and backward) ORT turns the norm's
   * forward into one kernel: LayerNormalization stays one, and the RMSNorm pattern fuses into
   * SimplifiedLayerNormalization (with the residual sum before it, into the Skip variants). It
   * fuses only intermediates that one node reads, so this also shows that no backward node reads
   * them and that common-subexpression elimination merged none of the backward's recomputation into
   * them. The weights are trainable (graph inputs) or frozen (external initializers).
   */
  @ParameterizedTest
  @CsvSource({
    "layerNorm, true, LayerNormalization",
    "layerNorm, false, LayerNormalization",
    "layerNorm without beta, false, LayerNormalization",
    "rmsNorm, true, SimplifiedLayerNormalization",
    "rmsNorm, false, SimplifiedLayerNormalization"
  })
  void theForwardIsOneKernelInATrainingGraph(String name, boolean trainable, String fused)
      throws IOException {
    DType f = DType.FLOAT32;
    Graph g = new Graph();
    Tensor x = g.input("x", f, Shape.with("batch", "seq", D));
    Tensor w = g.parameter("w", f, Shape.of(D, D), true);
    Tensor w2 = g.parameter("w2", f, Shape.of(4, D), true);
    Tensor gamma = g.parameter("gamma", f, Shape.of(D), trainable);
    Tensor beta = name.equals("layerNorm") ? g.parameter("beta", f, Shape.of(D), trainable) : null;
    Tensor h = g.add(x, g.linear(x, w, null)); // a residual sum
    Tensor y = g.linear(norm(name, g, h, gamma, beta), w2, null);
    Tensor loss = g.reduceSum(g.mul(y, y), false, 0, 1, 2);
    Map<Tensor, Tensor> grads = g.gradients(loss);
    g.output("loss", loss);
    grads.forEach((p, grad) -> g.output("grad." + p.name(), grad));
    Map<String, HostTensor> frozen = new LinkedHashMap<>();
    Random rnd = new Random(1);
    for (Tensor p : g.parameters()) {
      if (!g.isTrainable(p)) {
        frozen.put(p.name(), Steps.host(random(rnd, f, 1, 0.5, D)));
      }
    }
    Path optimised = dir.resolve("optimised.onnx");
    OrtSession.SessionOptions options = new OrtSession.SessionOptions();
    try {
      // The fusions and CSE are level 1 and 2 (EXTENDED); the backend's ALL_OPT adds layout
      // transforms, with which ORT warns when it saves the optimised model.
      options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.EXTENDED_OPT);
      options.setOptimizedModelFilePath(optimised.toString());
    } catch (ai.onnxruntime.OrtException e) {
      options.close();
      throw new IllegalStateException(e);
    }
    OrtProgramSession.open(
            "cpu", new Program(g.toOnnx(), frozen, Map.of(), Steps.dtypes(g)), options)
        .close();
    List<String> ops = opTypes(Files.readAllBytes(optimised));
    long kernels = ops.stream().filter(op -> op.equals(fused) || op.equals("Skip" + fused)).count();
    assertEquals(1, kernels, name + ": " + ops);
    assertEquals(0, ops.stream().filter("Pow"::equals).count(), name + ": " + ops);
  }

  /** The op types of the nodes of a ModelProto's graph, in order. */
  private static List<String> opTypes(byte[] model) {
    return new OnnxReader(model).nodes.stream().map(OnnxReader.NodeInfo::op).toList();
  }
}
