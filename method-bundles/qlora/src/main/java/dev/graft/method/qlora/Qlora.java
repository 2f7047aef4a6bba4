package dev.graft.method.qlora;

import dev.graft.api.adapt.Adaptation;
import dev.graft.api.adapt.LinearSite;
import dev.graft.api.adapt.MethodInstance;
import dev.graft.api.adapt.QuantisedWeight;
import dev.graft.api.adapt.WeightEditor;
import dev.graft.api.quant.FourBit;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * QLoRA's quantised base: each targeted linear weight W is quantised to 4 bits when the graph is
 * built ({@link FourBit}) and replaced by its dequantisation inside the step ({@link Dequantised});
 * the LoRA-family method of the job adds its update on top, unaware of it. On a 4-bit checkpoint
 * ({@code graft:quantize}) the stored codes and scales are used as they are ({@link
 * Adaptation#quantised}): no float copy of W is read, and the checkpoint's type and double
 * quantisation win over the options. QLoRA trains nothing and saves nothing: the adapter is the
 * LoRA method's, and the codes are computed again from W whenever the graph is built (on resume,
 * and when the adapter is loaded).
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
      // A 4-bit checkpoint's own codes and scales, else those of W quantised now.
      Optional<QuantisedWeight> stored = adaptation.quantised(site.weight());
      FourBit.Quantised q =
          stored.isPresent()
              ? null
              : FourBit.quantise(
                  adaptation.weight(site.weight()), config.type(), config.doubleQuant());
      long[] shape =
          site.fanInFanOut()
              ? new long[] {site.inFeatures(), site.outFeatures()}
              : new long[] {site.outFeatures(), site.inFeatures()};
      // The rewrite gives the layer's input, after which W is computed; the output stays.
      adaptation.rewriteLinear(
          site,
          (g, x, base, s) -> {
            QuantisedWeight w = stored.orElseGet(() -> Dequantised.declare(adaptation, site, q));
            adaptation.replaceWeight(site.weight(), Dequantised.weight(g, w, shape, x));
            return base;
          });
      if (stored.isEmpty()) {
        sites.add(site);
      }
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
   * Writes each W it quantised as the model computed it, dequantised, so that the adapter merged
   * after it gives the outputs it was trained to give: the merged model is the dequantised base
   * plus the update (PEFT dequantises too before it merges into a 4-bit layer). A 4-bit
   * checkpoint's weights the platform reads and writes dequantised already.
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
