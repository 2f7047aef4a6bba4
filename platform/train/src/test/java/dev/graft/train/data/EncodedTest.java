package dev.graft.train.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.graft.model.ChatTemplate;
import dev.graft.model.Tokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

class EncodedTest {
  private static Path shared(String path) {
    Path p = Path.of("../../../shared").resolve(path).toAbsolutePath().normalize();
    Assumptions.assumeTrue(Files.exists(p), "../shared not found (" + p + "): skipping");
    return p;
  }

  private static final Encoded.Settings SETTINGS = new Encoded.Settings(64, true, true, false);

  @Test
  void aCompletionIsLearnedAndItsPromptIsNot() throws Exception {
    Tokenizer t = Tokenizer.load(shared("models/stories260K"));
    Encoded e =
        Encoded.of(
            new Sample.PromptCompletion("Once upon a time", " there was a cat"),
            0,
            t,
            null,
            SETTINGS,
            w -> {});
    int[] whole = t.encode("Once upon a time there was a cat", true);
    assertArrayEquals(
        whole,
        java.util.Arrays.copyOf(e.ids(), whole.length),
        "the text is tokenized as one piece");
    assertEquals(2, e.ids()[e.ids().length - 1], "</s> ends the sample");
    int prompt = t.encode("Once upon a time", true).length;
    for (int i = 0; i < e.ids().length; i++) {
      assertEquals(i >= prompt, e.learn()[i], "token " + i);
    }
    Encoded all =
        Encoded.of(
            new Sample.PromptCompletion("Once upon a time", " there was a cat"),
            0,
            t,
            null,
            new Encoded.Settings(64, false, true, false),
            w -> {});
    assertTrue(all.learn()[1]);
  }

  @Test
  void onlyAssistantTurnsAreLearnedInAConversation() throws Exception {
    Tokenizer t = Tokenizer.load(shared("tokenizers/qwen3"));
    ChatTemplate template = ChatTemplate.load(shared("tokenizers/qwen3"));
    Sample.Conversation chat =
        new Sample.Conversation(
            List.of(
                new Sample.Message("user", "Hi"),
                new Sample.Message("assistant", "Hello!"),
                new Sample.Message("user", "Bye"),
                new Sample.Message("assistant", "See you.")));
    Encoded e =
        Encoded.of(chat, 0, t, template, new Encoded.Settings(256, true, true, false), w -> {});
    StringBuilder learned = new StringBuilder();
    for (int i = 0; i < e.ids().length; i++) {
      if (e.learn()[i]) {
        learned.append(t.decode(new int[] {e.ids()[i]}, false));
      }
    }
    assertTrue(
        learned.toString().contains("Hello!") && learned.toString().contains("See you."),
        learned.toString());
    assertTrue(
        !learned.toString().contains("Hi") && !learned.toString().contains("Bye"),
        learned.toString());
    assertTrue(!learned.toString().contains("<|im_start|>assistant"), learned.toString());
  }

  @Test
  void longSamplesAreCutWithAWarningOrRefused() throws Exception {
    Tokenizer t = Tokenizer.load(shared("models/stories260K"));
    List<String> warnings = new ArrayList<>();
    Sample.Text long_ =
        new Sample.Text(
            "Once upon a time there was a little girl named Lily who loved to play outside.");
    Encoded cut =
        Encoded.of(long_, 4, t, null, new Encoded.Settings(8, true, true, false), warnings::add);
    assertEquals(8, cut.ids().length);
    assertTrue(warnings.get(0).startsWith("Sample 5 has "), warnings.get(0));
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                Encoded.of(long_, 4, t, null, new Encoded.Settings(8, true, true, true), w -> {}));
    assertTrue(
        e.getMessage().endsWith("more than max_length 8; raise max_length or set truncation=warn."),
        e.getMessage());
  }

  @Test
  void aConversationNeedsAChatTemplate() throws Exception {
    Tokenizer t = Tokenizer.load(shared("models/stories260K"));
    Sample.Conversation chat =
        new Sample.Conversation(
            List.of(new Sample.Message("user", "Hi"), new Sample.Message("assistant", "Hello")));
    assertTrue(
        assertThrows(
                IllegalArgumentException.class,
                () -> Encoded.of(chat, 0, t, null, SETTINGS, w -> {}))
            .getMessage()
            .startsWith("Sample 1 is a conversation, but the model has no chat template"));
  }
}
