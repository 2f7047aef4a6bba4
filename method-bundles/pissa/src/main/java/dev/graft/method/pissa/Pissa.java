package dev.graft.method.pissa;

import dev.graft.api.adapt.Adaptation;
import dev.graft.api.adapt.Init;
import dev.graft.api.adapt.LinearSite;
import dev.graft.api.adapt.WeightEditor;
import dev.graft.api.backend.HostTensor;
import dev.graft.graph.DType;
import dev.graft.graph.Tensor;
import dev.graft.method.lora.spi.Lora;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * PiSSA (Meng, Wang, Zhang 2024), as PEFT's {@code pissa_init}: with W = U·S·Vᵀ (W as (out, in)),
 * {@code A = diag(√(S_r/s))·V_rᵀ} (r, in), {@code B = U_r·diag(√(S_r/s))} (out, r), and W replaced
 * by the frozen residual {@code W_res = W − s·B·A}, so that the model starts as the base up to one
 * float32 rounding of W_res + s·B·A. The SVD is exact ({@code init_lora_weights=pissa}) or
 * randomized ({@code pissa_niter_K}: K subspace iterations from a sketch seeded by the module name,
 * so that a rebuilt graph — resume, loading — computes the same residual).
 *
 * <p>Saving with {@code pissa_convert=true} writes PEFT's conversion to a plain LoRA adapter on the
 * original W ({@code path_initial_model_for_weight_conversion}): ΔW = B·A − B0·A0 = [B | −B0]·[A ;
 * A0], rank 2r, {@code lora_alpha} doubled (√2× with rsLoRA) so that s stays, {@code
 * init_lora_weights: true}: it loads on the unmodified base, in PEFT as plain LoRA and in Graft as
 * this method's converted form. By default ({@code pissa_convert=false}, as PEFT's {@code
 * save_pretrained}) the adapter holds A and B as trained, with {@code init_lora_weights} as given:
 * it applies to the residual, which the loader computes again from W (PEFT does the same), so it
 * loads back bit-exact. Merging writes W_res + s·B·A either way; unmerging needs the converted
 * form.
 */
final class Pissa extends Lora {
  /** A site's starting factors, (r, in) and (out, r), as the adapter's A and B start. */
  private record Start(float[] a0, float[] b0) {}

  private final PissaConfig pissa;
  private final Map<String, Start> starts = new HashMap<>();
  private final Map<String, HostTensor> residuals = new LinkedHashMap<>();
  private Adaptation adaptation;
  private boolean converted;

  Pissa(PissaConfig config) {
    super(config.lora());
    this.pissa = config;
  }

  /** The residual's name under its module; it is frozen and never saved. */
  static final String RESIDUAL = "pissa_residual";

  @Override
  protected void adapting(Adaptation adaptation) {
    this.adaptation = adaptation;
    // A graph that applies a converted adapter is plain LoRA of rank 2r on the original W.
    this.converted = adaptation.loadingAdapter() && pissa.convert();
    starts.clear();
    residuals.clear();
  }

  @Override
  protected int rank(LinearSite site) {
    return converted ? 2 * super.rank(site) : super.rank(site);
  }

  @Override
  protected Init initA(LinearSite site, int rank) {
    return converted ? super.initA(site, rank) : Init.of(start(site, rank).a0());
  }

  @Override
  protected Init initB(LinearSite site, int rank) {
    return converted ? super.initB(site, rank) : Init.of(start(site, rank).b0());
  }

  /** Each site's W is replaced by its residual, a frozen tensor of W's dtype and layout. */
  @Override
  protected void adapted(Adaptation adaptation) {
    for (Site s : sites()) {
      HostTensor residual = residuals.remove(s.site().module());
      if (residual != null) {
        Tensor w = adaptation.weightTensor(s.site().weight());
        Tensor frozen = adaptation.frozen(s.site().module(), RESIDUAL, residual);
        adaptation.replaceWeight(
            s.site().weight(),
            frozen.dtype() == w.dtype() ? frozen : adaptation.graph().cast(frozen, w.dtype()));
      }
    }
  }

