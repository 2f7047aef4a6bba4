package dev.graft.train.data;

import dev.graft.api.adapt.SampleFormat;
import dev.graft.model.ChatTemplate;
import dev.graft.model.Tokenizer;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;

/** What a method's {@link SampleFormat} sees of one sample's model: chat template and tokens. */
final class FormatContext implements SampleFormat.Context {
  private final int index;
  private final Tokenizer tokenizer;
  private final ChatTemplate template;

  FormatContext(int index, Tokenizer tokenizer, ChatTemplate template) {
    this.index = index;
    this.tokenizer = tokenizer;
    this.template = template;
  }

  /** A sample as the SPI describes it, with the data format's field names. */
  static SampleFormat.Sample sample(Sample sample) {
    if (sample instanceof Sample.Text t) {
      return new SampleFormat.Sample("text", Map.of("text", t.text()), List.of());
    }
    if (sample instanceof Sample.PromptCompletion pc) {
      return new SampleFormat.Sample(
          "prompt_completion",
          Map.of("prompt", pc.prompt(), "completion", pc.completion()),
          List.of());
    }
    if (sample instanceof Sample.Instruction i) {
      return new SampleFormat.Sample(
          "instruction",
          Map.of("instruction", i.instruction(), "input", i.input(), "output", i.output()),
          List.of());
    }
    if (sample instanceof Sample.Preference p) {
      return new SampleFormat.Sample(
          "preference",
          Map.of("prompt", p.prompt(), "chosen", p.chosen(), "rejected", p.rejected()),
          List.of());
    }
    if (sample instanceof Sample.ChatPreference) {
      throw new IllegalArgumentException(
          "A conversational preference pair (message lists) is rendered with the model's chat"
              + " template, not by a method's sample format; give prompt, chosen and rejected as"
              + " strings.");
    }
    List<SampleFormat.Message> messages =
        ((Sample.Conversation) sample)
            .messages().stream().map(m -> new SampleFormat.Message(m.role(), m.content())).toList();
    return new SampleFormat.Sample("messages", Map.of(), messages);
  }

  @Override
  public boolean hasChatTemplate() {
    return template != null;
  }

  @Override
  public SampleFormat.Sequence chat(List<SampleFormat.Message> messages) {
    return Encoded.chat(messages, index, tokenizer, template, ".");
  }

  @Override
  public Optional<String> eosToken() {
    return eosToken(tokenizer);
  }

  static Optional<String> eosToken(Tokenizer tokenizer) {
    OptionalInt eos = tokenizer.eosId();
    return eos.isPresent() ? tokenizer.idToToken(eos.getAsInt()) : Optional.empty();
  }

  @Override
  public boolean hasToken(String token) {
    return tokenizer.tokenToId(token).isPresent();
  }
}
