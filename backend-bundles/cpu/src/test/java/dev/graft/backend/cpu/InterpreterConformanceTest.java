package dev.graft.backend.cpu;

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
import dev.graft.graph.Shape;
import dev.graft.graph.TestModels;
import dev.graft.graph.TrainingStep;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The graph module's tiny transformer training step (symbolic batch and sequence, LoRA, RoPE,
 * masks, dropout, clipping, accumulation over 2 micro-steps, AdamW) on ONNX Runtime against the
 * reference interpreter over several runs, each carrying its own state (the session through its
 * carried outputs), so a wrongly carried value shows as well as a wrong op.
 */
class InterpreterConformanceTest {
  private static final CpuBackend BACKEND = Steps.cpu(1);

  @ParameterizedTest
  @EnumSource(names = {"FLOAT64", "FLOAT32"})
  void aTinyTransformerTrainsLikeTheInterpreterOverSeveralSteps(DType f) {
    // The interpreter computes float32 graphs in double precision: compare with float32's error.
    double tolerance = f == DType.FLOAT64 ? 1e-10 : 1e-4;
    TrainingStep step = TestModels.tinyTransformer(f);
    Random rnd = new Random(7);
    Map<String, NdArray> init = TestModels.tinyTransformerFeeds(step.graph(), 2, 5, rnd);
    Map<String, NdArray> state = new HashMap<>(init);
    try (Session s = Steps.open(BACKEND, step, step.graph().toOnnx(), init)) {
      List<Map<String, NdArray>> rows = TestModels.tinyTransformerRuns(step, init, 6, rnd);
      for (int run = 0; run < rows.size(); run++) {
        Map<String, NdArray> feeds = new HashMap<>(rows.get(run));
        step.carry().values().forEach(in -> feeds.put(in, state.get(in)));
        Map<String, NdArray> expected = Interpreter.run(step.graph(), feeds);
        Map<String, HostTensor> actual = s.run(Steps.perRun(step, feeds), expected.keySet());
        for (Map.Entry<String, NdArray> e : expected.entrySet()) {
          double d =
              Steps.relativeDifference(Steps.values(actual.get(e.getKey())), e.getValue().data());
          assertTrue(
              d <= tolerance,
              e.getKey() + " at run " + run + " in " + f + ": max relative difference " + d);
        }
        step.carry().forEach((out, in) -> state.put(in, expected.get(out)));
      }
    }
  }

  @Test
  void nf4DequantisationMatchesTheInterpreterInFloat32() {
    Random rnd = new Random(5);
    int n = 2 * Graph.NF4_NESTED_BLOCK * Graph.NF4_BLOCK; // two groups of 256 blocks
    int blocks = n / Graph.NF4_BLOCK;
    Graph g = new Graph();
    g.output(
        "w",
        g.nf4Dequantize(
            g.input("q", DType.UINT8, Shape.of(n / 2)),
            g.input("qa", DType.UINT8, Shape.of(blocks)),
            g.input("code", DType.FLOAT32, Shape.of(256)),
            g.input("absmax2", DType.FLOAT32, Shape.of(2)),
            g.input("offset", DType.FLOAT32, Shape.scalar()),
            Shape.of(n / 128, 128)));
    Map<String, NdArray> feeds = new HashMap<>();
    feeds.put("q", NdArray.of(DType.UINT8, new long[] {n / 2}, bytes(rnd, n / 2)));
    feeds.put("qa", NdArray.of(DType.UINT8, new long[] {blocks}, bytes(rnd, blocks)));
    feeds.put("code", GradCheck.random(rnd, GradCases.any(256), DType.FLOAT32));
    feeds.put("absmax2", GradCheck.random(rnd, GradCases.positive(2), DType.FLOAT32));
    feeds.put("offset", NdArray.scalar(DType.FLOAT32, 0.0625));
    Map<String, HostTensor> in = new HashMap<>();
    feeds.forEach((name, v) -> in.put(name, Steps.host(v)));
    try (Session s = BACKEND.open(new Program(g.toOnnx(), Map.of(), Map.of(), Steps.dtypes(g)))) {
      double[] actual = Steps.values(s.run(in, Set.of("w")).get("w"));
      double[] expected = Interpreter.run(g, feeds).get("w").data();
      double d = Steps.relativeDifference(actual, expected);
      assertTrue(d <= 1e-6, "NF4 weights in float32: max relative difference " + d);
    }
  }

  private static double[] bytes(Random rnd, int n) {
    double[] b = new double[n];
    for (int i = 0; i < n; i++) {
      b[i] = rnd.nextInt(256);
    }
    return b;
  }
}
