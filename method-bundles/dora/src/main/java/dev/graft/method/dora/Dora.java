package dev.graft.method.dora;

import dev.graft.api.adapt.Adaptation;
import dev.graft.api.adapt.Init;
import dev.graft.api.adapt.LinearSite;
import dev.graft.api.adapt.WeightEditor;
import dev.graft.api.backend.HostTensor;
import dev.graft.graph.DType;
import dev.graft.graph.GraphOps;
import dev.graft.graph.Tensor;
import dev.graft.method.lora.spi.Lora;
import dev.graft.method.lora.spi.LoraConfig;
import java.util.Map;

/**
 * DoRA (Liu et al. 2024): {@code W' = m · (W + s·B·A) / ‖W + s·B·A‖}, the norm taken per output row
 * and treated as a constant in the backward (paper §4.3), m trained from {@code m = ‖W‖} (B = 0).
 * As PEFT's {@code DoraLinearLayer}, the layer's output is
 *
 * <pre>
 *   y = base + (f − 1) · (W·x) + f · s·B·A·x,   f = m / stopGradient(‖W + s·B·A‖)
 * </pre>
 *
 * where W·x is the base output without its bias, or, while dropout is active, W·dropout(x) computed
 * again and fed to A too. The row norm materialises W + s·B·A (out, in) per layer per step, as PEFT
 * does. Its expansion ‖W_o‖² + 2s·(W·Aᵀ)_o·B_o + s²·B_o·(A·Aᵀ)·B_oᵀ, with ‖W_o‖² computed once as a
 * frozen tensor, does the same GEMM work (out·in·r) without the (out, in) temporaries, but measured
 * slower on ONNX Runtime's CPU provider (bench/README.md: a DoRA step cost 1.01× LoRA's
 * materialised, 1.13× expanded, each against PyTorch's DoRA in the same run); it is kept, tested
 * equal, behind the JVM property {@value DoraMethod#EXPAND}.
 *
 * <p>The adapter is PEFT's: LoRA's A and B plus {@code <module>.lora_magnitude_vector} (out), with
 * {@code use_dora: true}. Merging writes {@code W' = m·(W + s·B·A)/‖W + s·B·A‖}; unmerging is
 * refused, because W' keeps the direction and the magnitude but not the norm it was divided by.
 */
final class Dora extends Lora {
  /** The magnitude vector's name under its module, as PEFT saves it. */
  static final String MAGNITUDE = "lora_magnitude_vector";

  private final boolean expand;

  /**
   * @param expand compute the row norm from its expansion rather than from W + s·B·A itself (kept
   *     to measure and test one against the other)
   */
  Dora(LoraConfig config, boolean expand) {
    super(config);
    this.expand = expand;
  }

  @Override
  protected Tensor output(Adaptation adaptation, Site site, Tensor x, Tensor base) {
    GraphOps g = adaptation.graph();
    LinearSite layer = site.site();
    Tensor w = adaptation.weightTensor(layer.weight()); // (out, in), or (in, out) fan_in_fan_out
    double[] squares = rowSquares(adaptation.weight(layer.weight()), layer);
    float[] norms = new float[squares.length];
    for (int o = 0; o < norms.length; o++) {
      norms[o] = (float) Math.sqrt(squares[o]);
    }
    // B = 0 at the start, so m = ‖W + s·B·A‖ = ‖W‖.
    Tensor m =
        adaptation.parameter(
            layer.module(), MAGNITUDE, new long[] {layer.outFeatures()}, Init.of(norms), true);
    Tensor norm =
        expand
            ? expandedNorm(g, site, w, squares(adaptation, site, w, squares))
            : materialisedNorm(g, site, w);
    Tensor f = g.div(m, g.stopGradient(norm)); // (out)

    Tensor dropped = adaptation.dropout(x, config().dropout());
    Tensor plain; // W·x without the bias, (…, out)
    if (dropped != x) {
      plain = layer.fanInFanOut() ? g.conv1d(dropped, w, null) : g.linear(dropped, w, null);
    } else {
      plain = layer.bias() == null ? base : g.sub(base, adaptation.weightTensor(layer.bias()));
    }
    Tensor lora = update(g, site, dropped); // s·B·A·x, (…, out)
    return g.add(base, g.add(g.mul(g.add(f, -1), plain), g.mul(f, lora)));
  }

