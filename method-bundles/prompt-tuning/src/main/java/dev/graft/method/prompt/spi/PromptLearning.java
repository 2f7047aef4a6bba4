package dev.graft.method.prompt.spi;

import dev.graft.api.Options;
import dev.graft.api.adapt.MethodInstance;
import dev.graft.api.adapt.WeightEditor;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * A prompt-learning method instance: it adds attention positions (virtual tokens ahead of the
 * input, or key/value prefixes in every layer) instead of changing weights, so it starts with other
 * outputs than the base model and cannot be merged. Subclasses adapt the graph and save their
 * table.
 */
public abstract class PromptLearning implements MethodInstance {
  /** The most virtual tokens accepted: far beyond the 1–400 of the papers' ablations. */
  public static final int MAX_VIRTUAL_TOKENS = 4096;

  /** Where a prompt-learning method adds its positions. */
  public enum Site {
    /** Virtual tokens ahead of the input embeddings (prompt tuning, P-tuning). */
    VIRTUAL_TOKENS(
        "its virtual tokens lengthen the input",
        "Its virtual tokens are extra positions every real token attends to from the first step."),
    /** Keys and values ahead of every layer's own (prefix tuning, P-tuning v2). */
    KEY_VALUE_PREFIXES(
        "its keys and values are extra attention positions",
        "Its key/value prefixes are extra positions every query attends to from the first step.");

    private final String unmergeable;
    private final String atInit;

    Site(String unmergeable, String atInit) {
      this.unmergeable = unmergeable;
      this.atInit = atInit;
    }
  }

  private final String title;
  private final Site site;

  /**
   * @param title the method's name in a sentence ("Prompt tuning")
   * @param site where it adds positions
   */
  protected PromptLearning(String title, Site site) {
    this.title = title;
    this.site = site;
  }

  /**
   * The checked {@code num_virtual_tokens} option.
   *
   * @throws IllegalArgumentException when it is outside [1, {@value #MAX_VIRTUAL_TOKENS}]
   */
  public static int virtualTokens(Options options) {
    int n = options.getInt("num_virtual_tokens");
    if (n < 1 || n > MAX_VIRTUAL_TOKENS) {
      throw new IllegalArgumentException(
          "num_virtual_tokens must be in [1, " + MAX_VIRTUAL_TOKENS + "], not " + n + ".");
    }
    return n;
  }

  /**
   * PEFT's {@code PromptLearningConfig} fields as saved (auto-filled from the model), in PEFT's
   * names; the subclass adds its own type's fields to the returned map.
   *
   * @param tokenDim the width of one virtual token: the hidden size, or for prefixes key/value
   *     heads × head size (PEFT's GQA rewrite)
   * @param heads attention heads, or for prefixes key/value heads
   */
  protected static Map<String, Object> peftFields(
      String peftType, int virtualTokens, int tokenDim, int heads, int layers) {
    Map<String, Object> c = new LinkedHashMap<>();
    c.put("peft_type", peftType);
    c.put("task_type", "CAUSAL_LM");
    c.put("num_virtual_tokens", virtualTokens);
    c.put("token_dim", tokenDim);
    c.put("num_transformer_submodules", 1);
    c.put("num_attention_heads", heads);
    c.put("num_layers", layers);
    c.put("modules_to_save", null);
    return c;
  }

  @Override
  public final Optional<String> differenceAtInit() {
    return Optional.of(site.atInit);
  }

  /** Added positions are no weight change: there is nothing to fold in. */
  @Override
  public final boolean mergeable() {
    return false;
  }

  @Override
  public final void merge(WeightEditor weights) {
    throw refusal();
  }

  @Override
  public final void unmerge(WeightEditor weights) {
    throw refusal();
  }

  private IllegalStateException refusal() {
    return new IllegalStateException(
        title
            + " cannot be merged: "
            + site.unmergeable
            + ", which no change of the model's weights reproduces; load the adapter with"
            + " --adapter instead.");
  }
}
