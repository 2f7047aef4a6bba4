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
