package dev.graft.api.adapt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class TargetSpecTest {
  @Test
  void targetModulesAreReadLikePeftReadsThem() {
    assertEquals(TargetSpec.Kind.DEFAULT, TargetSpec.parse(List.of()).kind());
    assertEquals(TargetSpec.Kind.ALL_LINEAR, TargetSpec.parse(List.of("all-linear")).kind());
    assertEquals(TargetSpec.Kind.REGEX, TargetSpec.parse(List.of(".*\\.(q|v)_proj")).kind());
    assertEquals(TargetSpec.Kind.SUFFIXES, TargetSpec.parse(List.of("q_proj", "v_proj")).kind());
  }

  @Test
  void peftSavesARegexAsGivenAndOtherwiseTheSuffixesAdapted() {
    List<LinearSite> adapted =
        List.of(
            new LinearSite("model.layers.1.self_attn.v_proj", 1, 8, 8, "v1", null, false),
            new LinearSite("model.layers.0.self_attn.v_proj", 0, 8, 8, "v0", null, false),
            new LinearSite("model.layers.0.mlp.down_proj", 0, 16, 8, "d0", null, false));
    assertEquals(
        List.of("down_proj", "v_proj"),
        TargetSpec.parse(List.of("all-linear")).savedTargetModules(adapted));
    assertEquals(
        List.of("down_proj", "v_proj"), TargetSpec.parse(List.of()).savedTargetModules(adapted));
    assertEquals(
        ".*\\.(v|down)_proj",
        TargetSpec.parse(List.of(".*\\.(v|down)_proj")).savedTargetModules(adapted));
  }

  @Test
  void aRegexSpecTakesOnePattern() {
    assertThrows(
        IllegalArgumentException.class,
        () -> new TargetSpec(TargetSpec.Kind.REGEX, List.of("a", "b"), List.of(), List.of()));
  }

  @Test
  void kaimingUniformStaysWithinItsBound() {
    float[] values = new float[4 * 100];
    Init.kaimingUniform(Math.sqrt(5)).fill(values, new long[] {4, 100}, new Random(1));
    double bound = Math.sqrt(6.0 / (6 * 100)); // sqrt(6 / ((1 + 5) · fan_in)) = 1/sqrt(fan_in)
    double max = 0;
    for (float v : values) {
      max = Math.max(max, Math.abs(v));
    }
    assertEquals(0.1, bound, 1e-12);
    assertEquals(true, max <= bound && max > 0.9 * bound, "max |w| = " + max + ", bound " + bound);
  }

  @Test
  void explicitInitialValuesMustMatchTheParameterSize() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> Init.of(new float[3]).fill(new float[4], new long[] {2, 2}, new Random()));
    assertEquals("Initial values have 3 elements but the parameter [2, 2] has 4.", e.getMessage());
  }

  @Test
  void theSuffixIsTheLastPathSegment() {
    LinearSite site =
        new LinearSite("model.layers.3.self_attn.q_proj", 3, 64, 64, "w", null, false);
    assertEquals("q_proj", site.suffix());
  }
}
