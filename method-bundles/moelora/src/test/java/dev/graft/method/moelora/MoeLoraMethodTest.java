package dev.graft.method.moelora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.graft.api.Options;
import java.util.Arrays;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** MoELoRA's options and its gate on the host. */
class MoeLoraMethodTest {
  private static IllegalArgumentException refused(Map<String, String> options) {
    return assertThrows(
        IllegalArgumentException.class,
        () -> new MoeLoraMethod().create(Options.parse(MoeLoraMethod.INFO, options)));
  }

  @Test
  void theGateWeightsOfEveryTaskSumToOneAndDifferBetweenTasks() {
    Random random = new Random(5);
    int tasks = 3;
    int n = 4;
    int d = 8;
    float[] embedding = new float[tasks * d];
    float[] gate = new float[n * d];
    for (int i = 0; i < embedding.length; i++) {
      embedding[i] = (float) random.nextGaussian();
    }
    for (int i = 0; i < gate.length; i++) {
      gate[i] = (float) random.nextGaussian();
    }
    double[][] g = new double[tasks][];
    for (int t = 0; t < tasks; t++) {
      g[t] = MoeLora.gate(embedding, gate, t, n, d);
      assertEquals(1.0, Arrays.stream(g[t]).sum(), 1e-12, "task " + t);
    }
    assertNotEquals(Arrays.toString(g[0]), Arrays.toString(g[1]));
  }

  @Test
  void expertsMustDivideTheRank() {
    assertEquals(
        "num_experts must divide r (8), not 3: each expert has rank r / num_experts.",
        refused(Map.of("num_experts", "3")).getMessage());
  }

  @Test
  void anUnknownTaskIsRefusedListingTheKnownOnes() {
    assertEquals(
        "Unknown task \"birds\"; the known tasks are [cats, dogs].",
        refused(Map.of("tasks", "cats,dogs", "task", "birds")).getMessage());
  }

  @Test
  void aTaskNamedTwiceIsRefused() {
    assertEquals(
        "tasks must not repeat a name: [cats, cats].",
        refused(Map.of("tasks", "cats,cats")).getMessage());
  }
}
