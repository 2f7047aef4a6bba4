package dev.graft.train.step;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class ScheduleTest {
  @Test
  void linearWarmsUpFromZeroThenDecaysToZeroLikeHuggingFace() {
    Schedule s = new Schedule(Schedule.Type.LINEAR, 1e-3, 2, 10);
    // transformers get_linear_schedule_with_warmup(opt, 2, 10): lambdas 0, .5, 1, 7/8, 6/8, …, 1/8
    double[] expected = {
      0, 0.5e-3, 1e-3, 0.875e-3, 0.75e-3, 0.625e-3, 0.5e-3, 0.375e-3, 0.25e-3, 0.125e-3
    };
    for (int i = 0; i < expected.length; i++) {
      assertEquals(expected[i], s.at(i), 1e-15, "step " + i);
    }
  }

  @Test
  void cosineFollowsHalfACosine() {
    Schedule s = new Schedule(Schedule.Type.COSINE, 2.0, 0, 4);
    assertEquals(2.0, s.at(0), 1e-12);
    assertEquals(1 + Math.cos(Math.PI / 4), s.at(1), 1e-12);
    assertEquals(1.0, s.at(2), 1e-12);
    assertEquals(1 + Math.cos(3 * Math.PI / 4), s.at(3), 1e-12);
  }

  @Test
  void constantStaysAfterWarmUp() {
    Schedule s = new Schedule(Schedule.Type.CONSTANT, 0.1, 4, 8);
    assertEquals(0.025, s.at(1), 1e-15);
    assertEquals(0.1, s.at(7), 1e-15);
  }

  @Test
  void warmUpComesFromStepsOrRatio() {
    assertEquals(5, Schedule.warmup(5, 0.5, 100));
    assertEquals(10, Schedule.warmup(0, 0.095, 100));
    assertEquals(0, Schedule.warmup(0, 0, 100));
    assertThrows(
        IllegalArgumentException.class, () -> new Schedule(Schedule.Type.LINEAR, 1, 11, 10));
  }
}
