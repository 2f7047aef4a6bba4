package dev.graft.train.adapt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.graft.api.adapt.SampleFormat;
import dev.graft.graph.DType;
import java.util.List;
import org.junit.jupiter.api.Test;

class GraphAdaptationTest {
  @Test
  void twoMethodsThatBothFormatSamplesAreAClearError() {
    GraphAdaptation adaptation = new GraphAdaptation(null, true, DType.FLOAT32);
    SampleFormat format = (sample, context) -> List.of();
    adaptation.adapting("instruction-tuning");
    adaptation.sampleFormat(format);
    adaptation.adapting("dpo");
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> adaptation.sampleFormat(format));
    assertEquals(
        "Methods instruction-tuning and dpo both set how samples are formatted; combine at most"
            + " one of them.",
        e.getMessage());
    assertSame(format, adaptation.sampleFormat());
    assertEquals("instruction-tuning", adaptation.sampleFormatOwner());
  }

  @Test
  void anInputIsAPerTokenInt64Column() {
    GraphAdaptation adaptation =
        new GraphAdaptation(new GraphOnly(new dev.graft.graph.Graph()), true, DType.FLOAT32);
    dev.graft.graph.Tensor task = adaptation.input("task_id");
    assertEquals(DType.INT64, task.dtype());
    assertEquals(dev.graft.graph.Shape.with("batch", "seq"), task.shape());
    assertSame(task, adaptation.input("task_id"), "asked twice, declared once");
  }

  @Test
  void aStepHookTheRunDoesNotRunStopsTheJobNamingTheMethod() {
    GraphAdaptation adaptation = new GraphAdaptation(null, true, DType.FLOAT32);
    adaptation.adapting("adalora");
    adaptation.onStep(context -> {});
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> adaptation.refuse(java.util.Set.of("onStep"), "supervised fine-tuning"));
    assertEquals(
        "Method adalora uses Adaptation.onStep, which supervised fine-tuning does not run yet;"
            + " train without that method.",
        e.getMessage());
  }

  /** A model that is only a graph, for sites that need nothing else. */
  private record GraphOnly(dev.graft.graph.Graph graph) implements AdaptableModel {
    @Override
    public dev.graft.api.adapt.ModelSpec spec() {
      throw new UnsupportedOperationException();
    }

    @Override
    public List<Linear> linears() {
      return List.of();
    }

    @Override
    public List<Block> blocks() {
      return List.of();
    }

    @Override
    public float[] weight(String parameter) {
      throw new UnsupportedOperationException();
    }
  }
}
