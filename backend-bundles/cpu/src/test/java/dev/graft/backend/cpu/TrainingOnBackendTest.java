package dev.graft.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.graft.api.backend.HostTensor;
import dev.graft.api.backend.Program;
import dev.graft.api.backend.Session;
import dev.graft.graph.DType;
import dev.graft.graph.NdArray;
import dev.graft.graph.Reference;
import dev.graft.graph.TestModels;
import dev.graft.graph.TrainingStep;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Training on the CPU backend against values computed without the graph library: a small MLP's loss
 * and gradients against plain Java loops, its AdamW steps against a scalar AdamW, and a tiny model
 * that memorises a sequence.
 */
class TrainingOnBackendTest {
  private static final CpuBackend BACKEND = Steps.cpu(1);
  private static final String[] PARAMS = {"w1", "b1", "w2", "b2"};

  private static double tolerance(DType f) {
    return f == DType.FLOAT64 ? 1e-12 : 1e-5;
  }

  /** Random MLP inputs and parameters, rounded to the dtype: x, y, w1, b1, w2, b2. */
  private static Map<String, double[]> mlpValues(DType f) {
    Random rnd = new Random(1);
    int[] sizes = {
      Reference.N * Reference.IN,
      Reference.N * Reference.OUT,
      Reference.HID * Reference.IN,
      Reference.HID,
      Reference.OUT * Reference.HID,
      Reference.OUT
    };
    String[] names = {"x", "y", "w1", "b1", "w2", "b2"};
    Map<String, double[]> values = new LinkedHashMap<>();
    for (int k = 0; k < names.length; k++) {
      double[] v = new double[sizes[k]];
      for (int i = 0; i < v.length; i++) {
        double x = rnd.nextGaussian() * 0.5;
        v[i] = f == DType.FLOAT32 ? (float) x : x;
      }
      values.put(names[k], v);
    }
    return values;
  }

  private static long[] shape(String name) {
    return switch (name) {
      case "x" -> new long[] {Reference.N, Reference.IN};
      case "y" -> new long[] {Reference.N, Reference.OUT};
      case "w1" -> new long[] {Reference.HID, Reference.IN};
      case "b1" -> new long[] {Reference.HID};
      case "w2" -> new long[] {Reference.OUT, Reference.HID};
      default -> new long[] {Reference.OUT};
    };
  }

  private static HostTensor host(DType f, String name, double[] v) {
    return Steps.host(NdArray.of(f, shape(name), v));
  }

  private static Reference.Mlp java(Map<String, double[]> v) {
    return Reference.mlp(
        v.get("x"), v.get("y"), v.get("w1"), v.get("b1"), v.get("w2"), v.get("b2"));
  }

  private static void assertClose(DType f, double[] expected, HostTensor actual, String what) {
    double d = Steps.relativeDifference(Steps.values(actual), expected);
    assertTrue(d <= tolerance(f), what + " in " + f + ": max relative difference " + d);
  }

  @ParameterizedTest
  @EnumSource(names = {"FLOAT64", "FLOAT32"})
  void anMlpLossAndGradientsMatchPlainJavaLoops(DType f) {
    Reference.MlpGraph m = Reference.mlpGraph(f);
    var grads = m.g().gradients(m.loss());
    m.g().output("loss", m.loss());
    m.g().output("gw1", grads.get(m.w1()));
    m.g().output("gb1", grads.get(m.b1()));
    m.g().output("gw2", grads.get(m.w2()));
    m.g().output("gb2", grads.get(m.b2()));
    Map<String, double[]> v = mlpValues(f);
    Map<String, HostTensor> feeds = new LinkedHashMap<>();
    v.forEach((name, values) -> feeds.put(name, host(f, name, values)));
    Reference.Mlp java = java(v);
    Program p = new Program(m.g().toOnnx(), Map.of(), Map.of(), Set.of(f));
    try (Session s = BACKEND.open(p)) {
      Map<String, HostTensor> out = s.run(feeds, Set.of("loss", "gw1", "gb1", "gw2", "gb2"));
      assertClose(f, new double[] {java.loss()}, out.get("loss"), "loss");
      assertClose(f, java.gw1(), out.get("gw1"), "dL/dw1");
      assertClose(f, java.gb1(), out.get("gb1"), "dL/db1");
      assertClose(f, java.gw2(), out.get("gw2"), "dL/dw2");
      assertClose(f, java.gb2(), out.get("gb2"), "dL/db2");
    }
  }

