package dev.graft.conformance;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What QLoRA users care about, on stories260K: the NF4 base (double-quantised scales) computes the
 * loss of the float32 base within 2 %, and LoRA (r 8, all-linear, learning rate 3e-3) trained on it
 * for the same 20 steps, from the same seed, reaches a loss within 2 % of LoRA trained on the
 * float32 base. The first step's loss is the base model's (B starts at zero).
 */
@Tag("slow")
class QloraQualityTest {
  private static final int STEPS = 20;

  @TempDir Path dir;

  @Test
  void loraOnTheNf4BaseLosesAndLearnsWithinTwoPercentOfTheFloat32Base() throws Exception {
    Map<String, String> spec = Fixtures.spec(dir, "lora", STEPS);
    spec.put("lora.target_modules", "all-linear");
    // At 1e-2 both memorise the eight stories to a loss near 0.24 in 30 steps, where a 2 % gap is
    // 0.005 nats (measured: fp32 0.2401, NF4 0.2347); 3e-3 compares them while they still learn.
    spec.put("learning_rate", "3e-3");
    List<Double> fp32 = GoldenCurveTest.losses(spec, STEPS);
    spec.put("method", "qlora");
    List<Double> nf4 = GoldenCurveTest.losses(spec, STEPS);
    double start = relative(nf4.get(0), fp32.get(0));
    double end = relative(last(nf4), last(fp32));
    System.out.printf(
        "QLoRA quality: base loss fp32 %.4f nf4 %.4f (%.2f %%); after %d steps fp32 %.4f nf4 %.4f"
            + " (%.2f %%)%n",
        fp32.get(0), nf4.get(0), 100 * start, STEPS, last(fp32), last(nf4), 100 * end);
    assertTrue(start < 0.02, "base loss " + nf4.get(0) + " vs " + fp32.get(0));
    assertTrue(end < 0.02, "trained loss " + last(nf4) + " vs " + last(fp32));
    assertTrue(last(nf4) < nf4.get(0) - 0.1, "LoRA learns on the NF4 base: " + nf4);
  }

  /** The mean of the last three steps' losses (one batch alone is noisy). */
  private static double last(List<Double> losses) {
    return losses.subList(losses.size() - 3, losses.size()).stream()
        .mapToDouble(Double::doubleValue)
        .average()
        .orElseThrow();
  }

  private static double relative(double a, double b) {
    return Math.abs(a - b) / b;
  }
}
