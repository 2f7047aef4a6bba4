package dev.graft.api.adapt;

import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import org.osgi.annotation.versioning.ConsumerType;
import org.osgi.annotation.versioning.ProviderType;

/**
 * How a method turns training samples into text for the loss, set with {@link
 * Adaptation#sampleFormat}: instruction tuning's prompt templates and response-only loss, and the
 * (chosen, rejected) pairs of a preference objective such as DPO. The platform reads the data, asks
 * the format for each sample's text as segments that are learned or context, then tokenizes the
 * whole text at once (so no token straddles two segments differently than in the full text),
 * truncates to {@code max_length}, and batches or packs the sequences. Without a format the
 * platform renders samples itself (TRL's defaults: loss on completions and assistant turns).
 */
@ConsumerType
@FunctionalInterface
public interface SampleFormat {
  /** One turn of a conversation; roles are {@code system}, {@code user} and {@code assistant}. */
  record Message(String role, String content) {
    public Message {
      Objects.requireNonNull(role, "role");
      Objects.requireNonNull(content, "content");
    }
  }

  /**
   * One sample as read from the data.
   *
   * @param kind the data format: {@code text}, {@code prompt_completion}, {@code instruction},
   *     {@code messages} or {@code preference} (the job key {@code data_format}'s names)
   * @param fields the string fields under the format's names: {@code text}; {@code prompt} and
   *     {@code completion}; {@code instruction}, {@code input} (empty when absent) and {@code
   *     output}; {@code prompt}, {@code chosen} and {@code rejected} (a preference line without a
   *     prompt has the longest common start of chosen and rejected as its prompt, as TRL's {@code
   *     extract_prompt} does)
   * @param messages the turns of a {@code messages} sample, else empty
   */
  record Sample(String kind, Map<String, String> fields, List<Message> messages) {
    public Sample {
      Objects.requireNonNull(kind, "kind");
      fields = Map.copyOf(fields);
      messages = List.copyOf(messages);
    }

    /** A field's value, or empty text when the sample has no such field. */
    public String field(String name) {
      return fields.getOrDefault(name, "");
    }
  }

  /** A stretch of rendered text; the loss learns to predict the tokens of learned segments. */
  record Segment(String text, boolean learned) {
    public Segment {
      Objects.requireNonNull(text, "text");
    }
  }

  /**
   * The text of one token sequence.
   *
   * @param segments the text in order
   * @param specialTokens whether the tokenizer adds its special tokens (such as BOS) and a learned
   *     end-of-text token closes the sequence, as for plain text; false for text that is complete
   *     as rendered (a chat template writes its own markers)
   */
  record Sequence(List<Segment> segments, boolean specialTokens) {
    public Sequence {
      segments = List.copyOf(segments);
    }

    /** The whole text. */
    public String text() {
      StringBuilder text = new StringBuilder();
      segments.forEach(s -> text.append(s.text()));
      return text.toString();
    }

    /** The same text with every segment learned (train on the prompt too). */
    public Sequence learnAll() {
      return new Sequence(
          segments.stream().map(s -> new Segment(s.text(), true)).toList(), specialTokens);
    }
  }

  /** What a format may use of the model: its chat template and its tokens. */
  @ProviderType
  interface Context {
    /** Whether the model has a chat template. */
    boolean hasChatTemplate();

    /**
     * Renders a conversation with the model's chat template, as {@code apply_chat_template} does;
     * each assistant reply and the end-of-turn marker after it are learned, the rest is context.
     *
     * @throws IllegalArgumentException when the model has no chat template, or the template does
     *     not render a reply verbatim (so it cannot be masked)
     */
    Sequence chat(List<Message> messages);

    /** The text of the tokenizer's end-of-text token, such as {@code </s>}, if it has one. */
    Optional<String> eosToken();

    /** Whether the tokenizer has {@code token} as one token, e.g. {@code <|im_start|>}. */
    boolean hasToken(String token);
  }

  /**
   * Renders one sample.
   *
   * @param sample the sample as read from the data
   * @param context the model's chat template and tokens
   * @return one sequence per batch row: one for supervised fine-tuning; for a pairwise {@link
   *     Objective} (DPO), the chosen sequence, then the rejected one (the platform checks the count
   *     against the objective's layout)
   * @throws IllegalArgumentException for a sample the format cannot render (one sentence saying
   *     why)
   */
  List<Sequence> format(Sample sample, Context context);

  /**
   * The settings a generation or evaluation run needs to reproduce the prompt format (template,
   * system prompt, …), saved as {@code graft_sample_format.json} beside the trained adapter or
   * model. The default saves nothing.
   */
  default Map<String, Object> settings() {
    return Map.of();
  }
}
