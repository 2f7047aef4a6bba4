package dev.graft.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import dev.graft.api.backend.HostTensor;
import dev.graft.api.backend.Program;
import dev.graft.api.backend.Session;
import dev.graft.graph.DType;
import dev.graft.graph.GradCases;
import dev.graft.graph.GradCheck;
import dev.graft.graph.Graph;
import dev.graft.graph.NdArray;
import dev.graft.graph.Tensor;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * Every op of the graph module's {@link GradCases} on ONNX Runtime's CPU execution provider: the
 * lowered backward's gradients against central finite differences of the lowered forward, both run
 * through {@link CpuBackend}, with fresh random inputs per op.
 */
class GradientConformanceTest {
  private static final CpuBackend BACKEND = Steps.cpu(1);

  /** Float32 step: large enough that rounding of the loss (about 1e-7 relative) stays small. */
  private static final double H32 = 1e-2;

  /** Float32 tolerance: rounding plus the O(h²) truncation error of the step above. */
  private static final double TOLERANCE32 = 2e-3;

  /** ONNX Runtime 1.23's CPU EP has no float64 Erf kernel (exact GELU uses Erf). */
  private static boolean needsErf(GradCases.Case c) {
    return GradCheck.problem(c, DType.FLOAT64).graph().nodes().stream()
        .anyMatch(
            n ->
                n.op().equals("Erf")
                    || n.op().equals("Gelu") && n.attr("approximate").equals("none"));
  }

  @TestFactory
  Stream<DynamicTest> float64GradientsMatchFiniteDifferences() {
    return GradCases.all().stream()
        .map(c -> DynamicTest.dynamicTest(c.name(), () -> checkFloat64(c)));
  }

  @TestFactory
  Stream<DynamicTest> float32GradientsOfErfOpsMatchFiniteDifferences() {
    return GradCases.all().stream()
        .filter(GradientConformanceTest::needsErf)
        .map(c -> DynamicTest.dynamicTest(c.name(), () -> checkFloat32(c)));
  }

  private static void checkFloat64(GradCases.Case c) {
    assumeFalse(
        needsErf(c),
        "ONNX Runtime's CPU EP has no float64 Erf kernel; "
            + "float32GradientsOfErfOpsMatchFiniteDifferences checks \""
            + c.name()
            + "\".");
    GradCheck.Problem pr = GradCheck.problem(c, DType.FLOAT64);
    // A graph that rounds through float32 on the way needs float32's step and tolerance.
    boolean rounds = pr.graph().nodes().stream().anyMatch(n -> n.output().dtype() == DType.FLOAT32);
    GradCheck.Worst worst = check(pr, rounds ? H32 : GradCheck.H);
    double tolerance = rounds ? TOLERANCE32 : GradCheck.TOLERANCE;
    assertTrue(worst.error() < tolerance, c.name() + " in float64: " + worst);
  }

  private static void checkFloat32(GradCases.Case c) {
    GradCheck.Worst worst = check(GradCheck.problem(c, DType.FLOAT32), H32);
    assertTrue(worst.error() < TOLERANCE32, c.name() + " in float32: " + worst);
  }

  /**
   * Runs the problem's graph, with outputs {@code loss} and {@code grad.<i>}, in one ORT session:
   * once for the analytic gradients, then twice per input element with that element moved by ±h.
   */
  private static GradCheck.Worst check(GradCheck.Problem pr, double h) {
    Graph g = pr.graph();
    g.output("loss", pr.loss());
    Set<String> gradNames = new LinkedHashSet<>();
    for (int i = 0; i < pr.grads().size(); i++) {
      g.output("grad." + i, pr.grads().get(i));
      gradNames.add("grad." + i);
    }
    Map<String, HostTensor> feeds = new HashMap<>();
    pr.feeds().forEach((name, value) -> feeds.put(name, Steps.host(value)));
    GradCheck.Worst worst = new GradCheck.Worst();
    try (Session s = BACKEND.open(new Program(g.toOnnx(), Map.of(), Map.of(), Steps.dtypes(g)))) {
      Map<String, HostTensor> analytic = s.run(feeds, gradNames);
      for (int i = 0; i < pr.params().size(); i++) {
        Tensor p = pr.params().get(i);
        NdArray value = pr.feeds().get(p.name());
        double[] a = Steps.values(analytic.get("grad." + i));
        for (int k = 0; k < value.size(); k++) {
          double[] plus = moved(value, k, h, p.dtype());
          double[] minus = moved(value, k, -h, p.dtype());
          double lossPlus = lossAt(s, feeds, p, value, plus);
          double lossMinus = lossAt(s, feeds, p, value, minus);
          // The step actually taken, after rounding to the dtype.
          double numeric = (lossPlus - lossMinus) / (plus[k] - minus[k]);
          worst.add(a[k], numeric, p.name() + "[" + k + "]");
        }
        feeds.put(p.name(), Steps.host(value));
      }
    }
    return worst;
  }

  private static double[] moved(NdArray value, int k, double h, DType dtype) {
    double[] d = value.data();
    d[k] = dtype == DType.FLOAT32 ? (float) (d[k] + h) : d[k] + h;
    return d;
  }

  private static double lossAt(
      Session s, Map<String, HostTensor> feeds, Tensor p, NdArray value, double[] moved) {
    feeds.put(p.name(), Steps.host(NdArray.of(value.dtype(), value.shape(), moved)));
    return Steps.values(s.run(feeds, Set.of("loss")).get("loss"))[0];
  }
}
