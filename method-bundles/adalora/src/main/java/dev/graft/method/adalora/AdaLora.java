package dev.graft.method.adalora;

import dev.graft.api.adapt.Adaptation;
import dev.graft.api.adapt.AdapterWriter;
import dev.graft.api.adapt.Init;
import dev.graft.api.adapt.LinearSite;
import dev.graft.api.adapt.MethodInstance;
import dev.graft.api.adapt.WeightEditor;
import dev.graft.api.backend.HostTensor;
import dev.graft.graph.GraphOps;
import dev.graft.graph.NdArray;
import dev.graft.graph.Tensor;
import dev.graft.method.lora.spi.LowRank;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * AdaLoRA on the targeted linear layers, as PEFT's {@code SVDLinear}: {@code y = W·x + b +
 * (dropout(x)·(A⊙E)ᵀ·Bᵀ)·s} with A (r, in) the right singular vectors, E (r, 1) the singular
 * values, B (out, r) the left singular vectors and {@code s = lora_alpha / (ranknum + 1e-5)},
 * ranknum = init_r (PEFT never changes it, also not when pruned ranks are sliced away on save). E
 * starts at zero, A and B at N(0, 0.02²), so the model starts as the base.
 *
 * <p>Training adds {@code orth_reg_weight · mean(‖AAᵀ − I‖_F, ‖BᵀB − I‖_F)} over every A and B to
 * the loss (PEFT's {@code AdaLoraModel.forward}: the unsquared Frobenius norm, not the paper's
 * square) and runs the {@link BudgetHook} after every step. The adapter is PEFT's ADALORA layout:
 * {@code <module>.lora_A}, {@code .lora_E}, {@code .lora_B} without {@code .weight}, sliced to the
 * kept singular values, with the kept masks as {@code rank_pattern}.
 */
final class AdaLora implements MethodInstance {
  private final AdaLoraConfig config;
  private final List<RankAllocator.Triplet> triplets = new ArrayList<>();
  private final List<LinearSite> sites = new ArrayList<>();
  private RankAllocator allocator;
  private BudgetHook hook;

  AdaLora(AdaLoraConfig config) {
    this.config = config;
  }

  @Override
  public void adapt(Adaptation adaptation) {
    triplets.clear();
    sites.clear();
    boolean training = !adaptation.loadingAdapter();
    List<Tensor[]> trained = new ArrayList<>();
    for (LinearSite site : adaptation.linears(config.targets())) {
      String owner = site.module();
      // A loaded adapter holds each layer at its kept rank (PEFT slices pruned ranks away).
      int r =
          adaptation
              .savedShape(owner + ".lora_A")
              .map(s -> Math.toIntExact(s[0]))
              .orElse(config.initR());
      Tensor a =
          adaptation.parameter(
              owner, "lora_A", new long[] {r, site.inFeatures()}, Init.normal(0.02), true);
      Tensor e = adaptation.parameter(owner, "lora_E", new long[] {r, 1}, Init.zeros(), true);
      Tensor b =
          adaptation.parameter(
              owner, "lora_B", new long[] {site.outFeatures(), r}, Init.normal(0.02), true);
      double scale = config.scale();
      if (r > 0) {
        adaptation.rewriteLinear(
            site,
            (g, x, base, s) -> {
              Tensor ae = g.mul(a, e); // (r, in): row k of A times E_k
              Tensor down = g.linear(adaptation.dropout(x, config.dropout()), ae, null); // (…, r)
              Tensor up = g.linear(down, b, null); // (…, out)
              return g.add(base, g.mul(up, scale));
            });
      }
      sites.add(site);
      triplets.add(
          new RankAllocator.Triplet(
              owner, a.name(), e.name(), b.name(), r, site.inFeatures(), site.outFeatures()));
      trained.add(new Tensor[] {a, b});
    }
    if (!training) {
      return;
    }
    adaptation.addLoss(
        "adalora.orthogonality",
        orthogonality(adaptation.graph(), trained),
        config.orthRegWeight());
    allocator = new RankAllocator(triplets, config);
    float[] unset = new float[allocator.initBudget()];
    Arrays.fill(unset, -1f);
    adaptation.state("", BudgetHook.SENSITIVITY, zeros(allocator.entries()));
    adaptation.state("", BudgetHook.UNCERTAINTY, zeros(allocator.entries()));
    adaptation.state("", BudgetHook.PATTERN, HostTensor.ofFloats(new long[] {unset.length}, unset));
    for (RankAllocator.Triplet t : triplets) {
      adaptation.exposeGradient(t.a());
      adaptation.exposeGradient(t.e());
      adaptation.exposeGradient(t.b());
    }
    hook = new BudgetHook(allocator, config);
    adaptation.onStep(hook, 1);
  }

  private static HostTensor zeros(int n) {
    return HostTensor.ofFloats(new long[] {n}, new float[n]);
  }

  /** The mean over every A and B of ‖AAᵀ − I‖_F and ‖BᵀB − I‖_F, a scalar. */
  static Tensor orthogonality(GraphOps g, List<Tensor[]> ab) {
    Tensor sum = null;
    for (Tensor[] pair : ab) {
      Tensor a = pair[0];
      Tensor b = pair[1];
      for (Tensor cov :
          List.of(g.matmul(a, g.transpose(a, 1, 0)), g.matmul(g.transpose(b, 1, 0), b))) {
        long r = cov.shape().sizes()[0]; // (r, r)
        double[] eye = new double[(int) (r * r)];
        for (int i = 0; i < r; i++) {
          eye[i * (int) r + i] = 1;
        }
        Tensor diff = g.sub(cov, g.constant(NdArray.of(cov.dtype(), new long[] {r, r}, eye)));
        Tensor norm = g.sqrt(g.reduceSum(g.mul(diff, diff), false, 0, 1)); // ()
        sum = sum == null ? norm : g.add(sum, norm);
      }
    }
    return g.mul(sum, 1.0 / (2 * ab.size()));
  }

