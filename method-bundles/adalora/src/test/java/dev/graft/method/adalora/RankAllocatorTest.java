package dev.graft.method.adalora;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.graft.api.Options;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The importance EMAs, the scores and the cubic budget, against plain computations of PEFT's. */
class RankAllocatorTest {
  /** Three layers of rank 12: A (12, 5), E (12, 1), B (7, 12). */
  private static final List<RankAllocator.Triplet> LAYERS =
      List.of(triplet("l0"), triplet("l1"), triplet("l2"));

  private static RankAllocator.Triplet triplet(String m) {
    return new RankAllocator.Triplet(m, m + ".lora_A", m + ".lora_E", m + ".lora_B", 12, 5, 7);
  }

  private static AdaLoraConfig config(Map<String, String> options) {
    return AdaLoraConfig.of(Options.parse(AdaLoraMethod.INFO, options));
  }

  /** Random values for every tensor of {@link #LAYERS}. */
  private static Map<String, float[]> random(Random random) {
    Map<String, float[]> v = new HashMap<>();
    for (RankAllocator.Triplet t : LAYERS) {
      v.put(t.a(), gaussian(random, 12 * 5));
      v.put(t.e(), gaussian(random, 12));
      v.put(t.b(), gaussian(random, 7 * 12));
    }
    return v;
  }

  private static float[] gaussian(Random random, int n) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) random.nextGaussian();
    }
    return v;
  }

  @Test
  void theEmasFollowAPlainLoopOverSteps() {
    RankAllocator allocator = new RankAllocator(LAYERS, config(Map.of("beta1", "0.7")));
    Random random = new Random(3);
    int n = allocator.entries();
    float[] ipt = new float[n];
    float[] unc = new float[n];
    for (int step = 0; step < 3; step++) {
      Map<String, float[]> p = random(random);
      Map<String, float[]> g = random(random);
      allocator.updateImportance(p::get, g::get);
      int i = 0;
      for (RankAllocator.Triplet t : LAYERS) {
        for (String name : List.of(t.a(), t.e(), t.b())) {
          for (int j = 0; j < p.get(name).length; j++, i++) {
            float now = Math.abs(p.get(name)[j] * g.get(name)[j]);
            ipt[i] = 0.7f * ipt[i] + 0.3f * now;
            unc[i] = 0.85f * unc[i] + (float) (1 - 0.85) * Math.abs(now - ipt[i]);
          }
        }
      }
    }
    assertArrayEquals(ipt, allocator.sensitivity(), 1e-7f);
    assertArrayEquals(unc, allocator.uncertainty(), 1e-7f);
  }

  @Test
  void aSingularValuesScoreIsItsOwnPlusTheMeansOverItsRowOfAAndColumnOfB() {
    RankAllocator allocator = new RankAllocator(LAYERS, config(Map.of()));
    Random random = new Random(5);
    Map<String, float[]> p = random(random);
    Map<String, float[]> g = random(random);
    allocator.updateImportance(p::get, g::get);
    float[] s = new float[allocator.entries()];
    for (int i = 0; i < s.length; i++) {
      s[i] = allocator.sensitivity()[i] * allocator.uncertainty()[i];
    }
    // Layer 1, singular value 4: A starts after layer 0 (60 + 12 + 84 entries).
    int a = 156;
    double meanA = 0;
    for (int j = 0; j < 5; j++) {
      meanA += s[a + 4 * 5 + j] / 5.0;
    }
    double meanB = 0;
    for (int o = 0; o < 7; o++) {
      meanB += s[a + 60 + 12 + o * 12 + 4] / 7.0;
    }
    assertEquals(s[a + 60 + 4] + meanA + meanB, allocator.scores()[12 + 4], 1e-6);
  }

  @Test
  void eachAllocationKeepsTheTotalRankPeftsCubicScheduleGives() {
    // 36 singular values in all, target 3 × 4 = 12; total_step 100, tinit 10, tfinal 20.
    AdaLoraConfig c =
        config(
            Map.of(
                "target_r",
                "4",
                "tinit",
                "10",
                "tfinal",
                "20",
                "total_step",
                "100",
                "delta_t",
                "5"));
    for (int step : new int[] {11, 15, 30, 45, 60, 79, 80, 81, 99}) {
      RankAllocator allocator = new RankAllocator(LAYERS, c);
      Random random = new Random(step);
      Map<String, float[]> p = random(random);
      allocator.updateImportance(p::get, random(random)::get);
      // PEFT: int((init_bgt - target_bgt) * (1 - (t - tinit) / (total - tfinal - tinit))**3 +
      // target_bgt)
      double progress = (step - 10) / 70.0;
      int expected = step > 80 ? 12 : (int) Math.floor(24 * Math.pow(1 - progress, 3) + 12);
      RankAllocator.Budget budget = allocator.schedule(step, 100);
      assertEquals(expected, budget.budget(), "budget at step " + step);
      assertEquals(step > 80 || step % 5 == 0, budget.mask(), "allocates at step " + step);
      Map<String, float[]> masked = allocator.maskToBudget(budget.budget(), p::get);
      int kept = 0;
      for (float[] e : masked.values()) {
        for (float v : e) {
          kept += v != 0 ? 1 : 0;
        }
      }
      assertEquals(expected, kept, "singular values kept after step " + step);
    }
  }

  @Test
  void upToTinitNothingIsAllocated() {
    RankAllocator allocator =
        new RankAllocator(LAYERS, config(Map.of("tinit", "10", "total_step", "50")));
    assertEquals(new RankAllocator.Budget(36, false), allocator.schedule(10, 50));
    assertFalse(allocator.allocated(), "no rank pattern before the first allocation");
  }

  @Test
  void theLowestScoresArePrunedAndTheRestKeepTheirValues() {
    RankAllocator allocator = new RankAllocator(LAYERS, config(Map.of()));
    Random random = new Random(11);
    Map<String, float[]> p = random(random);
    allocator.updateImportance(p::get, random(random)::get);
    float[] scores = allocator.scores();
    float[] sorted = scores.clone();
    java.util.Arrays.sort(sorted);
    Map<String, float[]> masked = allocator.maskToBudget(30, p::get);
    for (int t = 0; t < 3; t++) {
      float[] e = masked.get(LAYERS.get(t).e());
      boolean[] kept = allocator.kept(t);
      for (int k = 0; k < 12; k++) {
        boolean low = scores[t * 12 + k] <= sorted[5];
        assertEquals(!low, kept[k]);
        assertEquals(low ? 0f : p.get(LAYERS.get(t).e())[k], e[k]);
      }
    }
    assertTrue(allocator.allocated());
  }
}
