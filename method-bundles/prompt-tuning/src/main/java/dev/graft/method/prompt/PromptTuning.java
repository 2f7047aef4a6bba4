package dev.graft.method.prompt;

import dev.graft.api.adapt.Adaptation;
import dev.graft.api.adapt.Init;
import dev.graft.api.adapt.ModelSpec;
import dev.graft.graph.Tensor;
import dev.graft.method.prompt.spi.PromptLearning;
import java.util.List;
import java.util.Map;

/**
 * Prompt tuning: {@code inputs_embeds = concat(P, E(x))} with P (n, d) trainable and the model
 * frozen. P is saved as PEFT's {@code prompt_embeddings}.
 */
final class PromptTuning extends PromptLearning {
  /** The Graft parameter name, which is also PEFT's key. */
  static final String PROMPT = "prompt_embeddings";

  /** Input-embedding tables by architecture family, in the order they are looked for. */
  private static final List<String> EMBEDDINGS =
      List.of("model.embed_tokens.weight", "transformer.wte.weight");

  private final PromptTuningConfig config;
  private ModelSpec model;

  PromptTuning(PromptTuningConfig config) {
    super("Prompt tuning", Site.VIRTUAL_TOKENS);
    this.config = config;
  }

  @Override
  public void adapt(Adaptation adaptation) {
    model = adaptation.model();
    long[] shape = {config.virtualTokens(), model.hiddenSize()};
    Tensor prompt = adaptation.parameter("", PROMPT, shape, init(adaptation), true);
    adaptation.prependVirtualTokens(prompt); // (n, d)
  }

  /** PEFT's {@code prompt_tuning_init}; only runs when training starts, not when loading. */
  private Init init(Adaptation adaptation) {
    return switch (config.init()) {
      case "SAMPLE_VOCAB" -> sampleVocab(adaptation);
      case "TEXT" -> fromText(adaptation);
      default -> Init.normal(1.0); // nn.Embedding's N(0, 1)
    };
  }

  /** Rows of the input embedding table (vocab, d) for token ids drawn uniformly, as PEFT does. */
  private Init sampleVocab(Adaptation adaptation) {
    String table = embeddingTable(adaptation);
    int vocab = model.vocabSize();
    return (values, shape, random) -> {
      int[] tokens = new int[config.virtualTokens()];
      for (int row = 0; row < tokens.length; row++) {
        tokens[row] = random.nextInt(vocab);
      }
      copyRows(adaptation.weight(table), tokens, values);
    };
  }

  /**
   * Rows for the tokens of {@code prompt_tuning_init_text} (with the tokenizer's special tokens, as
   * PEFT's {@code tokenizer(text)}), cut to n or repeated until n, as PEFT does.
   */
  private Init fromText(Adaptation adaptation) {
    String table = embeddingTable(adaptation);
    return (values, shape, random) -> {
      int[] ids = adaptation.encode(config.initText(), true);
      if (ids.length == 0) {
        throw new IllegalArgumentException(
            "prompt_tuning_init_text \"" + config.initText() + "\" has no tokens; give a text.");
      }
      int[] tokens = new int[config.virtualTokens()];
      for (int row = 0; row < tokens.length; row++) {
        tokens[row] = ids[row % ids.length];
      }
      copyRows(adaptation.weight(table), tokens, values);
    };
  }

  /** Copies row {@code tokens[i]} of {@code embeddings} (vocab, d) to row i of {@code rows}. */
  private void copyRows(float[] embeddings, int[] tokens, float[] rows) {
    int d = model.hiddenSize();
    for (int row = 0; row < tokens.length; row++) {
      System.arraycopy(embeddings, tokens[row] * d, rows, row * d, d);
    }
  }

  private static String embeddingTable(Adaptation adaptation) {
    List<String> parameters = adaptation.parameters();
    return EMBEDDINGS.stream()
        .filter(parameters::contains)
        .findFirst()
        .orElseThrow(
            () ->
                new IllegalArgumentException(
                    "prompt_tuning_init SAMPLE_VOCAB and TEXT need the input embedding table, one of "
                        + EMBEDDINGS
                        + ", which this model lacks; use RANDOM."));
  }

  /** PEFT's {@code PromptTuningConfig} as saved, fields auto-filled from the model. */
  @Override
  public Map<String, Object> adapterConfig() {
    Map<String, Object> c =
        peftFields(
            "PROMPT_TUNING",
            config.virtualTokens(),
            model.hiddenSize(),
            model.heads(),
            model.layers());
    c.put("prompt_tuning_init", config.init());
    c.put("prompt_tuning_init_text", config.initText().isEmpty() ? null : config.initText());
    c.put("tokenizer_name_or_path", null);
    c.put("tokenizer_kwargs", null);
    return c;
  }
}
