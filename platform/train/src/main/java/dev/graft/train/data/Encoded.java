package dev.graft.train.data;

import dev.graft.api.adapt.SampleFormat;
import dev.graft.model.ChatTemplate;
import dev.graft.model.Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * A sample as token ids with, for each token, whether the loss learns to predict it. The loss
 * covers completions and assistant turns only by default (TRL's {@code completion_only_loss} and
 * {@code assistant_only_loss}); plain text is learned whole; a method's {@link SampleFormat} can
 * render samples otherwise (instruction tuning). Every sample ends with a learned token that
 * teaches the model to stop: the end-of-text token, or the chat template's end-of-turn marker.
 *
 * @param ids token ids
 * @param learn whether each token is a prediction target
 * @param columns the sample's extra integer inputs by name (see {@link Jsonl.Line}), fed for each
 *     of its tokens
 */
public record Encoded(int[] ids, boolean[] learn, Map<String, Long> columns) {
  /** Copies the column map. */
  public Encoded {
    columns = Map.copyOf(columns);
  }

  /** A sequence without extra columns. */
  public Encoded(int[] ids, boolean[] learn) {
    this(ids, learn, Map.of());
  }

  /**
   * How samples become tokens.
   *
   * @param maxPromptLength the most tokens of the prompt (what comes before the first learned
   *     token) that are kept, its end as TRL's DPO keeps it; 0 keeps it whole
   * @param keepEnd whether a sequence longer than {@code maxLength} keeps its end (TRL's {@code
   *     truncation_mode=keep_end}) rather than its start ({@code keep_start}, the default)
   */
  public record Settings(
      int maxLength,
      boolean completionOnly,
      boolean assistantOnly,
      boolean failOnOverflow,
      int maxPromptLength,
      boolean keepEnd) {
    /** Settings that keep whole prompts and cut long sequences at the end. */
    public Settings(
        int maxLength, boolean completionOnly, boolean assistantOnly, boolean failOnOverflow) {
      this(maxLength, completionOnly, assistantOnly, failOnOverflow, 0, false);
    }

    /**
     * These settings with {@code maxLength} at most {@code context}, the model's {@code
     * max_position_embeddings}: a token past it has no position to run at.
     */
    public Settings within(int context) {
      return maxLength <= context
          ? this
          : new Settings(
              context, completionOnly, assistantOnly, failOnOverflow, maxPromptLength, keepEnd);
    }
  }

  /**
   * Encodes one sample as the platform renders it by default (TRL's defaults).
   *
   * @param template the model's chat template, or null if it has none
   * @param warnings receives one sentence per truncated sample
   * @throws IllegalArgumentException for a conversation without a chat template, or for a sample
   *     longer than {@code maxLength} when overflow fails
   */
  public static Encoded of(
      Sample sample,
      int index,
      Tokenizer tokenizer,
      ChatTemplate template,
      Settings settings,
      Consumer<String> warnings) {
    return of(sample, index, tokenizer, template, null, settings, warnings);
  }

  /**
   * Encodes one sample as a method's {@link SampleFormat} renders it, or as the platform does when
   * {@code format} is null.
   *
   * @throws IllegalArgumentException as {@link #of(Sample, int, Tokenizer, ChatTemplate, Settings,
   *     Consumer)} does, or when the format renders other than one sequence
   */
  public static Encoded of(
      Sample sample,
      int index,
      Tokenizer tokenizer,
      ChatTemplate template,
      SampleFormat format,
      Settings settings,
      Consumer<String> warnings) {
    SampleFormat.Sequence sequence = render(sample, index, tokenizer, template, format, settings);
    return of(sequence, index, tokenizer, settings, warnings);
  }

  /**
   * Encodes one data line into the rows {@code layout} gives it: one sequence, or a (chosen,
   * rejected) pair; each carries the line's extra columns.
   *
   * @throws IllegalArgumentException as {@link #of(Sample, int, Tokenizer, ChatTemplate,
   *     SampleFormat, Settings, Consumer)} does, or when the sample renders to another number of
   *     sequences than the layout takes
   */
  public static List<Encoded> rows(
      Jsonl.Line line,
      int index,
      Tokenizer tokenizer,
      ChatTemplate template,
      SampleFormat format,
      RowLayout layout,
      Settings settings,
      Consumer<String> warnings) {
    List<Encoded> rows = new ArrayList<>();
    for (SampleFormat.Sequence sequence :
        sequences(line.sample(), index, tokenizer, template, format, layout, settings)) {
      Encoded e = of(sequence, index, tokenizer, settings, warnings);
      rows.add(new Encoded(e.ids(), e.learn(), line.columns()));
    }
    return rows;
  }

