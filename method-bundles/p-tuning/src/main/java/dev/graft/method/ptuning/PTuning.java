package dev.graft.method.ptuning;

import dev.graft.api.adapt.Adaptation;
import dev.graft.api.adapt.AdapterWriter;
import dev.graft.api.adapt.Init;
import dev.graft.api.adapt.ModelSpec;
import dev.graft.graph.Tensor;
import dev.graft.method.prompt.spi.PromptLearning;
import java.util.Map;

/**
 * P-tuning: {@code inputs_embeds = concat(P, E(x))} where, while training, P (n, d) is the output
 * of a {@link PromptEncoder} over trainable embeddings. Saved, P is PEFT's plain {@code
 * prompt_embeddings} (the encoder's output); an adapter being loaded declares that table alone, so
 * PEFT's {@code P_TUNING} adapters evaluate and generate as PEFT's inference mode does.
 */
final class PTuning extends PromptLearning {
  /** The saved table's Graft parameter name, which is also PEFT's key. */
  static final String TABLE = "prompt_embeddings";

  private final PTuningConfig config;
  private ModelSpec model;

  PTuning(PTuningConfig config) {
    super("P-tuning", Site.VIRTUAL_TOKENS);
    this.config = config;
  }

  @Override
  public void adapt(Adaptation adaptation) {
    model = adaptation.model();
    long[] shape = {config.virtualTokens(), model.hiddenSize()};
    Tensor prompt =
        adaptation.loadingAdapter()
            ? adaptation.parameter("", TABLE, shape, Init.zeros(), true)
            : encoder().train(adaptation, PromptEncoder.OWNER);
    adaptation.prependVirtualTokens(prompt); // (n, d)
  }

  private PromptEncoder encoder() {
    return new PromptEncoder(config, model.hiddenSize());
  }

  /** PEFT's {@code PromptEncoderConfig} as saved, fields auto-filled from the model. */
  @Override
  public Map<String, Object> adapterConfig() {
    Map<String, Object> c =
        peftFields(
            "P_TUNING", config.virtualTokens(), model.hiddenSize(), model.heads(), model.layers());
    c.put("encoder_reparameterization_type", config.lstm() ? "LSTM" : "MLP");
    c.put("encoder_hidden_size", config.hiddenSize(model.hiddenSize()));
    c.put("encoder_num_layers", config.layers());
    c.put("encoder_dropout", config.dropout());
    return c;
  }

  /** Writes the encoder's output as the one table, as PEFT saves it. */
  @Override
  public void save(AdapterWriter writer) {
    if (!writer.tensors().contains(PromptEncoder.EMBEDDING)) {
      super.save(writer); // a loaded adapter trained on: the table itself
      return;
    }
    long[] shape = {config.virtualTokens(), model.hiddenSize()};
    writer.write(TABLE, shape, encoder().fold(writer, PromptEncoder.OWNER));
  }
}
