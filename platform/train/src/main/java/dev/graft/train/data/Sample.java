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

    /**
     * A pair given as two whole texts (Anthropic's hh-rlhf): the prompt is their longest common
     * start, ending before a space where they part after one, as TRL's {@code extract_prompt} does.
     */
    public static Preference implicit(String chosen, String rejected) {
      int n = Math.min(chosen.length(), rejected.length());
      int at = 0;
      while (at < n && chosen.charAt(at) == rejected.charAt(at)) {
        at++;
      }
      if (at < n && at > 0 && chosen.charAt(at - 1) == ' ') {
        at--;
      }
      return new Preference(chosen.substring(0, at), chosen.substring(at), rejected.substring(at));
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