  /**
   * Encodes rendered text: tokenized whole, each token learned as its segment is, cut to {@code
   * maxLength}.
   */
  public static Encoded of(
      SampleFormat.Sequence sequence,
      int index,
      Tokenizer tokenizer,
      Settings settings,
      Consumer<String> warnings) {
    Builder b = new Builder(tokenizer, sequence.specialTokens());
    sequence.segments().forEach(s -> b.add(s.text(), s.learned()));
    b.end(sequence.specialTokens());
    return b.build(index, settings, warnings);
  }

  /**
   * The text of one sample, in segments that are learned or not: as a method's {@link SampleFormat}
   * renders it, or as the platform does when {@code format} is null.
   *
   * @throws IllegalArgumentException when the sample cannot be rendered, or the format renders
   *     other than one sequence
   */
  public static SampleFormat.Sequence render(
      Sample sample,
      int index,
      Tokenizer tokenizer,
      ChatTemplate template,
      SampleFormat format,
      Settings settings) {
    return sequences(sample, index, tokenizer, template, format, RowLayout.SINGLE, settings).get(0);
  }

  /**
   * The texts of one sample's rows, as many as {@code layout} takes: as a method's {@link
   * SampleFormat} renders them, or as the platform does when {@code format} is null.
   */
  static List<SampleFormat.Sequence> sequences(
      Sample sample,
      int index,
      Tokenizer tokenizer,
      ChatTemplate template,
      SampleFormat format,
      RowLayout layout,
      Settings settings) {
    if (format == null) {
      return standard(sample, index, template, tokenizer, layout, settings);
    }
    List<SampleFormat.Sequence> rendered =
        format.format(FormatContext.sample(sample), new FormatContext(index, tokenizer, template));
    if (rendered.size() != layout.sequences()) {
      throw new IllegalArgumentException(
          "Sample "
              + (index + 1)
              + " is rendered as "
              + rendered.size()
              + " sequences; "
              + (layout == RowLayout.PAIRS
                  ? "a pairwise objective takes a (chosen, rejected) pair per sample."
                  : "supervised fine-tuning takes one per sample."));
    }
    return rendered;
  }

  /**
   * The platform's rendering of a sample into {@code layout}'s rows: a preference sample as its
   * (chosen, rejected) pair for {@link RowLayout#PAIRS}, each completion learned after its prompt
   * (TRL's DPO); any other sample as one sequence for {@link RowLayout#SINGLE}.
   */
  private static List<SampleFormat.Sequence> standard(
      Sample sample,
      int index,
      ChatTemplate template,
      Tokenizer tokenizer,
      RowLayout layout,
      Settings settings) {
    if (sample instanceof Sample.ChatPreference cp && layout == RowLayout.PAIRS) {
      if (template == null) {
        throw new IllegalArgumentException(
            "Sample "
                + (index + 1)
                + " is a conversational preference pair, but the model has no chat template; add"
                + " one to tokenizer_config.json or give prompt, chosen and rejected as strings.");
      }
      Sample.Preference p =
          cp.render(
              (messages, generation) -> template.render(Jsonl.maps(messages), generation), index);
      // Templates write their own special tokens (as apply_chat_template does).
      return List.of(
          completion(p.prompt(), p.chosen(), false), completion(p.prompt(), p.rejected(), false));
    }
    boolean preference =
        sample instanceof Sample.Preference || sample instanceof Sample.ChatPreference;
    if (layout == RowLayout.PAIRS && !preference) {
      throw new IllegalArgumentException(
          "Sample "
              + (index + 1)
              + " is not a preference pair; the pairwise objective needs data with chosen and"
              + " rejected fields (data_format=preference).");
    }
    if (layout == RowLayout.SINGLE && preference) {
      throw new IllegalArgumentException(
          "Sample "
              + (index + 1)
              + " is a preference pair (chosen, rejected); train it with a method whose objective"
              + " is pairwise, such as dpo, or use prompt/completion data.");
    }
    if (sample instanceof Sample.Preference p) {
      return List.of(
          completion(p.prompt(), p.chosen(), true), completion(p.prompt(), p.rejected(), true));
    }
    return List.of(standard(sample, index, template, tokenizer, settings));
  }

  /**
   * A prompt as context, then a learned completion, with the tokenizer's special tokens or without
   * (a chat template's text has its own).
   */
  private static SampleFormat.Sequence completion(
      String prompt, String completion, boolean specialTokens) {
    return new SampleFormat.Sequence(
        List.of(
            new SampleFormat.Segment(prompt, false), new SampleFormat.Segment(completion, true)),
        specialTokens);
  }