  @ParameterizedTest
  @EnumSource(names = {"FLOAT64", "FLOAT32"})
  void adamWStepsMatchAScalarAdamWWithAScheduleAndWeightDecay(DType f) {
    Reference.MlpGraph m = Reference.mlpGraph(f);
    TrainingStep step = TrainingStep.builder(m.g(), m.loss()).weightDecay(0.1).build();
    Map<String, double[]> v = mlpValues(f);
    Map<String, double[][]> moments = new LinkedHashMap<>();
    for (String name : PARAMS) {
      moments.put(name, new double[2][v.get(name).length]);
    }
    Program p = new Program(step.graph().toOnnx(), Map.of(), step.carry(), Set.of(f));
    try (Session s = BACKEND.open(p)) {
      for (String name : PARAMS) {
        s.setState(name, host(f, name, v.get(name)));
        s.setState("m." + name, host(f, name, new double[v.get(name).length]));
        s.setState("v." + name, host(f, name, new double[v.get(name).length]));
      }
      for (int t = 1; t <= 4; t++) {
        double lr = f == DType.FLOAT32 ? (float) (0.02 / t) : 0.02 / t;
        Map<String, HostTensor> feeds =
            Map.of(
                "x", host(f, "x", v.get("x")),
                "y", host(f, "y", v.get("y")),
                "step", Steps.host(NdArray.scalar(f, t)),
                "lr.default", Steps.host(NdArray.scalar(f, lr)));
        HostTensor loss = s.run(feeds, Set.of("loss")).get("loss");
        Reference.Mlp java = java(v);
        assertClose(f, new double[] {java.loss()}, loss, "loss at step " + t);
        Map<String, double[]> grads =
            Map.of("w1", java.gw1(), "b1", java.gb1(), "w2", java.gw2(), "b2", java.gb2());
        for (String name : PARAMS) {
          double[] p0 = v.get(name);
          double[][] mv = moments.get(name);
          for (int i = 0; i < p0.length; i++) {
            double[] r = Reference.adamw(p0[i], grads.get(name)[i], mv[0][i], mv[1][i], t, lr, 0.1);
            p0[i] = r[0];
            mv[0][i] = r[1];
            mv[1][i] = r[2];
          }
          assertClose(f, p0, s.state(name), name + " after step " + t);
          assertClose(f, mv[0], s.state("m." + name), "m." + name + " after step " + t);
          assertClose(f, mv[1], s.state("v." + name), "v." + name + " after step " + t);
        }
      }
    }
  }

  @Test
  void aTinyAttentionModelMemorisesASequenceOnTheBackend() {
    TestModels.Memoriser task = TestModels.memoriser(DType.FLOAT32);
    TrainingStep step = task.step();
    Map<String, NdArray> feeds = task.feeds();
    double first = Double.NaN;
    double last = Double.NaN;
    try (Session s = Steps.open(BACKEND, step, step.graph().toOnnx(), feeds)) {
      for (int t = 1; t <= 150; t++) {
        feeds.put("step", NdArray.scalar(DType.FLOAT32, t));
        HostTensor loss = s.run(Steps.perRun(step, feeds), Set.of("loss")).get("loss");
        last = loss.floats()[0];
        first = t == 1 ? last : first;
      }
    }
    assertTrue(first > 1.5, "starts near ln(7) = 1.95, got " + first);
    assertTrue(last < 0.01, "loss after 150 steps on the cpu backend: " + last);
  }
}
