package dev.graft.method.dora;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.graft.api.Options;
import dev.graft.api.adapt.WeightEditor;
import dev.graft.graph.DType;
import dev.graft.graph.Graph;
import dev.graft.graph.Interpreter;
import dev.graft.graph.NdArray;
import dev.graft.graph.Shape;
import dev.graft.graph.Tensor;
import dev.graft.method.lora.spi.LoraConfig;
import dev.graft.method.lora.spi.LoraOptions;
import dev.graft.train.adapt.GraphAdaptation;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * DoRA on one linear layer (W stored (out, in), or (in, out) as GPT-2's Conv1D), through the
 * platform's Adaptation and the reference interpreter in float64, against the paper's formula
 * computed here by hand.
 */
class DoraTest {
  private static final int R = 2;
  private static final double ALPHA = 3;
  private static final double S = ALPHA / R;

  private static Dora dora(boolean expand) {
    return new Dora(
        LoraConfig.of(
            Options.parse(DoraMethod.INFO, Map.of("r", Integer.toString(R), "lora_alpha", "3"))),
        expand);
  }

  private record Adapted(OneLayer layer, Dora dora, GraphAdaptation adaptation) {
    String name(String tensor) {
      return layer.site.module() + "." + tensor;
    }
  }

  private static Adapted adapt(boolean conv1d, boolean expand, boolean training) {
    OneLayer layer = new OneLayer(conv1d, 7);
    GraphAdaptation a = new GraphAdaptation(layer, training, DType.FLOAT64);
    Dora dora = dora(expand);
    dora.adapt(a);
    a.frozenTensors().forEach((k, v) -> layer.frozen.put(k, v.doubles()));
    return new Adapted(layer, dora, a);
  }

  /** Random A, B and m over the layer's declared initial values. */
  private static Map<String, float[]> trained(Adapted t) {
    Map<String, float[]> values = new HashMap<>(t.adaptation.initialValues(1));
    Random random = new Random(11);
    values.replaceAll((k, v) -> OneLayer.gaussian(v.length, random));
    return values;
  }

  /** y = m/‖W + s·B·A‖ ⊙ ((W + s·B·A)·x) + b per row of the input, in double. */
  private static double[] expected(Adapted t, Map<String, float[]> v) {
    double[][] w = t.layer.w();
    float[] a = v.get(t.name("lora_A.weight"));
    float[] b = v.get(t.name("lora_B.weight"));
    float[] m = v.get(t.name(Dora.MAGNITUDE));
    float[] bias = t.layer.weights.get(t.layer.site.bias());
    int in = OneLayer.IN;
    int out = OneLayer.OUT;
    double[] y = new double[OneLayer.ROWS * out];
    for (int o = 0; o < out; o++) {
      double[] row = new double[in];
      double norm = 0;
      for (int i = 0; i < in; i++) {
        double ba = 0;
        for (int k = 0; k < R; k++) {
          ba += (double) b[o * R + k] * a[k * in + i];
        }
        row[i] = w[o][i] + S * ba;
        norm += row[i] * row[i];
      }
      for (int n = 0; n < OneLayer.ROWS; n++) {
        double dot = 0;
        for (int i = 0; i < in; i++) {
          dot += row[i] * t.layer.input[n * in + i];
        }
        y[n * out + o] = m[o] / Math.sqrt(norm) * dot + bias[o];
      }
    }
    return y;
  }

  @ParameterizedTest(name = "conv1d={0}")
  @ValueSource(booleans = {false, true})
  void theOutputIsTheMagnitudeTimesTheUnitDirectionOfTheAdaptedWeightPlusTheBias(boolean conv1d) {
    Adapted t = adapt(conv1d, false, false);
    Map<String, float[]> v = trained(t);
    assertArrayEquals(expected(t, v), t.layer.run(v, "y").data(), 1e-9);
  }

  @ParameterizedTest(name = "conv1d={0}")
  @ValueSource(booleans = {false, true})
  void theExpandedRowNormEqualsTheMaterialisedOne(boolean conv1d) {
    Adapted expanded = adapt(conv1d, true, false);
    Adapted materialised = adapt(conv1d, false, false);
    Map<String, float[]> v = trained(expanded);
    assertArrayEquals(
        materialised.layer.run(v, "y").data(), expanded.layer.run(v, "y").data(), 1e-9);
  }

  @ParameterizedTest(name = "conv1d={0}")
  @ValueSource(booleans = {false, true})
  void atInitialisationTheMagnitudeIsTheRowNormOfWAndTheOutputIsTheBase(boolean conv1d) {
    Adapted t = adapt(conv1d, false, false);
    Map<String, float[]> init = new HashMap<>(t.adaptation.initialValues(1));
    double[][] w = t.layer.w();
    float[] m = init.get(t.name(Dora.MAGNITUDE));
    for (int o = 0; o < OneLayer.OUT; o++) {
      double norm = 0;
      for (double x : w[o]) {
        norm += x * x;
      }
      assertEquals(Math.sqrt(norm), m[o], 1e-6);
    }
    double[] base = new OneLayer(conv1d, 7).run(Map.of(), "y").data();
    assertArrayEquals(base, t.layer.run(init, "y").data(), 1e-6);
  }

  /**
   * The norm is a constant to the backward (paper §4.3): for the loss Σ y⊙T the gradient of B is
   * s·Σ_n (f⊙T_n) ⊗ (A·x_n) with f = m/‖W + s·B·A‖ held fixed.
   */
  @ParameterizedTest(name = "conv1d={0}")
  @ValueSource(booleans = {false, true})
  void noGradientFlowsThroughTheRowNorm(boolean conv1d) {
    assertNoGradientThroughTheNorm(conv1d, false);
  }

  @ParameterizedTest(name = "conv1d={0}")
  @ValueSource(booleans = {false, true})
  void noGradientFlowsThroughTheExpandedRowNorm(boolean conv1d) {
    assertNoGradientThroughTheNorm(conv1d, true);
  }

  private static void assertNoGradientThroughTheNorm(boolean conv1d, boolean expand) {
    Adapted t = adapt(conv1d, expand, true);
    Map<String, float[]> v = trained(t);
    Graph g = t.layer.graph;
    Tensor target = g.input("target", DType.FLOAT64, Shape.with("batch", OneLayer.OUT));
    Tensor loss = g.reduceSum(g.mul(g.outputs().get("y"), target), false, 0, 1);
    Tensor b = g.tensor(t.name("lora_B.weight"));
    g.output("dB", g.gradients(loss).get(b));
    double[] targets = new double[OneLayer.ROWS * OneLayer.OUT];
    Random random = new Random(5);
    for (int i = 0; i < targets.length; i++) {
      targets[i] = random.nextGaussian();
    }
    Map<String, NdArray> feeds = t.layer.feeds(v);
    feeds.put(
        "target", NdArray.of(DType.FLOAT64, new long[] {OneLayer.ROWS, OneLayer.OUT}, targets));
    double[] dB = Interpreter.run(g, feeds).get("dB").data();

    double[][] w = t.layer.w();
    float[] a = v.get(t.name("lora_A.weight"));
    float[] bv = v.get(t.name("lora_B.weight"));
    float[] m = v.get(t.name(Dora.MAGNITUDE));
    int in = OneLayer.IN;
    double[] expected = new double[OneLayer.OUT * R];
    for (int o = 0; o < OneLayer.OUT; o++) {
      double norm = 0;
      for (int i = 0; i < in; i++) {
        double ba = 0;
        for (int k = 0; k < R; k++) {
          ba += (double) bv[o * R + k] * a[k * in + i];
        }
        norm += Math.pow(w[o][i] + S * ba, 2);
      }
      double f = m[o] / Math.sqrt(norm);
      for (int n = 0; n < OneLayer.ROWS; n++) {
        for (int k = 0; k < R; k++) {
          double ax = 0;
          for (int i = 0; i < in; i++) {
            ax += a[k * in + i] * t.layer.input[n * in + i];
          }
          expected[o * R + k] += S * f * targets[n * OneLayer.OUT + o] * ax;
        }
      }
    }
    assertArrayEquals(expected, dB, 1e-9);
  }

  @ParameterizedTest(name = "conv1d={0}")
  @ValueSource(booleans = {false, true})
  void mergingGivesTheUnmergedOutput(boolean conv1d) {
    Adapted t = adapt(conv1d, false, false);
    Map<String, float[]> v = trained(t);
    double[] unmerged = t.layer.run(v, "y").data();
    Map<String, float[]> values = new HashMap<>(t.layer.weights);
    values.putAll(v);
    t.dora.merge(editor(values, t));
    OneLayer plain = new OneLayer(conv1d, 7);
    double[] merged =
        plain.run(Map.of(t.layer.site.weight(), values.get(t.layer.site.weight())), "y").data();
    assertArrayEquals(unmerged, merged, 1e-5);
  }

  @ParameterizedTest(name = "conv1d={0}")
  @ValueSource(booleans = {false, true})
  void unmergingIsRefusedWithTheReason(boolean conv1d) {
    Adapted t = adapt(conv1d, false, false);
    Map<String, float[]> values = new HashMap<>(t.layer.weights);
    values.putAll(trained(t));
    IllegalStateException e =
        assertThrows(IllegalStateException.class, () -> t.dora.unmerge(editor(values, t)));
    assertTrue(e.getMessage().contains("no longer holds the norm"), e.getMessage());
  }

  @ParameterizedTest(name = "conv1d={0}")
  @ValueSource(booleans = {false, true})
  void theAdapterIsPeftsLoraWithUseDoraAndTheMagnitudeVector(boolean conv1d) {
    Adapted t = adapt(conv1d, false, true);
    assertEquals(true, t.dora.adapterConfig().get("use_dora"));
    assertEquals(conv1d, t.dora.adapterConfig().get("fan_in_fan_out"));
    assertEquals(
        List.of(t.name("lora_A.weight"), t.name("lora_B.weight"), t.name(Dora.MAGNITUDE)),
        List.copyOf(t.adaptation.declared()));
    assertEquals(
        List.of(t.name("lora_A.weight"), t.name("lora_B.weight"), t.name(Dora.MAGNITUDE)),
        t.adaptation.tensorsOf("a method"));
  }

  @org.junit.jupiter.api.Test
  void theOptionsAreLoras() {
    assertEquals(LoraOptions.OPTIONS, DoraMethod.INFO.options());
  }

  private static WeightEditor editor(Map<String, float[]> values, Adapted t) {
    return new WeightEditor() {
      @Override
      public float[] read(String p) {
        return values.get(p).clone();
      }

      @Override
      public long[] shape(String p) {
        return t.layer.graph.tensor(p).shape().sizes();
      }

      @Override
      public void write(String p, float[] w) {
        values.put(p, w);
      }
    };
  }
}
