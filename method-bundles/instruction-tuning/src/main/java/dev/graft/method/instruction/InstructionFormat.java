package dev.graft.method.instruction;

import dev.graft.api.Options;
import dev.graft.api.adapt.SampleFormat;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Renders samples as instruction-following conversations: an optional system message, the prompt as
 * the user's turn and the completion as the assistant's reply, with the model's chat template or an
 * instruction template; only the replies (and what ends them) are learned unless {@code
 * train_on_prompt}. Plain-text samples stay as they are: learned whole.
 */
final class InstructionFormat implements SampleFormat {
  /** The {@code template} choices. */
  enum Template {
    AUTO,
    CHAT,
    ALPACA,
    CHATML;

    String label() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  /** Stanford Alpaca's preamble for an instruction alone (LLaMA-Factory's alpaca template). */
  static final String ALPACA_PREAMBLE =
      "Below is an instruction that describes a task. Write a response that appropriately"
          + " completes the request.";

  /** Stanford Alpaca's preamble for an instruction with an input. */
  static final String ALPACA_INPUT_PREAMBLE =
      "Below is an instruction that describes a task, paired with an input that provides further"
          + " context. Write a response that appropriately completes the request.";

  static final String IM_START = "<|im_start|>";
  static final String IM_END = "<|im_end|>";

  private final Template template;
  private final String systemPrompt;
  private final boolean trainOnPrompt;
  // What "auto" became and the end-of-text token, seen at the first sample, for settings().
  private volatile Template resolved;
  private volatile String eos;

  InstructionFormat(Template template, String systemPrompt, boolean trainOnPrompt) {
    this.template = template;
    this.systemPrompt = systemPrompt;
    this.trainOnPrompt = trainOnPrompt;
  }

  static InstructionFormat of(Options options) {
    return new InstructionFormat(
        Template.valueOf(options.getString("template").toUpperCase(Locale.ROOT)),
        options.has("system_prompt") ? options.getString("system_prompt") : "",
        options.getBoolean("train_on_prompt"));
  }

  @Override
  public List<Sequence> format(Sample sample, Context context) {
    Template chosen = resolve(context);
    String input = "";
    List<Message> messages = new ArrayList<>();
    switch (sample.kind()) {
      case "text" -> {
        return List.of(new Sequence(List.of(new Segment(sample.field("text"), true)), true));
      }
      case "prompt_completion" -> {
        messages.add(new Message("user", sample.field("prompt")));
        messages.add(new Message("assistant", sample.field("completion")));
      }
      case "instruction" -> {
        input = sample.field("input");
        // Templates without an input slot read Graft's usual "instruction\n\ninput" prompt.
        String user =
            input.isEmpty() || chosen == Template.ALPACA
                ? sample.field("instruction")
                : sample.field("instruction") + "\n\n" + input;
        messages.add(new Message("user", user));
        messages.add(new Message("assistant", sample.field("output")));
      }
      case "messages" -> messages.addAll(sample.messages());
      default ->
          throw new IllegalArgumentException(
              "instruction-tuning cannot format \""
                  + sample.kind()
                  + "\" samples; it reads prompt/completion, instruction, messages and text data.");
    }
    if (!systemPrompt.isEmpty() && !messages.get(0).role().equals("system")) {
      messages.add(0, new Message("system", systemPrompt));
    }
    Sequence sequence =
        switch (chosen) {
          case CHAT -> context.chat(messages);
          case ALPACA -> alpaca(messages, input, context);
          default -> chatml(messages, context);
        };
    return List.of(trainOnPrompt ? sequence.learnAll() : sequence);
  }

  private Template resolve(Context context) {
    Template chosen =
        template == Template.AUTO
            ? (context.hasChatTemplate() ? Template.CHAT : Template.ALPACA)
            : template;
    if (chosen == Template.CHAT && !context.hasChatTemplate()) {
      throw new IllegalArgumentException(
          "instruction-tuning.template=chat needs the model's chat template, but the model has"
              + " none; set template to alpaca, chatml or auto.");
    }
    resolved = chosen;
    eos = context.eosToken().orElse("");
    return chosen;
  }