  /** The SVD of a site's W, its A0 and B0, and (kept until {@link #adapted}) its residual. */
  private Start start(LinearSite site, int r) {
    Start known = starts.get(site.module());
    if (known != null) {
      return known;
    }
    int out = site.outFeatures();
    int in = site.inFeatures();
    if (r > Math.min(out, in)) {
      throw new IllegalArgumentException(
          "PiSSA rank "
              + r
              + " exceeds the smaller side of "
              + site.module()
              + " ("
              + out
              + " × "
              + in
              + "); lower r or rank_pattern.");
    }
    float[] stored = adaptation.weight(site.weight());
    float[] w = site.fanInFanOut() ? transpose(stored, in, out) : stored; // (out, in)
    Svd svd =
        pissa.niter() < 0
            ? Svd.exact(w, out, in, r)
            : Svd.randomized(w, out, in, r, pissa.niter(), site.module().hashCode());
    double scale = config().scale(site.module());
    float[] a0 = new float[r * in];
    float[] b0 = new float[out * r];
    for (int k = 0; k < r; k++) {
      double root = Math.sqrt(svd.s()[k] / scale);
      for (int i = 0; i < in; i++) {
        a0[k * in + i] = (float) (root * svd.v()[i * r + k]);
      }
      for (int o = 0; o < out; o++) {
        b0[o * r + k] = (float) (svd.u()[o * r + k] * root);
      }
    }
    // W_res = W − s·B0·A0 from the float32 factors the adapter starts with.
    double[] residual = new double[out * in];
    for (int o = 0; o < out; o++) {
      for (int i = 0; i < in; i++) {
        double ba = 0;
        for (int k = 0; k < r; k++) {
          ba += (double) b0[o * r + k] * a0[k * in + i];
        }
        residual[site.fanInFanOut() ? i * out + o : o * in + i] = w[o * in + i] - scale * ba;
      }
    }
    long[] shape = site.fanInFanOut() ? new long[] {in, out} : new long[] {out, in};
    boolean wide = adaptation.weightTensor(site.weight()).dtype() == DType.FLOAT64;
    residuals.put(
        site.module(),
        wide
            ? HostTensor.ofDoubles(shape, residual)
            : HostTensor.ofFloats(shape, floats(residual)));
    Start start = new Start(a0, b0);
    starts.put(site.module(), start);
    return start;
  }

  /** With {@code pissa_convert}: A as [A ; A0] (2r, in), B as [B | −B0] (out, 2r). */
  @Override
  protected HostTensor saved(String name, HostTensor trained) {
    if (!pissa.convert()) {
      return trained;
    }
    for (Site s : sites()) {
      Start start = starts.get(s.site().module());
      int r = s.rank();
      int in = s.site().inFeatures();
      int out = s.site().outFeatures();
      if (name.equals(s.a())) {
        float[] a = new float[2 * r * in];
        System.arraycopy(trained.floats(), 0, a, 0, r * in);
        System.arraycopy(start.a0(), 0, a, r * in, r * in);
        return HostTensor.ofFloats(new long[] {2L * r, in}, a);
      }
      if (name.equals(s.b())) {
        float[] b = trained.floats();
        float[] both = new float[out * 2 * r];
        for (int o = 0; o < out; o++) {
          for (int k = 0; k < r; k++) {
            both[o * 2 * r + k] = b[o * r + k];
            both[o * 2 * r + r + k] = -start.b0()[o * r + k];
          }
        }
        return HostTensor.ofFloats(new long[] {out, 2L * r}, both);
      }
    }
    return trained;
  }

  /**
   * Converted: PEFT's fields of the rank-2r LoRA adapter; s = lora_alpha / r (or / √r) is the same
   * at 2r with lora_alpha doubled (√2× with rsLoRA), per-module patterns alike.
   */
  @Override
  protected void addAdapterConfig(Map<String, Object> config) {
    if (!pissa.convert()) {
      return;
    }
    double factor = config().rslora() ? Math.sqrt(2) : 2;
    config.put("r", 2 * config().r());
    config.put("lora_alpha", factor * config().alpha());
    Map<String, Integer> ranks = new LinkedHashMap<>();
    config().rankPattern().forEach((k, v) -> ranks.put(k, 2 * v));
    Map<String, Double> alphas = new LinkedHashMap<>();
    config().alphaPattern().forEach((k, v) -> alphas.put(k, factor * v));
    config.put("rank_pattern", ranks);
    config.put("alpha_pattern", alphas);
    config.put("init_lora_weights", Boolean.TRUE);
  }

  /**
   * Converted: LoRA's W ± s·B·A at rank 2r on the original W. Otherwise W' = W_res + s·B·A, and no
   * unmerge: the merged W no longer gives the B0·A0 its residual was taken from.
   */
  @Override
  protected float[] mergedWeight(WeightEditor weights, Site site, float[] delta, boolean merge) {
    if (converted) {
      return super.mergedWeight(weights, site, delta, merge);
    }
    if (!merge) {
      throw new IllegalStateException(
          "A PiSSA adapter saved with pissa_convert=false applies to the residual of W's own"
              + " SVD, which the merged weights no longer give; save it with pissa_convert=true to"
              + " unmerge.");
    }
    float[] residual = rows(weights.read(site.site().module() + "." + RESIDUAL), site);
    for (int i = 0; i < residual.length; i++) {
      residual[i] += delta[i];
    }
    return residual;
  }

  private static float[] transpose(float[] m, int rows, int cols) { // (rows, cols) → (cols, rows)
    float[] t = new float[m.length];
    for (int r = 0; r < rows; r++) {
      for (int c = 0; c < cols; c++) {
        t[c * rows + r] = m[r * cols + c];
      }
    }
    return t;
  }

  private static float[] floats(double[] v) {
    float[] f = new float[v.length];
    for (int i = 0; i < v.length; i++) {
      f[i] = (float) v[i];
    }
    return f;
  }
}
