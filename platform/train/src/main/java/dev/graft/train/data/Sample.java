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

  /**
   * {@code {"prompt": …, "completion": …}}, and Alpaca's {@code {"instruction", "input", "output"}}
   * read as prompt {@code instruction\n\ninput} and completion {@code output}.
   */
  record PromptCompletion(String prompt, String completion) implements Sample {
    public PromptCompletion {
      Objects.requireNonNull(prompt, "prompt");
      Objects.requireNonNull(completion, "completion");
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