  /**
   * Stanford Alpaca's prompt, as LLaMA-Factory's {@code alpaca} template writes it: the preamble
   * (the system message replaces it), then per turn
   *
   * <pre>
   * ### Instruction:\n{user}[\n\n### Input:\n{input}]\n\n### Response:\n{reply}
   * </pre>
   *
   * with the end-of-text token and a blank line after every reply but the last, which the platform
   * closes with the end-of-text token. The input part (and its preamble) only for instruction
   * samples with an input.
   */
  private static Sequence alpaca(List<Message> messages, String input, Context context) {
    List<Segment> segments = new ArrayList<>();
    int first = 0;
    String preamble = input.isEmpty() ? ALPACA_PREAMBLE : ALPACA_INPUT_PREAMBLE;
    if (messages.get(0).role().equals("system")) {
      preamble = messages.get(0).content();
      first = 1;
    }
    StringBuilder pending = new StringBuilder(preamble).append("\n\n");
    String end = context.eosToken().orElse("");
    for (int i = first; i < messages.size(); i++) {
      Message m = messages.get(i);
      if (m.role().equals("assistant")) {
        segments.add(new Segment(pending.toString(), false));
        pending.setLength(0);
        boolean last = i == messages.size() - 1;
        segments.add(new Segment(last ? m.content() : m.content() + end, true));
        if (!last) {
          pending.append("\n\n");
        }
      } else {
        pending.append("### Instruction:\n").append(m.content());
        if (!input.isEmpty()) {
          pending.append("\n\n### Input:\n").append(input);
          input = "";
        }
        pending.append("\n\n### Response:\n");
      }
    }
    segments.add(new Segment(pending.toString(), false));
    return new Sequence(segments, true);
  }

  /**
   * ChatML: {@code <|im_start|>role\n{content}<|im_end|>\n} per message; a reply and its {@code
   * <|im_end|>} are learned. A tokenizer that has {@code <|im_end|>} (Qwen) reads the markers as
   * its special tokens and the text is complete; one that lacks them reads them as text, and its
   * own begin/end-of-text tokens frame the sequence so that the model still learns to stop.
   */
  private static Sequence chatml(List<Message> messages, Context context) {
    List<Segment> segments = new ArrayList<>();
    StringBuilder pending = new StringBuilder();
    for (Message m : messages) {
      pending.append(IM_START).append(m.role()).append('\n');
      if (m.role().equals("assistant")) {
        segments.add(new Segment(pending.toString(), false));
        segments.add(new Segment(m.content() + IM_END, true));
        pending.setLength(0);
      } else {
        pending.append(m.content()).append(IM_END);
      }
      pending.append('\n');
    }
    segments.add(new Segment(pending.toString(), false));
    return new Sequence(segments, !context.hasToken(IM_END));
  }

  /**
   * What generation needs to prompt the trained model the same way: the template and system prompt,
   * and for the instruction templates the prompt text (with {@code {prompt}}, or {@code
   * {instruction}} and {@code {input}}) and the text that ends a reply.
   */
  @Override
  public Map<String, Object> settings() {
    Map<String, Object> s = new LinkedHashMap<>();
    Template used = resolved == null ? template : resolved;
    s.put("template", used.label());
    s.put("system_prompt", systemPrompt);
    s.put("train_on_prompt", trainOnPrompt);
    String system = systemPrompt;
    switch (used) {
      case ALPACA -> {
        s.put(
            "prompt",
            (system.isEmpty() ? ALPACA_PREAMBLE : system)
                + "\n\n### Instruction:\n{prompt}\n\n### Response:\n");
        s.put(
            "prompt_with_input",
            (system.isEmpty() ? ALPACA_INPUT_PREAMBLE : system)
                + "\n\n### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n");
        s.put("stop", eos == null ? "" : eos);
      }
      case CHATML -> {
        s.put(
            "prompt",
            (system.isEmpty() ? "" : IM_START + "system\n" + system + IM_END + "\n")
                + IM_START
                + "user\n{prompt}"
                + IM_END
                + "\n"
                + IM_START
                + "assistant\n");
        s.put("stop", IM_END);
      }
      case CHAT -> s.put("prompt", "the model's chat template, with add_generation_prompt");
      default -> {}
    }
    return s;
  }
}
