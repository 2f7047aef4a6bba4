package dev.graft.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.graft.api.backend.ComputeBackend;
import dev.graft.api.backend.HostTensor;
import dev.graft.api.backend.Session;
import dev.graft.backend.cpu.CpuBackend;
import dev.graft.backend.cpu.Steps;
import dev.graft.graph.DType;
import dev.graft.graph.NdArray;
import dev.graft.graph.TestModels;
import dev.graft.graph.TrainingStep;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The same training steps on the cuda and cpu backends: the graph module's tiny transformer
 * (symbolic batch and sequence, LoRA, RoPE, masks, dropout, clipping, accumulation, AdamW), six
 * micro-steps: on the cpu backend in single runs, on the cuda backend in single runs and in looped
 * runs of {@value #K} steps. Prints the max relative difference per output ({@code max |cuda - cpu|
 * / max |cpu|}) and checks it against a dtype-dependent bound. Skipped unless the cuda backend is
 * available; tools/cuda-vs-cpu.sh runs it.
 */
@Tag("cuda")
class CudaVsCpuTest {
  private static final int K = 3;
  private static final CudaBackend CUDA = new CudaBackend();
  private static final CpuBackend CPU = Steps.cpu(0);

  @BeforeAll
  static void start() {
    CUDA.configure(CudaBackendTest.config(0, K));
  }

  @BeforeEach
  void requireCuda() {
    assumeTrue(CUDA.availability().available(), CUDA.availability().reason());
  }

  /**
   * float32 on the GPU may run MatMul/Gemm in TF32 (ONNX Runtime's CUDA default), about 1e-3
   * relative, and cuDNN/cuBLAS reduce in other orders than the CPU.
   */
  private static double bound(DType f) {
    return f == DType.FLOAT64 ? 1e-9 : 1e-2;
  }

  /** Per output: the values of each run, concatenated; then the final carried state. */
  private static Map<String, double[]> train(
      ComputeBackend backend, TrainingStep step, Map<String, NdArray> init, boolean looped) {
    List<Map<String, NdArray>> rows =
        TestModels.tinyTransformerRuns(step, init, 2 * K, new Random(11));
    Map<String, List<Double>> perRun = new LinkedHashMap<>();
    byte[] onnx = looped ? step.toOnnxLoop() : step.graph().toOnnx();
    Map<String, double[]> result = new LinkedHashMap<>();
    try (Session s = Steps.open(backend, step, onnx, init)) {
      int perCall = looped ? K : 1;
      for (int i = 0; i < rows.size(); i += perCall) {
        List<Map<String, NdArray>> chunk = rows.subList(i, i + perCall);
        Map<String, HostTensor> feeds =
            looped ? Steps.stacked(step, chunk) : Steps.perRun(step, chunk.get(0));
        for (Map.Entry<String, HostTensor> e :
            s.run(feeds, Set.of("loss", "grad_norm")).entrySet()) {
          for (double v : Steps.values(e.getValue())) {
            perRun.computeIfAbsent(e.getKey(), k -> new ArrayList<>()).add(v);
          }
        }
      }
      perRun.forEach(
          (name, v) -> result.put(name, v.stream().mapToDouble(Double::doubleValue).toArray()));
      for (String in : step.carry().values()) {
        result.put(in, Steps.values(s.state(in)));
      }
    }
    return result;
  }

  private static void compare(DType f, boolean looped) {
    TrainingStep step = TestModels.tinyTransformer(f);
    Map<String, NdArray> init = TestModels.tinyTransformerFeeds(step.graph(), 4, 16, new Random(3));
    Map<String, double[]> cpu = train(CPU, step, init, false);
    Map<String, double[]> cuda = train(CUDA, step, init, looped);
    String mode = looped ? K + " steps per run" : "1 step per run";
    double worst = 0;
    for (Map.Entry<String, double[]> e : cpu.entrySet()) {
      double d = Steps.relativeDifference(cuda.get(e.getKey()), e.getValue());
      worst = Math.max(worst, d);
      System.out.printf(
          "cuda (%s) vs cpu, %s: %-18s max relative difference %.3e%n", mode, f, e.getKey(), d);
    }
    assertTrue(worst <= bound(f), f + ", " + mode + ": max relative difference " + worst);
  }

  @ParameterizedTest
  @EnumSource(names = {"FLOAT32", "FLOAT64"})
  void singleStepsOnCudaMatchTheCpuBackend(DType f) {
    compare(f, false);
  }

  @ParameterizedTest
  @EnumSource(names = {"FLOAT32", "FLOAT64"})
  void loopedStepsOnCudaMatchSingleStepsOnTheCpuBackend(DType f) {
    compare(f, true);
  }
}
