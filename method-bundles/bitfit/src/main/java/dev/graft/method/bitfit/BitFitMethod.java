package dev.graft.method.bitfit;

import dev.graft.api.FineTuningMethod;
import dev.graft.api.MethodFamily;
import dev.graft.api.MethodInfo;
import dev.graft.api.MethodName;
import dev.graft.api.OptionDescriptor;
import dev.graft.api.OptionType;
import dev.graft.api.Options;
import dev.graft.api.PaperReference;
import dev.graft.api.adapt.MethodInstance;
import java.util.List;
import org.osgi.service.component.annotations.Component;

/**
 * BitFit as a method service: only bias terms train. The bias subsets carry the paper's names (Ben
 * Zaken et al., §2: b_q, b_k, b_v, b_m1 the attention output, b_m2 and b_m3 the MLP's two linears,
 * b_LN the LayerNorm biases) spelled out.
 */
@Component(service = FineTuningMethod.class)
@MethodName("bitfit")
public final class BitFitMethod implements FineTuningMethod {
  static final MethodInfo INFO =
      new MethodInfo(
          "bitfit",
          "BitFit",
          MethodFamily.SELECTIVE,
          new PaperReference(
              "Ben Zaken, Ravfogel, Goldberg",
              "BitFit: Simple Parameter-efficient Fine-tuning for Transformer-based Masked"
                  + " Language-models",
              2022,
              "2106.10199"),
          List.of(
              OptionDescriptor.of(
                  "biases",
                  OptionType.LIST,
                  "all",
                  "which biases train: all, or some of query (b_q), key (b_k), value (b_v),"
                      + " attn_out (b_m1), mlp_in (b_m2: gate and up, or c_fc), mlp_out (b_m3),"
                      + " layer_norm (b_LN, GPT-2)"),
              OptionDescriptor.of(
                  "add_missing",
                  OptionType.BOOLEAN,
                  "true",
                  "add zero biases to the chosen linears that have none (Llama, Mistral; PEFT's"
                      + " BEFT idea); false: train only the biases the model has")));

  @Override
  public MethodInfo info() {
    return INFO;
  }

  @Override
  public MethodInstance create(Options options) {
    return new BitFit(BitFitConfig.of(options));
  }
}
