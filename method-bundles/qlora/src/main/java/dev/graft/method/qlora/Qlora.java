package dev.graft.method.qlora;

import dev.graft.api.adapt.Adaptation;
import dev.graft.api.adapt.LinearSite;
import dev.graft.api.adapt.MethodInstance;
import dev.graft.api.adapt.WeightEditor;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * QLoRA's quantised base: each targeted linear weight W is quantised to 4 bits when the graph is
 * built ({@link FourBit}) and replaced by its dequantisation inside the step ({@link Dequantised});
 * the LoRA-family method of the job adds its update on top, unaware of it. QLoRA trains nothing and
 * saves nothing: the adapter is the LoRA method's, and the codes are computed again from W whenever
 * the graph is built (on resume, and when the adapter is loaded).
 */
final class Qlora implements MethodInstance {
  private final QloraConfig config;
  private final List<LinearSite> sites = new ArrayList<>();

  Qlora(QloraConfig config) {
    this.config = config;
  }

  @Override
  public void adapt(Adaptation adaptation) {
    sites.clear();
    for (LinearSite site : adaptation.linears(config.modules())) {
      FourBit.Quantised q =
          FourBit.quantise(adaptation.weight(site.weight()), config.type(), config.doubleQuant());
      long[] shape =
          site.fanInFanOut()
              ? new long[] {site.inFeatures(), site.outFeatures()}
              : new long[] {site.outFeatures(), site.inFeatures()};
      // The rewrite gives the layer's input, after which W is computed; the output stays.
      adaptation.rewriteLinear(
          site,
          (g, x, base, s) -> {
            Dequantised.Leaves leaves = Dequantised.declare(adaptation, site, q);
            adaptation.replaceWeight(site.weight(), Dequantised.weight(g, leaves, q, shape, x));
            return base;
          });
      sites.add(site);
    }
  }

  @Override
  public Map<String, Object> adapterConfig() {
    return Map.of();
  }

  @Override
  public Optional<String> differenceAtInit() {
    return Optional.of("W is replaced by its " + config.type().label() + " quantisation.");
  }

  @Override
  public boolean mergeable() {
    return true;
  }

  /**
   * Writes each quantised W as the model computed it, dequantised, so that the adapter merged after
   * it gives the outputs it was trained to give: the merged model is the dequantised base plus the
   * update (PEFT dequantises too before it merges into a 4-bit layer).
   */
  @Override
  public void merge(WeightEditor weights) {
    for (LinearSite site : sites) {
      weights.write(
          site.weight(),
          FourBit.quantise(weights.read(site.weight()), config.type(), config.doubleQuant())
              .dequantise());
    }
  }

  /** Quantisation cannot be taken back: the weights stay dequantised. */
  @Override
  public void unmerge(WeightEditor weights) {}
}
