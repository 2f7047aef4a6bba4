package dev.graft.train.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.graft.model.ChatTemplate;
import dev.graft.model.Tokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The preference formats DPO reads: Anthropic's hh-rlhf dialogues, TRL's conversational pairs,
 * renamed columns, and TRL's prompt and sequence truncation.
 */
class PreferenceFormatsTest {
  @TempDir Path dir;

  private Path write(String content) throws Exception {
    Path file = dir.resolve("data.jsonl");
    Files.writeString(file, content);
    return file;
  }

  private static Path shared(String path) {
    Path p = Path.of("../../../shared").resolve(path).toAbsolutePath().normalize();
    Assumptions.assumeTrue(Files.exists(p), "../shared not found (" + p + "): skipping");
    return p;
  }

  @Test
  void anHhRlhfDialogueIsSplitAfterItsLastAssistantTurnEvenWhenTheRepliesStartAlike() {
    Sample.Preference p =
        Sample.Preference.implicit(
            "\n\nHuman: hi\n\nAssistant: I am fine.", "\n\nHuman: hi\n\nAssistant: I am not.");
    assertEquals(
        new Sample.Preference("\n\nHuman: hi\n\nAssistant:", " I am fine.", " I am not."), p);
  }

  @Test
  void theSharedHhRlhfFileIsReadGzippedAsPairsThatShareTheDialogueUpToTheLastAssistantTurn()
      throws Exception {
    List<Sample> pairs =
        Jsonl.read(shared("data/hh-rlhf/harmless-base-test.jsonl.gz"), null, Map.of(), 50);
    assertEquals(50, pairs.size());
    for (Sample s : pairs) {
      Sample.Preference p = (Sample.Preference) s;
      assertTrue(p.prompt().endsWith(Sample.Preference.ASSISTANT_TURN), p.prompt());
      assertTrue(!p.chosen().contains(Sample.Preference.ASSISTANT_TURN), p.chosen());
    }
  }

  @Test
  void renamedColumnsReadAPreferencePair() throws Exception {
    Path file = write("{\"question\": \"Q\", \"good\": \" yes\", \"bad\": \" no\"}\n");
    assertEquals(
        List.of(new Sample.Preference("Q", " yes", " no")),
        Jsonl.read(
            file,
            Jsonl.Format.PREFERENCE,
            Map.of("prompt", "question", "chosen", "good", "rejected", "bad"),
            0));
  }

  @Test
  void aLineThatIsNotAPairIsAnErrorNamingTheFileAndLine() throws Exception {
    Path file =
        write(
            "{\"prompt\": \"Q\", \"chosen\": \" yes\", \"rejected\": \" no\"}\n{\"text\": \"x\"}\n");
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Jsonl.read(file, null, Map.of(), 0));
    assertEquals(
        file
            + ":2: a preference pair needs \"chosen\" and \"rejected\" fields (and optionally"
            + " \"prompt\"); name other fields with data_columns.",
        e.getMessage());
  }

  @Test
  void aConversationalPairIsRenderedWithTheChatTemplateEachCompletionAfterThePrompt()
      throws Exception {
    Path qwen = shared("tokenizers/qwen3");
    Tokenizer tokenizer = Tokenizer.load(qwen);
    ChatTemplate template = ChatTemplate.load(qwen);
    Path file =
        write(
            "{\"prompt\": [{\"role\": \"user\", \"content\": \"Sky colour?\"}],"
                + " \"chosen\": [{\"role\": \"assistant\", \"content\": \"Blue.\"}],"
                + " \"rejected\": [{\"role\": \"assistant\", \"content\": \"Green.\"}]}\n");
    Jsonl.Line line = Jsonl.lines(file, null, Map.of(), 0, List.of()).get(0);
    List<Encoded> rows =
        Encoded.rows(
            line,
            0,
            tokenizer,
            template,
            null,
            RowLayout.PAIRS,
            new Encoded.Settings(128, true, true, false),
            w -> {});
    List<Map<String, String>> prompt = List.of(Map.of("role", "user", "content", "Sky colour?"));
    String head = template.render(prompt, true);
    int promptTokens = tokenizer.encode(head, false).length;
    String[] replies = {"Blue.", "Green."};
    for (int r = 0; r < 2; r++) {
      String whole =
          template.render(
              List.of(prompt.get(0), Map.of("role", "assistant", "content", replies[r])), false);
      Encoded e = rows.get(r);
      assertArrayEquals(tokenizer.encode(whole, false), e.ids(), whole);
      for (int i = 0; i < e.ids().length; i++) {
        assertEquals(i >= promptTokens, e.learn()[i], "row " + r + " token " + i);
      }
    }
  }

  @Test
  void maxPromptLengthKeepsThePromptsEndAndTheWholeCompletion() throws Exception {
    Tokenizer t = Tokenizer.load(shared("models/stories260K"));
    Sample.Preference p = new Sample.Preference("Once upon a time there was", " a cat", " a dog");
    Encoded whole =
        Encoded.rows(
                new Jsonl.Line(p, Map.of()),
                0,
                t,
                null,
                null,
                RowLayout.PAIRS,
                new Encoded.Settings(64, true, true, false),
                w -> {})
            .get(0);
    Encoded cut =
        Encoded.rows(
                new Jsonl.Line(p, Map.of()),
                0,
                t,
                null,
                null,
                RowLayout.PAIRS,
                new Encoded.Settings(64, true, true, false, 3, false),
                w -> {})
            .get(0);
    int learned = 0;
    for (boolean b : whole.learn()) {
      learned += b ? 1 : 0;
    }
    assertEquals(3 + learned, cut.ids().length);
    assertArrayEquals(
        Arrays.copyOfRange(whole.ids(), whole.ids().length - cut.ids().length, whole.ids().length),
        cut.ids());
  }

  @Test
  void keepEndCutsALongSequenceAtItsStart() throws Exception {
    Tokenizer t = Tokenizer.load(shared("models/stories260K"));
    Sample sample = new Sample.Text("Once upon a time there was a little dog named Max.");
    Encoded whole =
        Encoded.of(sample, 0, t, null, new Encoded.Settings(64, true, true, false), w -> {});
    Encoded end =
        Encoded.of(
            sample, 0, t, null, new Encoded.Settings(5, true, true, false, 0, true), w -> {});
    Encoded start =
        Encoded.of(sample, 0, t, null, new Encoded.Settings(5, true, true, false), w -> {});
    int n = whole.ids().length;
    assertArrayEquals(Arrays.copyOfRange(whole.ids(), n - 5, n), end.ids());
    assertArrayEquals(Arrays.copyOf(whole.ids(), 5), start.ids());
  }
}
