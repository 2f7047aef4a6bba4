package dev.graft.train.data;

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
 * {@code assistant_only_loss}); plain text is learned whole. Every sample ends with the end-of-text
 * token, which is learned, so that the model learns to stop.
 *
 * @param ids token ids
 * @param learn whether each token is a prediction target
 */
public record Encoded(int[] ids, boolean[] learn) {
  /** How samples become tokens. */
  public record Settings(
      int maxLength, boolean completionOnly, boolean assistantOnly, boolean failOnOverflow) {}

  /**
   * Encodes one sample.
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
    Builder b = new Builder(tokenizer, !(sample instanceof Sample.Conversation));
    if (sample instanceof Sample.Text t) {
      b.add(t.text(), true);
    } else if (sample instanceof Sample.PromptCompletion pc) {
      b.add(pc.prompt(), !settings.completionOnly());
      b.add(pc.completion(), true);
    } else {
      Sample.Conversation c = (Sample.Conversation) sample;
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
      String full = template.render(messages(c.messages()), false);
      String marker = endOfTurn(template);
      int cursor = 0;
      for (Sample.Message m : c.messages()) {
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
                  + " cannot be masked; set assistant_only_loss=false.");
        }
        int end = at + reply.length();
        String after = full.substring(end);
        String rest = after.stripLeading();
        if (!marker.isEmpty() && rest.startsWith(marker)) {
          end += after.length() - rest.length() + marker.length();
        }
        b.add(full.substring(cursor, at), !settings.assistantOnly());
        b.add(full.substring(at, end), true);
        cursor = end;
      }
      b.add(full.substring(cursor), !settings.assistantOnly());
    }
    b.end();
    return b.build(index, settings, warnings);
  }

  /**
   * Encodes samples in order, as {@link #of(Sample, int, Tokenizer, ChatTemplate, Settings,
   * Consumer)} does each.
   */
  public static List<Encoded> all(
      List<Sample> samples,
      Tokenizer tokenizer,
      ChatTemplate template,
      Settings settings,
      Consumer<String> warnings) {
    List<Encoded> encoded = new ArrayList<>();
    for (int i = 0; i < samples.size(); i++) {
      encoded.add(of(samples.get(i), i, tokenizer, template, settings, warnings));
    }
    return encoded;
  }

  private static List<Map<String, String>> messages(List<Sample.Message> turns) {
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

    void end() {
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
      tokenizer
          .eosId()
          .ifPresent(
              eos -> {
                if (ids.isEmpty() || ids.get(ids.size() - 1) != eos) {
                  ids.add(eos);
                  learn.add(true);
                }
              });
    }

    Encoded build(int index, Settings settings, Consumer<String> warnings) {
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
                + ".");
        n = settings.maxLength();
      }
      int[] idArray = new int[n];
      boolean[] learnArray = new boolean[n];
      for (int i = 0; i < n; i++) {
        idArray[i] = ids.get(i);
        learnArray[i] = learn.get(i);
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
    return o instanceof Encoded e && Arrays.equals(ids, e.ids) && Arrays.equals(learn, e.learn);
  }

  @Override
  public int hashCode() {
    return 31 * Arrays.hashCode(ids) + Arrays.hashCode(learn);
  }

  @Override
  public String toString() {
    return Arrays.toString(ids);
  }
}
