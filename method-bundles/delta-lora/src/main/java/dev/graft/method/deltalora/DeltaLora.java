package dev.graft.method.deltalora;

import dev.graft.api.adapt.Adaptation;
import dev.graft.api.adapt.AdapterWriter;
import dev.graft.api.adapt.MethodInstance;
import dev.graft.api.adapt.StepContext;
import dev.graft.api.adapt.WeightEditor;
import dev.graft.api.backend.HostTensor;
import dev.graft.graph.Tensor;
import dev.graft.method.lora.spi.Lora;
import java.util.List;
import java.util.Map;

/**
 * Delta-LoRA (Zi et al. 2023): LoRA whose frozen W also moves after every optimizer step from step
 * K on, by λ times the change of the low-rank update: {@code W_{t+1} = W_t + λ·s·(B_{t+1}·A_{t+1} −
 * B_t·A_t)} for t ≥ K, with no gradient and no optimizer state for W.
 *
 * <p>The updates telescope, {@code W_t = W_0 + λ·s·(B_t·A_t − B_K·A_K)}, so W itself stays as the
 * checkpoint holds it (memory-mapped, never copied) and the forward is
 *
 * <pre>
 * y = W_0·x + s·B·A·dropout(x) + λ_t·s·stopGradient(B·A·x − B_K·A_K·x)
 * </pre>
 *
 * with B_K, A_K copies of the factors that a step hook takes after step K, and λ_t a state scalar
 * that is 0 until then and λ from then on (λ from the start when K = 0, where B_0 = 0). The delta
 * term sees x without dropout, the paper's rule: only then is Δ(B·A)·x the change the step made to
 * the LoRA branch's output. The stop-gradient keeps the delta out of the backward, as in the paper,
 * where W is updated outside the optimizer.
 *
 * <p>Cost over LoRA: the state holds a second A and B per site (r·(in + out) floats, carried in and
 * out of every step, so twice that), where carrying W would cost in·out; the forward runs the two
 * low-rank products once more per site, the backward nothing more.
 *
 * <p>Adapter layout ({@code peft_type} {@value #PEFT_TYPE}, Graft's own, which PEFT does not load):
 * LoRA's {@code <module>.lora_A.weight} (r, in) and {@code <module>.lora_B.weight} (out, r), plus
 * {@code <module>.delta_lora_A_start} (r, in), {@code <module>.delta_lora_B_start} (out, r) and
 * {@value #LAMBDA} (1,): the accumulated change of W is {@code delta_lora_lambda · s · (B·A −
 * B_start·A_start)}. Merging folds both terms into W.
 */
final class DeltaLora implements MethodInstance {
  /** The {@code peft_type} of a Delta-LoRA adapter; Graft reads it as method "delta-lora". */
  static final String PEFT_TYPE = "DELTA_LORA";

  /** The state scalar λ_t: 0 until step K, then delta_lambda. */
  static final String LAMBDA = "delta_lora_lambda";

  static final String A_START = "delta_lora_A_start";
  static final String B_START = "delta_lora_B_start";

  private final DeltaLoraConfig config;
  private final Factors lora;

  DeltaLora(DeltaLoraConfig config) {
    this.config = config;
    this.lora = new Factors();
  }

  /** LoRA's A and B, with the delta term added to every site once LoRA has adapted it. */
  private final class Factors extends Lora {
    Factors() {
      super(config.lora());
    }

    List<Site> adaptedSites() {
      return sites();
    }

    @Override
    protected void adapted(Adaptation adaptation) {
      boolean fromStart = config.startStep() == 0;
      Tensor lambda =
          adaptation.state(
              "",
              LAMBDA,
              HostTensor.ofFloats(new long[] {1}, fromStart ? (float) config.lambda() : 0f));
      for (Site s : sites()) {
        Tensor a = adaptation.tensor(s.a());
        Tensor b = adaptation.tensor(s.b());
        // B_0 = 0, so zeros are B_K·A_K when K = 0; otherwise the hook fills them at step K.
        Tensor aStart =
            adaptation.state(
                s.site().module(),
                A_START,
                HostTensor.ofFloats(
                    new long[] {s.rank(), s.site().inFeatures()},
                    new float[s.rank() * s.site().inFeatures()]));
        Tensor bStart =
            adaptation.state(
                s.site().module(),
                B_START,
                HostTensor.ofFloats(
                    new long[] {s.site().outFeatures(), s.rank()},
                    new float[s.site().outFeatures() * s.rank()]));
        adaptation.rewriteLinear(
            s.site(),
            (g, x, base, site) -> {
              Tensor now = g.linear(g.linear(x, a, null), b, null); // (…, out)
              Tensor start = g.linear(g.linear(x, aStart, null), bStart, null); // (…, out)
              Tensor delta = g.mul(g.stopGradient(g.sub(now, start)), lambda); // λ_t broadcast
              return g.add(base, g.mul(delta, s.scale()));
            });
      }
      if (!fromStart) {
        adaptation.onStep(this::capture, config.startStep());
      }
    }

    /** After step K of training: B_K, A_K ← B, A and λ_t ← λ; W moves from the next step on. */
    private void capture(StepContext context) {
      if (!context.phase().equals("train") || context.step() != config.startStep()) {
        return;
      }
      for (Site s : sites()) {
        String module = s.site().module();
        context.write(module + "." + A_START, context.read(s.a()));
        context.write(module + "." + B_START, context.read(s.b()));
      }
      context.write(LAMBDA, new float[] {(float) config.lambda()});
    }

    @Override
    protected void addAdapterConfig(Map<String, Object> fields) {
      fields.put("peft_type", PEFT_TYPE);
      fields.put("delta_lambda", config.lambda());
      fields.put("update_start_step", config.startStep());
    }
  }

  @Override
  public void adapt(Adaptation adaptation) {
    lora.adapt(adaptation);
  }

  @Override
  public Map<String, Object> adapterConfig() {
    return lora.adapterConfig();
  }

  /** LoRA's tensors and the state: the start factors and λ_t, under their Graft names. */
  @Override
  public void save(AdapterWriter writer) {
    lora.save(writer);
  }

  @Override
  public boolean mergeable() {
    return true;
  }

  /** W += s·B·A + λ_t·s·(B·A − B_K·A_K): the trained LoRA update and W's accumulated change. */
  @Override
  public void merge(WeightEditor weights) {
    lora.merge(weights);
    foldDelta(weights, 1);
  }

  /** The base W back from a merged one. */
  @Override
  public void unmerge(WeightEditor weights) {
    foldDelta(weights, -1);
    lora.unmerge(weights);
  }

  private void foldDelta(WeightEditor weights, int sign) {
    double lambda = weights.read(LAMBDA)[0];
    if (lambda == 0) {
      return;
    }
    for (Lora.Site s : lora.adaptedSites()) {
      String module = s.site().module();
      float[] w = weights.read(s.site().weight());
      double factor = sign * lambda * s.scale();
      LowRank.addProduct(w, s, weights.read(s.b()), weights.read(s.a()), factor);
      LowRank.addProduct(
          w,
          s,
          weights.read(module + "." + B_START),
          weights.read(module + "." + A_START),
          -factor);
      weights.write(s.site().weight(), w);
    }
  }
}