  /** ‖W_o + s(BA)_o‖ from ‖W_o‖², W·Aᵀ and A·Aᵀ, with no gradient to A or B. (out) */
  private Tensor expandedNorm(GraphOps g, Site site, Tensor w, Tensor squares) {
    Tensor a = g.stopGradient(a(site)); // (r, in)
    Tensor b = g.stopGradient(b(site)); // (out, r)
    Tensor aw =
        site.site().fanInFanOut()
            ? g.matmul(a, w) // (r, in)·(in, out)
            : g.gemm(a, w, null, false, true); // (r, in)·(out, in)ᵀ → (r, out)
    Tensor cross = g.reduceSum(g.mul(g.transposeLast2(b), aw), false, 0); // (out)
    Tensor gram = g.gemm(a, a, null, false, true); // (r, r)
    Tensor quad = g.reduceSum(g.mul(g.matmul(b, gram), b), false, 1); // (out)
    double s = site.scale();
    Tensor squared = g.add(squares, g.add(g.mul(cross, 2 * s), g.mul(quad, s * s)));
    return g.sqrt(g.clip(squared, 0, Float.MAX_VALUE));
  }

  /** ‖W_o + s(BA)_o‖ from W + s·B·A itself, with no gradient to A or B. (out) */
  private Tensor materialisedNorm(GraphOps g, Site site, Tensor w) {
    Tensor a = g.stopGradient(a(site)); // (r, in)
    Tensor b = g.stopGradient(b(site)); // (out, r)
    boolean transposed = site.site().fanInFanOut();
    Tensor ba = transposed ? g.gemm(a, b, null, true, true) : g.matmul(b, a); // as W is stored
    Tensor v = g.add(w, g.mul(ba, site.scale()));
    return g.sqrt(g.reduceSum(g.mul(v, v), false, transposed ? 0 : 1));
  }

  /** ‖W_o‖² as a frozen tensor of W's dtype (out). */
  private static Tensor squares(Adaptation adaptation, Site site, Tensor w, double[] squares) {
    long[] shape = {squares.length};
    boolean wide = w.dtype() == DType.FLOAT64;
    Tensor t =
        adaptation.frozen(
            site.site().module(),
            "dora_weight_sq_norm",
            wide
                ? HostTensor.ofDoubles(shape, squares)
                : HostTensor.ofFloats(shape, floats(squares)));
    return t.dtype() == w.dtype() ? t : adaptation.graph().cast(t, w.dtype());
  }

  /** Σ_i W_oi² per output row o, in double, whatever the layout W is stored in. */
  private static double[] rowSquares(float[] w, LinearSite layer) {
    int in = layer.inFeatures();
    int out = layer.outFeatures();
    double[] squares = new double[out];
    for (int o = 0; o < out; o++) {
      for (int i = 0; i < in; i++) {
        double v = layer.fanInFanOut() ? w[i * out + o] : w[o * in + i];
        squares[o] += v * v;
      }
    }
    return squares;
  }

  private static float[] floats(double[] v) {
    float[] f = new float[v.length];
    for (int i = 0; i < v.length; i++) {
      f[i] = (float) v[i];
    }
    return f;
  }

  @Override
  protected void addAdapterConfig(Map<String, Object> config) {
    config.put("use_dora", true);
  }

  /** W' = m · (W + s·B·A) / ‖W + s·B·A‖ per output row. */
  @Override
  protected float[] mergedWeight(WeightEditor weights, Site site, float[] delta, boolean merge) {
    if (!merge) {
      throw new IllegalStateException(
          "A DoRA adapter cannot be taken back out of merged weights: each merged row"
              + " m·(W + s·B·A)/‖W + s·B·A‖ no longer holds the norm it was divided by; merge"
              + " the adapter into the base model again instead.");
    }
    float[] w = rows(weights.read(site.site().weight()), site); // (out, in)
    float[] m = weights.read(site.site().module() + "." + MAGNITUDE);
    int in = site.site().inFeatures();
    for (int o = 0; o < m.length; o++) {
      double squares = 0;
      for (int i = o * in; i < (o + 1) * in; i++) {
        double v = (double) w[i] + delta[i];
        squares += v * v;
      }
      double factor = m[o] / Math.sqrt(squares);
      for (int i = o * in; i < (o + 1) * in; i++) {
        w[i] = (float) (factor * ((double) w[i] + delta[i]));
      }
    }
    return w;
  }
}
