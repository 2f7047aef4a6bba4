package dev.graft.method.adapter;

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
 * Bottleneck adapters as a method service. Option names and defaults are AdapterHub's ({@code
 * BnConfig}): {@code config=houlsby} is its {@code double_seq_bn}, {@code pfeiffer} its {@code
 * seq_bn}.
 */
@Component(service = FineTuningMethod.class)
@MethodName("adapter")
public final class BottleneckAdapterMethod implements FineTuningMethod {
  static final MethodInfo INFO =
      new MethodInfo(
          "adapter",
          "Bottleneck adapters",
          MethodFamily.ADAPTER,
          new PaperReference(
              "Houlsby et al.",
              "Parameter-Efficient Transfer Learning for NLP",
              2019,
              "1902.00751"),
          List.of(
              OptionDescriptor.choice(
                  "config",
                  "houlsby",
                  "houlsby: an adapter after the attention output and one after the MLP output of"
                      + " each block (AdapterHub double_seq_bn); pfeiffer: one after the MLP only,"
                      + " fed the MLP output plus the residual stream (AdapterHub seq_bn)",
                  "houlsby",
                  "pfeiffer"),
              OptionDescriptor.of(
                  "reduction_factor",
                  OptionType.FLOAT,
                  "16",
                  "hidden size / bottleneck width (AdapterHub: 16)"),
              OptionDescriptor.choice(
                  "non_linearity",
                  "",
                  "activation in the bottleneck; default: swish for houlsby, relu for pfeiffer",
                  "swish",
                  "relu",
                  "gelu",
                  "tanh"),
              OptionDescriptor.choice(
                  "init_weights",
                  "bert",
                  "bert: weights N(0, 0.02) (AdapterHub's default); houlsby: truncated N(0, 0.01)"
                      + " within ±0.02; mam_adapter: up projection zero, so the model starts as the"
                      + " base; biases zero in all three",
                  "bert",
                  "houlsby",
                  "mam_adapter"),
              OptionDescriptor.of(
                  "layers", OptionType.LIST, "", "block indices to adapt; empty: all"),
              OptionDescriptor.of(
                  "leave_out",
                  OptionType.LIST,
                  "",
                  "block indices to leave without adapters (AdapterHub's leave_out)"),
              OptionDescriptor.of(
                  "train_layer_norms",
                  OptionType.BOOLEAN,
                  "false",
                  "also train the model's LayerNorm/RMSNorm weights (and GPT-2's norm biases), as"
                      + " Houlsby et al. did")));

  @Override
  public MethodInfo info() {
    return INFO;
  }

  @Override
  public MethodInstance create(Options options) {
    return new BottleneckAdapter(BottleneckConfig.of(options));
  }
}
