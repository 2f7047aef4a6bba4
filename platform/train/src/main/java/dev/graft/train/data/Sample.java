package dev.graft.train.data;

import java.util.List;
import java.util.Objects;

/** One training sample, in one of the shapes Graft reads from JSONL. */
public sealed interface Sample {
  /** {@code {"text": …}}: plain language-model data; the loss covers every token. */
  record Text(String text) implements Sample {
    public Text {
      Objects.requireNonNull(text, "text");
    }
  }

  /** {@code {"prompt": …, "completion": …}}: the loss covers the completion by default. */
  record PromptCompletion(String prompt, String completion) implements Sample {
    public PromptCompletion {
      Objects.requireNonNull(prompt, "prompt");
      Objects.requireNonNull(completion, "completion");
    }
  }

  /**
   * Alpaca's {@code {"instruction", "input", "output"}}, the two prompt parts kept apart for
   * templates that place them differently (Alpaca's "### Input:"). Without a template it is a
   * prompt/completion sample: {@link #asPromptCompletion()}.
   *
   * @param input the further context; empty when the sample has none
   */
  record Instruction(String instruction, String input, String output) implements Sample {
    public Instruction {
      Objects.requireNonNull(instruction, "instruction");
      Objects.requireNonNull(input, "input");
      Objects.requireNonNull(output, "output");
    }

    /** Prompt {@code instruction\n\ninput} (or the instruction alone) and completion output. */
    public PromptCompletion asPromptCompletion() {
      return new PromptCompletion(
          input.isEmpty() ? instruction : instruction + "\n\n" + input, output);
    }
  }

  /**
   * {@code {"prompt": …, "chosen": …, "rejected": …}}: a preference pair for a pairwise objective
   * (DPO); the log-probabilities cover the two completions, not the prompt.
   */
  record Preference(String prompt, String chosen, String rejected) implements Sample {
    public Preference {
      Objects.requireNonNull(prompt, "prompt");
      Objects.requireNonNull(chosen, "chosen");
      Objects.requireNonNull(rejected, "rejected");
    }

    /** Where Anthropic's hh-rlhf dialogues hand the turn to the assistant. */
    public static final String ASSISTANT_TURN = "\n\nAssistant:";

    /**
     * A pair given as two whole texts: the prompt is their shared start. A dialogue in Anthropic's
     * hh-rlhf format is split after the last {@value #ASSISTANT_TURN} the two share (as the hh-rlhf
     * splits TRL publishes are made), so a reply that starts alike in both stays whole; other texts
     * at their longest common start, ending before a space where they part after one, as TRL's
     * {@code extract_prompt} does.
     */
    public static Preference implicit(String chosen, String rejected) {
      int n = Math.min(chosen.length(), rejected.length());
      int at = 0;
      while (at < n && chosen.charAt(at) == rejected.charAt(at)) {
        at++;
      }
      int turn = chosen.lastIndexOf(ASSISTANT_TURN, at - ASSISTANT_TURN.length());
      if (turn >= 0) {
        at = turn + ASSISTANT_TURN.length();
      } else if (at < n && at > 0 && chosen.charAt(at - 1) == ' ') {
        at--;
      }
      return new Preference(chosen.substring(0, at), chosen.substring(at), rejected.substring(at));
    }
  }

  /**
   * A preference pair in TRL's conversational form: {@code {"prompt": [messages…], "chosen":
   * [messages…], "rejected": [messages…]}}, rendered with the model's chat template ({@link
   * #render}); without {@code prompt}, the messages that chosen and rejected share at their start
   * are the prompt.
   */
  record ChatPreference(List<Message> prompt, List<Message> chosen, List<Message> rejected)
      implements Sample {
    public ChatPreference {
      prompt = List.copyOf(prompt);
      chosen = List.copyOf(chosen);
      rejected = List.copyOf(rejected);
    }

    /** A pair given as two whole conversations: the messages both start with are the prompt. */
    public static ChatPreference implicit(List<Message> chosen, List<Message> rejected) {
      int at = 0;
      while (at < Math.min(chosen.size(), rejected.size())
          && chosen.get(at).equals(rejected.get(at))) {
        at++;
      }
      return new ChatPreference(
          chosen.subList(0, at),
          chosen.subList(at, chosen.size()),
          rejected.subList(at, rejected.size()));
    }

    /**
     * The pair as text, as TRL's {@code maybe_apply_chat_template} renders it: the prompt with the
     * generation prompt, each completion as what the whole conversation renders after the prompt.
     *
     * @param render messages → text, with or without the generation prompt
     * @throws IllegalArgumentException when a whole conversation does not start with the prompt's
     *     text, so that the completion cannot be told apart
     */
    public Preference render(
        java.util.function.BiFunction<List<Message>, Boolean, String> render, int index) {
      String head = render.apply(prompt, true);
      return new Preference(
          head, after(head, chosen, render, index), after(head, rejected, render, index));
    }

    private String after(
        String head,
        List<Message> completion,
        java.util.function.BiFunction<List<Message>, Boolean, String> render,
        int index) {
      List<Message> whole = new java.util.ArrayList<>(prompt);
      whole.addAll(completion);
      String text = render.apply(whole, false);
      if (!text.startsWith(head)) {
        throw new IllegalArgumentException(
            "Sample "
                + (index + 1)
                + ": the chat template renders the conversation without its prompt's text at the"
                + " start, so the completion cannot be told apart; give prompt, chosen and"
                + " rejected as strings.");
      }
      return text.substring(head.length());
    }
  }

  /** {@code {"messages": [{"role": …, "content": …}, …]}}: a conversation for a chat template. */
  record Conversation(List<Message> messages) implements Sample {
    public Conversation {
      messages = List.copyOf(messages);
    }
  }

  /** One turn of a conversation; roles are {@code system}, {@code user} and {@code assistant}. */
  record Message(String role, String content) {
    public Message {
      Objects.requireNonNull(role, "role");
      Objects.requireNonNull(content, "content");
    }
  }
}
