package dev.graft.train.adapt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.graft.api.adapt.Init;
import dev.graft.api.adapt.InsertionPoint;
import dev.graft.api.adapt.SampleFormat;
import dev.graft.api.backend.HostTensor;
import dev.graft.graph.DType;
import dev.graft.graph.Graph;
import dev.graft.graph.Interpreter;
import dev.graft.graph.NdArray;
import dev.graft.graph.Shape;
import dev.graft.graph.Tensor;
import java.util.List;
import java.util.Map;
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
  void aReplacedWeightDoesNotTrainAndATrainedOneIsNotReplaced() {
    GraphAdaptation first = new GraphAdaptation(twoWeights(), true, DType.FLOAT32);
    first.adapting("quantises");
    Tensor codes = first.frozen("", "codes", HostTensor.ofFloats(new long[] {2, 2}, 1, 2, 3, 4));
    first.replaceWeight("w", first.graph().mul(codes, first.graph().scalar(2, DType.FLOAT32)));
    first.adapting("full");
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> first.setTrainable(p -> true, true));
    assertEquals(
        "Method \"full\" cannot train \"w\": method \"quantises\" replaced it by a weight it"
            + " computes; use one of the two.",
        e.getMessage());
    assertEquals(1, first.setTrainable(p -> !p.equals("w"), true), "b; the constant stays frozen");
    assertEquals(List.of("b"), first.tensorsOf("full"));

    GraphAdaptation second = new GraphAdaptation(twoWeights(), true, DType.FLOAT32);
    second.adapting("full");
    second.setTrainable(p -> true, true);
    second.adapting("quantises");
    Tensor w =
        second.graph().mul(second.graph().tensor("w"), second.graph().scalar(1, DType.FLOAT32));
    e = assertThrows(IllegalArgumentException.class, () -> second.replaceWeight("w", w));
    assertEquals(
        "Method \"quantises\" cannot replace \"w\": method \"full\" trains it, and a replaced"
            + " weight cannot train; use one of the two.",
        e.getMessage());
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

  /** One block over h (2): a = tanh(h), s = h + a, m = sigmoid(s), out = s + m. */
  private static final class OneBlock {
    final Graph graph = new Graph();
    final Tensor h = graph.input("h", DType.FLOAT64, Shape.of(2));
    final Tensor a = graph.tanh(h);
    final Tensor s = graph.add(h, a);
    final Tensor m = graph.sigmoid(s);

    OneBlock() {
      graph.output("out", graph.add(s, m));
    }

    double[] out() {
      return Interpreter.run(graph, Map.of("h", NdArray.of(DType.FLOAT64, new long[] {2}, 0.5, -1)))
          .get("out")
          .data();
    }
  }

  @Test
  void anInsertionWithTheResidualGetsTheStreamItsBranchIsAddedTo() {
    OneBlock b = new OneBlock();
    double[] before = b.out();
    GraphAdaptation adaptation =
        new GraphAdaptation(
            new GraphOnly(b.graph, List.of(new AdaptableModel.Block(0, b.a, b.m, b.h, b.s))),
            true,
            DType.FLOAT64);
    Tensor[] seen = new Tensor[2];
    adaptation.insert(
        InsertionPoint.AFTER_MLP,
        0,
        (branch, residual) -> {
          seen[0] = branch;
          seen[1] = residual;
          return b.graph.add(branch, residual); // m + s
        });
    assertSame(b.m, seen[0]);
    assertSame(b.s, seen[1]);
    double[] after = b.out();
    double[] h = {0.5, -1};
    for (int i = 0; i < 2; i++) {
      double s = h[i] + Math.tanh(h[i]);
      assertEquals(before[i] + s, after[i], 1e-12, "out = s + (m + s) = before + s");
    }
  }

  @Test
  void anInsertionThatNeedsTheResidualIsRefusedWhereTheModelDoesNotGiveIt() {
    OneBlock b = new OneBlock();
    GraphAdaptation adaptation =
        new GraphAdaptation(
            new GraphOnly(b.graph, List.of(new AdaptableModel.Block(0, b.a, b.m))),
            true,
            DType.FLOAT64);
    assertThrows(
        IllegalArgumentException.class,
        () -> adaptation.insert(InsertionPoint.AFTER_ATTENTION, 0, (x, r) -> x));
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
  private record GraphOnly(Graph graph, List<Block> blocks) implements AdaptableModel {
    GraphOnly(Graph graph) {
      this(graph, List.of());
    }

    @Override
    public dev.graft.api.adapt.ModelSpec spec() {
      throw new UnsupportedOperationException();
    }

    @Override
    public List<Linear> linears() {
      return List.of();
    }

    @Override
    public float[] weight(String parameter) {
      throw new UnsupportedOperationException();
    }
  }
}
