package dev.graft.train.adapt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.graft.api.adapt.Init;
import dev.graft.api.adapt.SampleFormat;
import dev.graft.api.backend.HostTensor;
import dev.graft.graph.DType;
import dev.graft.graph.Graph;
import dev.graft.graph.Shape;
import java.util.List;
import org.junit.jupiter.api.Test;

class GraphAdaptationTest {
  /** A model that is only a graph with two frozen weights. */
  private static AdaptableModel twoWeights() {
    Graph graph = new Graph();
    graph.parameter("w", DType.FLOAT32, Shape.of(2, 2), false);
    graph.parameter("b", DType.FLOAT32, Shape.of(2), false);
    return new GraphOnly(graph);
  }

  @Test
  void frozenValuesAreDroppedOnceTheBackendHoldsThemAndAreNoMethodsToSave() {
    GraphAdaptation adaptation = new GraphAdaptation(twoWeights(), true, DType.FLOAT32);
    adaptation.adapting("quantises");
    adaptation.frozen("", "codes", HostTensor.ofLongs(new long[] {2}, 3, 4));
    adaptation.state("", "mask", HostTensor.ofFloats(new long[] {2}, 1, 1));
    assertEquals(List.of("codes"), List.copyOf(adaptation.frozenTensors().keySet()));
    assertEquals(List.of("mask"), adaptation.tensorsOf("quantises"), "state is saved, codes not");
    adaptation.releaseFrozenValues();
    assertEquals(0, adaptation.frozenTensors().size());
    assertThrows(
        IllegalArgumentException.class,
        () -> adaptation.frozen("", "codes", HostTensor.ofLongs(new long[] {2}, 3, 4)),
        "the name stays taken");
  }

  @Test
  void eachMethodOwnsWhatItDeclaredOrUnfrozeFirst() {
    GraphAdaptation adaptation = new GraphAdaptation(twoWeights(), true, DType.FLOAT32);
    adaptation.adapting("adds");
    adaptation.parameter("", "new", new long[] {2}, Init.zeros(), false);
    adaptation.setTrainable("b"::equals, true);
    adaptation.adapting("unfreezes");
    adaptation.setTrainable(p -> true, true);
    assertEquals(List.of("new", "b"), adaptation.tensorsOf("adds"), "frozen declared ones too");
    assertEquals(List.of("w"), adaptation.tensorsOf("unfreezes"), "b was claimed first");
  }

  @Test
  void aModelWeightFrozenAgainBelongsToNoMethod() {
    GraphAdaptation adaptation = new GraphAdaptation(twoWeights(), true, DType.FLOAT32);
    adaptation.adapting("m");
    adaptation.setTrainable(p -> true, true);
    adaptation.setTrainable("w"::equals, false);
    assertEquals(List.of("b"), adaptation.tensorsOf("m"));
  }

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
        new GraphAdaptation(new GraphOnly(new Graph()), true, DType.FLOAT32);
    dev.graft.graph.Tensor task = adaptation.input("task_id");
    assertEquals(DType.INT64, task.dtype());
    assertEquals(dev.graft.graph.Shape.with("batch", "seq"), task.shape());
    assertSame(task, adaptation.input("task_id"), "asked twice, declared once");
  }

  @Test
  void tensorFindsParametersAndStateByNameAndRefusesOtherNames() {
    GraphAdaptation adaptation = new GraphAdaptation(twoWeights(), true, DType.FLOAT32);
    dev.graft.graph.Tensor a = adaptation.parameter("m", "a", new long[] {2}, Init.zeros(), true);
    dev.graft.graph.Tensor mask =
        adaptation.state("m", "mask", HostTensor.ofFloats(new long[] {2}, 1, 1));
    assertSame(a, adaptation.tensor("m.a"));
    assertSame(mask, adaptation.tensor("m.mask"));
    assertEquals("w", adaptation.tensor("w").name(), "the model's own weights too");
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> adaptation.tensor("m.b"));
    assertEquals(
        "The graph has no parameter or state \"m.b\"; see Adaptation.parameters().",
        e.getMessage());
  }

  /** A model that is only a graph, for sites that need nothing else. */
  private record GraphOnly(Graph graph) implements AdaptableModel {
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
