package dev.graft.method.prefix;

import dev.graft.api.adapt.Adaptation;
import dev.graft.api.adapt.AdapterWriter;
import dev.graft.api.adapt.Init;
import dev.graft.api.adapt.MethodInstance;
import dev.graft.api.adapt.ModelSpec;
import dev.graft.api.adapt.WeightEditor;
import dev.graft.graph.GraphOps;
import dev.graft.graph.Tensor;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Prefix tuning: every layer's attention sees {@code n} trained keys and values ahead of the
 * input's own. One table (n, L·2·token_dim), token_dim = key/value heads × head size, holds them in
 * PEFT's layout {@code [L0.key | L0.value | L1.key | …]}, keys after RoPE as PEFT's {@code
 * past_key_values}; it is saved as PEFT's {@code prompt_embeddings}.
 */
final class PrefixTuning implements MethodInstance {
  /** The table's Graft parameter name, which is also PEFT's key. */
  static final String TABLE = "prompt_embeddings";

  private final PrefixTuningConfig config;
  private ModelSpec model;
  private int tokenDim;

  PrefixTuning(PrefixTuningConfig config) {
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
            ? PrefixProjection.build(adaptation, n, tokenDim, config.hiddenSize(tokenDim), width)
            : adaptation.parameter(
                "", TABLE, new long[] {n, width}, Init.normal(1.0), true); // nn.Embedding's N(0,1)
    GraphOps g = adaptation.graph();
    for (int layer = 0; layer < model.layers(); layer++) {
      long key = 2L * layer * tokenDim;
      Tensor keys = g.slice(table, 1, key, key + tokenDim); // (n, kvh·hs)
      Tensor values = g.slice(table, 1, key + tokenDim, key + 2L * tokenDim); // (n, kvh·hs)
      adaptation.addKeyValuePrefix(layer, keys, values);
    }
  }

  /** PEFT's {@code PrefixTuningConfig} as saved, with its GQA rewrite of token_dim and heads. */
  @Override
  public Map<String, Object> adapterConfig() {
    Map<String, Object> c = new LinkedHashMap<>();
    c.put("peft_type", "PREFIX_TUNING");
    c.put("task_type", "CAUSAL_LM");
    c.put("num_virtual_tokens", config.virtualTokens());
    c.put("token_dim", tokenDim);
    c.put("num_transformer_submodules", 1);
    c.put("num_attention_heads", model.keyValueHeads());
    c.put("num_layers", model.layers());
    c.put("encoder_hidden_size", config.hiddenSize(tokenDim));
    c.put("prefix_projection", config.projection());
    c.put("modules_to_save", null);
    return c;
  }

  /** Writes the table; a projection is folded into it, as PEFT saves its encoder's output. */
  @Override
  public void save(AdapterWriter writer) {
    if (!writer.tensors().contains(PrefixProjection.EMBEDDING)) {
      MethodInstance.super.save(writer);
      return;
    }
    long[] shape = {config.virtualTokens(), 2L * model.layers() * tokenDim};
    writer.write(TABLE, shape, PrefixProjection.fold(writer));
  }

  /** Prefixes add attention positions, not weight changes: there is nothing to fold in. */
  @Override
  public boolean mergeable() {
    return false;
  }

  @Override
  public java.util.Optional<String> differenceAtInit() {
    return java.util.Optional.of(
        "Its key/value prefixes are extra positions every query attends to from the first step.");
  }

  @Override
  public void merge(WeightEditor weights) {
    throw new IllegalStateException(
        "Prefix tuning cannot be merged: its keys and values are extra attention positions, which"
            + " no change of the model's weights reproduces; load the adapter with --adapter"
            + " instead.");
  }
}
