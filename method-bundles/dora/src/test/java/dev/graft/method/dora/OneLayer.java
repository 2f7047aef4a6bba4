package dev.graft.method.dora;

import dev.graft.api.adapt.LinearSite;
import dev.graft.api.adapt.ModelSpec;
import dev.graft.graph.DType;
import dev.graft.graph.Graph;
import dev.graft.graph.Interpreter;
import dev.graft.graph.NdArray;
import dev.graft.graph.Shape;
import dev.graft.graph.Tensor;
import dev.graft.train.adapt.AdaptableModel;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * One linear layer with a bias, y = x·Wᵀ + b, in float64: Llama's q_proj with W stored (out, in),
 * or GPT-2's c_attn (Conv1D) with W stored (in, out). Weights and the input are random.
 */
final class OneLayer implements AdaptableModel {
  static final int IN = 5;
  static final int OUT = 3;
  static final int ROWS = 4;

  final Graph graph = new Graph();
  final Tensor x = graph.input("x", DType.FLOAT64, Shape.with("batch", IN));
  final LinearSite site;
  final Tensor y;
  final Map<String, float[]> weights = new LinkedHashMap<>();
  final double[] input = new double[ROWS * IN];

  /** Float64 tensors a method computed ({@code Adaptation.frozen}), fed as they are. */
  final Map<String, double[]> frozen = new HashMap<>();

  OneLayer(boolean conv1d, long seed) {
    Random random = new Random(seed);
    String module = conv1d ? "transformer.h.0.attn.c_attn" : "model.layers.0.self_attn.q_proj";
    long[] shape = conv1d ? new long[] {IN, OUT} : new long[] {OUT, IN};
    Tensor w = graph.parameter(module + ".weight", DType.FLOAT64, Shape.of(shape), false);
    Tensor b = graph.parameter(module + ".bias", DType.FLOAT64, Shape.of(OUT), false);
    weights.put(w.name(), gaussian(IN * OUT, random));
    weights.put(b.name(), gaussian(OUT, random));
    y = conv1d ? graph.conv1d(x, w, b) : graph.linear(x, w, b);
    graph.output("y", y);
    site = new LinearSite(module, 0, IN, OUT, w.name(), b.name(), conv1d);
    for (int i = 0; i < input.length; i++) {
      input[i] = random.nextGaussian();
    }
  }

  static float[] gaussian(int n, Random random) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) random.nextGaussian();
    }
    return v;
  }

  /** W as (out, in), whatever the layout it is stored in. */
  double[][] w() {
    float[] w = weights.get(site.weight());
    double[][] m = new double[OUT][IN];
    for (int o = 0; o < OUT; o++) {
      for (int i = 0; i < IN; i++) {
        m[o][i] = site.fanInFanOut() ? w[i * OUT + o] : w[o * IN + i];
      }
    }
    return m;
  }

  /**
   * Runs the graph on the input with the base weights, {@code values} over them, and the {@link
   * #frozen} tensors.
   */
  NdArray run(Map<String, float[]> values, String output) {
    return Interpreter.run(graph, feeds(values)).get(output);
  }

  Map<String, NdArray> feeds(Map<String, float[]> values) {
    Map<String, NdArray> feeds = new HashMap<>();
    feeds.put("x", NdArray.of(DType.FLOAT64, new long[] {ROWS, IN}, input));
    for (Tensor p : graph.parameters()) {
      if (frozen.containsKey(p.name())) {
        feeds.put(p.name(), NdArray.of(DType.FLOAT64, p.shape().sizes(), frozen.get(p.name())));
        continue;
      }
      float[] v = values.getOrDefault(p.name(), weights.get(p.name()));
      double[] d = new double[v.length];
      for (int i = 0; i < v.length; i++) {
        d[i] = v[i];
      }
      feeds.put(p.name(), NdArray.of(DType.FLOAT64, p.shape().sizes(), d));
    }
    return feeds;
  }

  @Override
  public Graph graph() {
    return graph;
  }

  @Override
  public ModelSpec spec() {
    return new ModelSpec(
        site.fanInFanOut() ? "GPT2LMHeadModel" : "LlamaForCausalLM",
        IN,
        1,
        1,
        1,
        IN,
        IN,
        10,
        List.of(site.module()),
        List.of(site.suffix()));
  }

  @Override
  public List<Linear> linears() {
    return List.of(new Linear(site, x, y));
  }

  @Override
  public List<Block> blocks() {
    return List.of();
  }

  @Override
  public float[] weight(String parameter) {
    return weights.get(parameter).clone();
  }
}