  /**
   * The platform's own rendering (TRL's defaults): plain text learned whole; prompt + completion
   * concatenated, the prompt learned only without {@code completionOnly}; instruction data as
   * prompt/completion; conversations with the chat template, only assistant replies learned with
   * {@code assistantOnly}.
   */
  private static SampleFormat.Sequence standard(
      Sample sample, int index, ChatTemplate template, Tokenizer tokenizer, Settings settings) {
    if (sample instanceof Sample.Text t) {
      return new SampleFormat.Sequence(List.of(new SampleFormat.Segment(t.text(), true)), true);
    }
    if (sample instanceof Sample.Instruction i) {
      return standard(i.asPromptCompletion(), index, template, tokenizer, settings);
    }
    if (sample instanceof Sample.PromptCompletion pc) {
      return new SampleFormat.Sequence(
          List.of(
              new SampleFormat.Segment(pc.prompt(), !settings.completionOnly()),
              new SampleFormat.Segment(pc.completion(), true)),
          true);
    }
    SampleFormat.Sequence chat =
        chat(
            FormatContext.sample(sample).messages(),
            index,
            tokenizer,
            template,
            "; set assistant_only_loss=false.");
    return settings.assistantOnly() ? chat : chat.learnAll();
  }

  /**
   * Renders a conversation with the chat template: the reply of each assistant turn and the
   * template's end-of-turn marker after it are learned, the rest is context.
   *
   * @param hint how to avoid the error when a reply is not rendered verbatim
   */
  static SampleFormat.Sequence chat(
      List<SampleFormat.Message> messages,
      int index,
      Tokenizer tokenizer,
      ChatTemplate template,
      String hint) {
    if (template == null) {
      throw new IllegalArgumentException(
          "Sample "
              + (index + 1)
              + " is a conversation, but the model has no chat template; add one to"
              + " tokenizer_config.json or use prompt/completion data.");
    }
    // Render the whole conversation once (templates may render earlier turns differently when
    // later ones follow, as Qwen3 does with reasoning), then find each assistant reply in it: the
    // reply and the template's end-of-turn marker are learned, the rest is context. Templates
    // write their own special tokens, so none are added (as apply_chat_template does).
    String full = template.render(maps(messages), false);
    String marker = endOfTurn(template);
    List<SampleFormat.Segment> segments = new ArrayList<>();
    int cursor = 0;
    for (SampleFormat.Message m : messages) {
      if (!m.role().equals("assistant")) {
        continue;
      }
      String reply = m.content().strip();
      int at = reply.isEmpty() ? -1 : full.indexOf(reply, cursor);
      if (at < 0) {
        throw new IllegalArgumentException(
            "Sample "
                + (index + 1)
                + ": the chat template does not render an assistant reply verbatim, so it"
                + " cannot be masked"
                + hint);
      }
      int end = at + reply.length();
      String after = full.substring(end);
      String rest = after.stripLeading();
      if (!marker.isEmpty() && rest.startsWith(marker)) {
        end += after.length() - rest.length() + marker.length();
      }
      segments.add(new SampleFormat.Segment(full.substring(cursor, at), false));
      segments.add(new SampleFormat.Segment(full.substring(at, end), true));
      cursor = end;
    }
    segments.add(new SampleFormat.Segment(full.substring(cursor), false));
    // The end-of-turn marker teaches the model to stop; a template without one gets the
    // end-of-text token, learned.
    if (marker.isEmpty()) {
      FormatContext.eosToken(tokenizer)
          .ifPresent(eos -> segments.add(new SampleFormat.Segment(eos, true)));
    }
    return new SampleFormat.Sequence(segments, false);
  }

  /**
   * Encodes samples in order, as {@link #of(Sample, int, Tokenizer, ChatTemplate, SampleFormat,
   * Settings, Consumer)} does each.
   *
   * @param format a method's sample format, or null for the platform's rendering
   */
  public static List<Encoded> all(
      List<Sample> samples,
      Tokenizer tokenizer,
      ChatTemplate template,
      SampleFormat format,
      Settings settings,
      Consumer<String> warnings) {
    List<Encoded> encoded = new ArrayList<>();
    for (int i = 0; i < samples.size(); i++) {
      encoded.add(of(samples.get(i), i, tokenizer, template, format, settings, warnings));
    }
    return encoded;
  }

  private static List<Map<String, String>> maps(List<SampleFormat.Message> turns) {
    return turns.stream().map(t -> Map.of("role", t.role(), "content", t.content())).toList();
  }

