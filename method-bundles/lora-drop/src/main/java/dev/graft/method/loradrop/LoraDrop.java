package dev.graft.method.loradrop;

import dev.graft.api.adapt.Adaptation;
import dev.graft.api.adapt.Calibration;
import dev.graft.api.adapt.Init;
import dev.graft.api.adapt.LinearSite;
import dev.graft.api.adapt.MethodInstance;
import dev.graft.api.adapt.WeightEditor;
import dev.graft.graph.Tensor;
import dev.graft.method.lora.spi.LowRank;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * LoRA-drop (Zhou et al. 2024): LoRA trained briefly on every targeted layer ({@code
 * lora_drop_warmup_steps}), then each block's importance {@code g_i = Σ ‖s·B·A·x‖²} measured over
 * {@code lora_drop_samples} training batches ({@link Calibration#meanSquaredNorms}, x without
 * dropout); the most important blocks keep their own LoRA up to {@code lora_drop_ratio} of the
 * summed importance ({@link LayerChoice}), and the other blocks share one LoRA per module name (one
 * A and B for every dropped {@code q_proj}, one for every dropped {@code v_proj}, …). Training then
 * starts again from the initial values on that graph.
 *
 * <p>Adapter layout ({@code peft_type} {@value #PEFT_TYPE}, Graft's own): the kept layers' {@code
 * <module>.lora_A.weight} (r, in) and {@code <module>.lora_B.weight} (out, r), and the shared pairs
 * once each, as {@code lora_drop_shared.<name>.lora_A.weight} and {@code …lora_B.weight}; {@code
 * adapter_config.json} lists {@code lora_drop_layers} (kept blocks) and {@code
 * lora_drop_importances} (block → share), and the platform saves the measurement beside it ({@code
 * calibration.json}), from which loading the adapter rebuilds the same sharing.
 */
final class LoraDrop implements MethodInstance {
  static final String PEFT_TYPE = "LORA_DROP";

  /**
   * Prefix of the calibration outputs, one per adapted module: s·B·A·x, named {@code
   * lora_drop.<block>.<module>} so that the answers alone (replayed when an adapter is loaded,
   * before {@link #adapt}) say which block each belongs to.
   */
  static final String OUTPUT = "lora_drop.";

  /** Owner prefix of the shared pairs. */
  static final String SHARED = "lora_drop_shared.";

  /** One adapted layer and the full names of the A and B it uses (its own or shared ones). */
  record Site(LinearSite site, int rank, double scale, String a, String b) {}

  private final LoraDropConfig config;
  private final List<Site> sites = new ArrayList<>();
  private LayerChoice choice;

  LoraDrop(LoraDropConfig config) {
    this.config = config;
  }

  @Override
  public void adapt(Adaptation adaptation) {
    sites.clear();
    Map<String, Tensor[]> shared = new LinkedHashMap<>();
    for (LinearSite site : adaptation.linears(config.lora().targets())) {
      int r = config.lora().rankOf(site.module());
      double scale = config.lora().scale(site.module());
      boolean own = choice == null || choice.kept().contains(site.layer());
      String owner = own ? site.module() : SHARED + site.suffix();
      Tensor[] pair = shared.get(owner);
      if (pair == null) {
        pair = declare(adaptation, owner, site, r);
        if (!own) {
          shared.put(owner, pair);
        }
      } else if (pair[0].shape().sizes()[0] != r) {
        throw new IllegalArgumentException(
            "LoRA-drop shares one LoRA among the dropped "
                + site.suffix()
                + " layers, but rank_pattern gives them different ranks; give them one rank.");
      }
      Tensor a = pair[0];
      Tensor b = pair[1];
      boolean measure = choice == null;
      adaptation.rewriteLinear(
          site,
          (g, x, base, s) -> {
            if (measure) {
              Tensor plain = g.linear(g.linear(x, a, null), b, null); // (…, out), no dropout
              adaptation.output(OUTPUT + site.layer() + "." + site.module(), g.mul(plain, scale));
            }
            Tensor down = g.linear(adaptation.dropout(x, config.lora().dropout()), a, null);
            return g.add(base, g.mul(g.linear(down, b, null), scale)); // (…, out)
          });
      sites.add(new Site(site, r, scale, a.name(), b.name()));
    }
    if (choice == null) {
      adaptation.calibration(config.warmup());
    }
  }

  private Tensor[] declare(Adaptation adaptation, String owner, LinearSite site, int r) {
    Init initA =
        config.lora().init().equals("gaussian")
            ? Init.normal(1.0 / r)
            : Init.kaimingUniform(Math.sqrt(5));
    return new Tensor[] {
      adaptation.parameter(owner, "lora_A.weight", new long[] {r, site.inFeatures()}, initA, true),
      adaptation.parameter(
          owner, "lora_B.weight", new long[] {site.outFeatures(), r}, Init.zeros(), true)
    };
  }

  /** Measures every block's importance and chooses which keep their own LoRA. */
  @Override
  public void calibrate(Calibration calibration) {
    Map<String, Double> norms = calibration.meanSquaredNorms(config.samples());
    Map<Integer, Double> perLayer = new TreeMap<>();
    norms.forEach(
        (name, norm) -> {
          if (name.startsWith(OUTPUT)) {
            String rest = name.substring(OUTPUT.length()); // <block>.<module>
            perLayer.merge(
                Integer.parseInt(rest.substring(0, rest.indexOf('.'))), norm, Double::sum);
          }
        });
    choice = LayerChoice.of(perLayer, config.ratio());
    calibration.log(choice.describe());
  }

  /** The choice of the calibration, or null before it. */
  LayerChoice choice() {
    return choice;
  }

  @Override
  public Map<String, Object> adapterConfig() {
    Map<String, Object> c = new LinkedHashMap<>();
    c.put("peft_type", PEFT_TYPE);
    c.put("task_type", "CAUSAL_LM");
    c.put("r", config.lora().r());
    c.put("lora_alpha", config.lora().alpha());
    c.put("lora_dropout", config.lora().dropout());
    c.put("use_rslora", config.lora().rslora());
    c.put(
        "target_modules",
        config.lora().targets().savedTargetModules(sites.stream().map(Site::site).toList()));
    c.put("rank_pattern", config.lora().rankPattern());
    c.put("alpha_pattern", config.lora().alphaPattern());
    c.put("fan_in_fan_out", sites.stream().anyMatch(s -> s.site().fanInFanOut()));
    c.put("lora_drop_ratio", config.ratio());
    c.put("lora_drop_layers", choice == null ? null : choice.kept());
    Map<String, Double> importances = new LinkedHashMap<>();
    if (choice != null) {
      choice.importances().forEach((layer, i) -> importances.put(Integer.toString(layer), i));
    }
    c.put("lora_drop_importances", importances);
    return c;
  }

  @Override
  public boolean mergeable() {
    return true;
  }

  /** W += s·B·A on every adapted layer, with its own pair or the shared one. */
  @Override
  public void merge(WeightEditor weights) {
    add(weights, 1);
  }

  @Override
  public void unmerge(WeightEditor weights) {
    add(weights, -1);
  }

  private void add(WeightEditor weights, int sign) {
    for (Site s : sites) {
      float[] a = weights.read(s.a()); // (r, in)
      float[] b = weights.read(s.b()); // (out, r)
      float[] w = weights.read(s.site().weight());
      LinearSite site = s.site();
      LowRank.add(
          w,
          site.fanInFanOut(),
          site.outFeatures(),
          site.inFeatures(),
          b,
          null,
          a,
          s.rank(),
          sign * s.scale());
      weights.write(s.site().weight(), w);
    }
  }
}
