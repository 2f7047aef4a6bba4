package dev.graft.method.prefix.spi;

import dev.graft.api.adapt.Adaptation;
import dev.graft.api.adapt.AdapterWriter;
import dev.graft.api.adapt.Init;
import dev.graft.api.adapt.ModelSpec;
import dev.graft.graph.GraphOps;
import dev.graft.graph.Tensor;
import dev.graft.method.prompt.spi.PromptLearning;
import java.util.Map;

/**
 * Prefix tuning: every layer's attention sees {@code n} trained keys and values ahead of the
 * input's own. One table (n, L·2·token_dim), token_dim = key/value heads × head size, holds them in
 * PEFT's layout {@code [L0.key | L0.value | L1.key | …]}, keys after RoPE as PEFT's {@code
 * past_key_values}; it is saved as PEFT's {@code prompt_embeddings}, and a projection that trained
 * it is folded into it. P-tuning v2 is this instance under another title, with dropout on the
 * table.
 */
public class PrefixTuning extends PromptLearning {
  /** The table's Graft parameter name, which is also PEFT's key. */
  public static final String TABLE = "prompt_embeddings";

  private final PrefixTuningConfig config;
  private ModelSpec model;
  private int tokenDim;

  /**
   * @param config the checked options
   * @param title the method's name in a sentence ("Prefix tuning", "P-tuning v2")
   */
  public PrefixTuning(PrefixTuningConfig config, String title) {
    super(title, Site.KEY_VALUE_PREFIXES);
    this.config = config;
  }

  @Override
  public void adapt(Adaptation adaptation) {
    model = adaptation.model();
    tokenDim = model.keyValueHeads() * model.headDim();
    int n = config.virtualTokens();
    long width = 2L * model.layers() * tokenDim;
    // A saved adapter holds the folded table even when training projected it.
    Tensor table =
        config.projection() && !adaptation.loadingAdapter()
            ? projection().train(adaptation, PrefixProjection.OWNER)
            : adaptation.parameter(
                "", TABLE, new long[] {n, width}, Init.normal(1.0), true); // nn.Embedding's N(0,1)
    if (config.dropout() > 0) {
      table = adaptation.dropout(table, config.dropout()); // P-tuning v2's dropout on the prefixes
    }
    GraphOps g = adaptation.graph();
    for (int layer = 0; layer < model.layers(); layer++) {
      long key = 2L * layer * tokenDim;
      Tensor keys = g.slice(table, 1, key, key + tokenDim); // (n, kvh·hs)
      Tensor values = g.slice(table, 1, key + tokenDim, key + 2L * tokenDim); // (n, kvh·hs)
      adaptation.addKeyValuePrefix(layer, keys, values);
    }
  }

  private PrefixProjection projection() {
    return new PrefixProjection(
        config.virtualTokens(),
        tokenDim,
        config.hiddenSize(tokenDim),
        2L * model.layers() * tokenDim);
  }

  /** PEFT's {@code PrefixTuningConfig} as saved, with its GQA rewrite of token_dim and heads. */
  @Override
  public Map<String, Object> adapterConfig() {
    Map<String, Object> c =
        peftFields(
            "PREFIX_TUNING",
            config.virtualTokens(),
            tokenDim,
            model.keyValueHeads(),
            model.layers());
    c.put("encoder_hidden_size", config.hiddenSize(tokenDim));
    c.put("prefix_projection", config.projection());
    return c;
  }

  /** Writes the table; a projection is folded into it, as PEFT saves its encoder's output. */
  @Override
  public void save(AdapterWriter writer) {
    if (!writer.tensors().contains(PrefixProjection.EMBEDDING)) {
      super.save(writer);
      return;
    }
    long[] shape = {config.virtualTokens(), 2L * model.layers() * tokenDim};
    writer.write(TABLE, shape, projection().fold(writer, PrefixProjection.OWNER));
  }
}