  /**
   * What the template writes right after an assistant reply, such as {@code <|im_end|>}: found by
   * rendering a probe conversation; empty when the template writes nothing there.
   */
  private static String endOfTurn(ChatTemplate template) {
    String probe = "\u2063graft-probe\u2063";
    String text =
        template.render(
            List.of(
                Map.of("role", "user", "content", "x"),
                Map.of("role", "assistant", "content", probe)),
            false);
    int at = text.lastIndexOf(probe);
    return at < 0 ? "" : text.substring(at + probe.length()).strip();
  }

  /**
   * Collects text segments and whether each is learned, then tokenizes the whole text at once (so
   * no token is split differently than in the full text, as TRL does) and flags each token by the
   * segment that the token count of each prefix assigns it to.
   */
  private static final class Builder {
    private final Tokenizer tokenizer;
    private final boolean addSpecialTokens;
    private final List<String> texts = new ArrayList<>();
    private final List<Boolean> learned = new ArrayList<>();
    private final List<Integer> ids = new ArrayList<>();
    private final List<Boolean> learn = new ArrayList<>();

    Builder(Tokenizer tokenizer, boolean addSpecialTokens) {
      this.tokenizer = tokenizer;
      this.addSpecialTokens = addSpecialTokens;
    }

    void add(String text, boolean learnedSegment) {
      if (!text.isEmpty()) {
        texts.add(text);
        learned.add(learnedSegment);
      }
    }

    /** Tokenizes the text; with {@code eos}, a learned end-of-text token closes it. */
    void end(boolean eos) {
      StringBuilder prefix = new StringBuilder();
      int done = 0;
      int[] all = tokenizer.encode(String.join("", texts), addSpecialTokens);
      for (int k = 0; k < texts.size(); k++) {
        prefix.append(texts.get(k));
        int upTo =
            k == texts.size() - 1
                ? all.length
                : Math.min(
                    all.length, tokenizer.encode(prefix.toString(), addSpecialTokens).length);
        for (int i = done; i < upTo; i++) {
          ids.add(all[i]);
          learn.add(learned.get(k));
        }
        done = Math.max(done, upTo);
      }
      if (!eos) {
        return;
      }
      tokenizer
          .eosId()
          .ifPresent(
              id -> {
                if (ids.isEmpty() || ids.get(ids.size() - 1) != id) {
                  ids.add(id);
                  learn.add(true);
                }
              });
    }

    Encoded build(int index, Settings settings, Consumer<String> warnings) {
      int prompt = learn.indexOf(true) < 0 ? 0 : learn.indexOf(true);
      if (settings.maxPromptLength() > 0 && prompt > settings.maxPromptLength()) {
        // The prompt keeps its end, next to the completion (TRL's DPO tokenize_row).
        ids.subList(0, prompt - settings.maxPromptLength()).clear();
        learn.subList(0, prompt - settings.maxPromptLength()).clear();
      }
      int n = ids.size();
      if (n > settings.maxLength()) {
        if (settings.failOnOverflow()) {
          throw new IllegalArgumentException(
              "Sample "
                  + (index + 1)
                  + " has "
                  + n
                  + " tokens, more than max_length "
                  + settings.maxLength()
                  + "; raise max_length or set truncation=warn.");
        }
        warnings.accept(
            "Sample "
                + (index + 1)
                + " has "
                + n
                + " tokens; it is cut to max_length "
                + settings.maxLength()
                + (settings.keepEnd() ? " (its end kept)." : "."));
        n = settings.maxLength();
      }
      int from = settings.keepEnd() ? ids.size() - n : 0;
      int[] idArray = new int[n];
      boolean[] learnArray = new boolean[n];
      for (int i = 0; i < n; i++) {
        idArray[i] = ids.get(from + i);
        learnArray[i] = learn.get(from + i);
      }
      return new Encoded(idArray, learnArray);
    }
  }

  /** Whether any token after the first is learned (a sample that teaches nothing is skipped). */
  public boolean teaches() {
    for (int i = 1; i < learn.length; i++) {
      if (learn[i]) {
        return true;
      }
    }
    return false;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Encoded e
        && Arrays.equals(ids, e.ids)
        && Arrays.equals(learn, e.learn)
        && columns.equals(e.columns);
  }

  @Override
  public int hashCode() {
    return 31 * (31 * Arrays.hashCode(ids) + Arrays.hashCode(learn)) + columns.hashCode();
  }

  @Override
  public String toString() {
    return Arrays.toString(ids);
  }
}
