package dev.graft.graph;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.junit.jupiter.api.Test;

/** A tiny causal language model memorises one sequence through repeated runs of its step graph. */
class MemorisationTest {
  private static final DType F = DType.FLOAT64;

  @Test
  void aTinyAttentionModelLearnsASequenceToNearZeroLoss() {
    TestModels.Memoriser task = TestModels.memoriser(F);
    TrainingStep step = task.step();
    Map<String, NdArray> feeds = task.feeds();
    double first = Double.NaN;
    double last = Double.NaN;
    for (int i = 1; i <= 150; i++) {
      feeds.put("step", NdArray.scalar(F, i));
      Map<String, NdArray> out = Interpreter.run(step.graph(), feeds);
      step.carry().forEach((o, name) -> feeds.put(name, out.get(o)));
      last = out.get("loss").item();
      first = i == 1 ? last : first;
    }
    assertTrue(first > 1.5, "starts near ln(7) = 1.95, got " + first);
    assertTrue(last < 0.01, "loss after 150 steps: " + last);
  }
}