  /** PEFT's AdaLoraConfig fields, with the rank pattern of the last allocation (or null). */
  @Override
  public Map<String, Object> adapterConfig() {
    Map<String, Object> c = new LinkedHashMap<>();
    c.put("peft_type", "ADALORA");
    c.put("task_type", "CAUSAL_LM");
    c.put("init_r", config.initR());
    c.put("target_r", config.targetR());
    c.put("tinit", config.tinit());
    c.put("tfinal", config.tfinal());
    c.put("deltaT", config.deltaT());
    c.put("beta1", config.beta1());
    c.put("beta2", config.beta2());
    c.put("orth_reg_weight", config.orthRegWeight());
    long total = hook == null ? -1 : hook.totalStep();
    c.put(
        "total_step",
        config.totalStep() != null ? config.totalStep() : total > 0 ? (Object) total : null);
    c.put("rank_pattern", rankPattern());
    c.put("r", 8); // PEFT ignores r for AdaLoRA (and warns unless it is LoraConfig's 8)
    c.put("lora_alpha", config.alpha());
    c.put("lora_dropout", config.dropout());
    c.put("target_modules", config.targets().savedTargetModules(sites));
    c.put(
        "exclude_modules",
        config.targets().exclude().isEmpty() ? null : config.targets().exclude());
    c.put(
        "layers_to_transform",
        config.targets().layers().isEmpty() ? null : config.targets().layers());
    c.put("fan_in_fan_out", sites.stream().anyMatch(LinearSite::fanInFanOut));
    c.put("bias", "none");
    c.put("init_lora_weights", true);
    c.put("use_dora", false);
    c.put("use_rslora", false);
    c.put("modules_to_save", null);
    return c;
  }

  /** {@code <module>.lora_E} → the kept mask, as PEFT saves it; null before any allocation. */
  private Map<String, List<Boolean>> rankPattern() {
    if (allocator == null || !allocator.allocated()) {
      return null;
    }
    Map<String, List<Boolean>> pattern = new LinkedHashMap<>();
    for (int t = 0; t < triplets.size(); t++) {
      List<Boolean> mask = new ArrayList<>();
      for (boolean k : allocator.kept(t)) {
        mask.add(k);
      }
      pattern.put(triplets.get(t).e(), mask);
    }
    return pattern;
  }

  /**
   * PEFT's {@code resize_state_dict_by_rank_pattern}: A's rows, E's entries and B's columns of the
   * pruned singular values are left out; every layer whole before the first allocation.
   */
  @Override
  public void save(AdapterWriter writer) {
    for (int t = 0; t < triplets.size(); t++) {
      RankAllocator.Triplet tr = triplets.get(t);
      boolean[] kept = allocator == null ? null : allocator.kept(t);
      int r = tr.rank();
      int[] rows = new int[r];
      int n = 0;
      for (int k = 0; k < r; k++) {
        if (kept == null || kept[k]) {
          rows[n++] = k;
        }
      }
      float[] a = writer.values(tr.a()); // (r, in)
      float[] e = writer.values(tr.e()); // (r, 1)
      float[] b = writer.values(tr.b()); // (out, r)
      float[] a2 = new float[n * tr.in()];
      float[] e2 = new float[n];
      float[] b2 = new float[tr.out() * n];
      for (int k = 0; k < n; k++) {
        System.arraycopy(a, rows[k] * tr.in(), a2, k * tr.in(), tr.in());
        e2[k] = e[rows[k]];
        for (int o = 0; o < tr.out(); o++) {
          b2[o * n + k] = b[o * r + rows[k]];
        }
      }
      writer.write(tr.a(), new long[] {n, tr.in()}, a2);
      writer.write(tr.e(), new long[] {n, 1}, e2);
      writer.write(tr.b(), new long[] {tr.out(), n}, b2);
    }
  }

  @Override
  public boolean mergeable() {
    return true;
  }

  /** W += s · B·diag(E)·A, transposed for a weight stored (in, out) (GPT-2's Conv1D). */
  @Override
  public void merge(WeightEditor weights) {
    add(weights, 1);
  }

  /** W -= s · B·diag(E)·A. */
  @Override
  public void unmerge(WeightEditor weights) {
    add(weights, -1);
  }

  private void add(WeightEditor weights, int sign) {
    for (int t = 0; t < triplets.size(); t++) {
      RankAllocator.Triplet tr = triplets.get(t);
      LinearSite site = sites.get(t);
      int r = tr.rank();
      float[] a = weights.read(tr.a()); // (r, in)
      float[] e = weights.read(tr.e()); // (r, 1)
      float[] b = weights.read(tr.b()); // (out, r)
      float[] w = weights.read(site.weight());
      double[] singular = new double[r];
      for (int k = 0; k < r; k++) {
        singular[k] = e[k];
      }
      LowRank.add(
          w, site.fanInFanOut(), tr.out(), tr.in(), b, singular, a, r, sign * config.scale());
      weights.write(site.weight(), w);
    }
  }
}
