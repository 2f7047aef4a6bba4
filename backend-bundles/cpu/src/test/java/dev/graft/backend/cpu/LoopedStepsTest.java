package dev.graft.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.graft.api.backend.HostTensor;
import dev.graft.api.backend.Session;
import dev.graft.graph.DType;
import dev.graft.graph.NdArray;
import dev.graft.graph.TestModels;
import dev.graft.graph.TrainingStep;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * {@link TrainingStep#toOnnxLoop()}: several optimizer steps in one run compute bit for bit what
 * the same steps compute in single runs.
 */
class LoopedStepsTest {
  private static final CpuBackend BACKEND = Steps.cpu(2);

  @ParameterizedTest
  @EnumSource(names = {"FLOAT32", "FLOAT64"})
  void loopedStepsAreBitIdenticalToSingleRuns(DType f) {
    TrainingStep step = TestModels.tinyTransformer(f);
    Map<String, NdArray> init = TestModels.tinyTransformerFeeds(step.graph(), 2, 4, new Random(3));
    // Accumulation over 2: updates at the 2nd and 4th micro-step.
    List<Map<String, NdArray>> rows = TestModels.tinyTransformerRuns(step, init, 5, new Random(11));

    List<HostTensor> singleLosses = new ArrayList<>();
    Map<String, HostTensor> singleState = new HashMap<>();
    try (Session s = Steps.open(BACKEND, step, step.graph().toOnnx(), init)) {
      for (Map<String, NdArray> row : rows) {
        singleLosses.add(s.run(Steps.perRun(step, row), Set.of("loss")).get("loss"));
      }
      step.carry().values().forEach(in -> singleState.put(in, s.state(in)));
    }

    // The same five steps as a run of 3 and a run of 2: one looped model serves any count.
    List<HostTensor> loopedLosses = new ArrayList<>();
    try (Session s = Steps.open(BACKEND, step, step.toOnnxLoop(), init)) {
      for (List<Map<String, NdArray>> chunk : List.of(rows.subList(0, 3), rows.subList(3, 5))) {
        HostTensor losses = s.run(Steps.stacked(step, chunk), Set.of("loss")).get("loss");
        assertArrayEquals(new long[] {chunk.size()}, losses.shape());
        loopedLosses.add(losses);
      }
      for (String in : step.carry().values()) {
        HostTensor expected = singleState.get(in);
        HostTensor actual = s.state(in);
        assertEquals(
            expected.data(),
            actual.data(),
            () ->
                in
                    + " after 5 steps differs by "
                    + Steps.relativeDifference(Steps.values(actual), Steps.values(expected)));
      }
    }
    double[] single = singleLosses.stream().mapToDouble(t -> Steps.values(t)[0]).toArray();
    double[] looped =
        loopedLosses.stream().flatMapToDouble(t -> Arrays.stream(Steps.values(t))).toArray();
    assertArrayEquals(single, looped, 0, "losses of the 5 steps");
  }
}
