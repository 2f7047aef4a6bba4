package dev.graft.train.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.graft.model.Tokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Preference data and extra integer columns, from the JSONL line to the encoded rows. */
class PreferenceDataTest {
  @TempDir Path dir;

  private static final Encoded.Settings SETTINGS = new Encoded.Settings(64, true, true, false);

  private Path write(String content) throws Exception {
    Path file = dir.resolve("data.jsonl");
    Files.writeString(file, content);
    return file;
  }

  private static Tokenizer stories() throws Exception {
    Path p = Path.of("../../../shared/models/stories260K").toAbsolutePath().normalize();
    Assumptions.assumeTrue(Files.exists(p), "../shared not found (" + p + "): skipping");
    return Tokenizer.load(p);
  }

  @Test
  void aLineWithPromptChosenAndRejectedIsAPreferenceSample() throws Exception {
    Path file = write("{\"prompt\": \"Q\", \"chosen\": \" yes\", \"rejected\": \" no\"}\n");
    assertEquals(
        List.of(new Sample.Preference("Q", " yes", " no")), Jsonl.read(file, null, Map.of(), 0));
  }

  @Test
  void withoutAPromptTheCommonStartOfChosenAndRejectedIsThePromptAsInTrl() throws Exception {
    Path file =
        write(
            "{\"chosen\": \"\\n\\nHuman: hi\\n\\nAssistant: Hello there\","
                + " \"rejected\": \"\\n\\nHuman: hi\\n\\nAssistant: Go away\"}\n");
    assertEquals(
        List.of(new Sample.Preference("\n\nHuman: hi\n\nAssistant:", " Hello there", " Go away")),
        Jsonl.read(file, null, Map.of(), 0),
        "the space before the parting word goes to the completions");
  }

  @Test
  void anIntegerColumnIsReadUnderItsRenamedField() throws Exception {
    Path file = write("{\"text\": \"a\", \"task\": 3}\n{\"text\": \"b\", \"task\": 0}\n");
    List<Jsonl.Line> lines =
        Jsonl.lines(file, null, Map.of("task_id", "task"), 0, List.of("task_id"));
    assertEquals(
        List.of(
            new Jsonl.Line(new Sample.Text("a"), Map.of("task_id", 3L)),
            new Jsonl.Line(new Sample.Text("b"), Map.of("task_id", 0L))),
        lines);
  }

  @Test
  void aLineWithoutTheColumnIsAnErrorNamingFileLineAndField() throws Exception {
    Path file = write("{\"text\": \"a\", \"task_id\": 1}\n{\"text\": \"b\"}\n");
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> Jsonl.lines(file, null, Map.of(), 0, List.of("task_id")));
    assertEquals(
        file
            + ":2: field \"task_id\" is missing; the job's methods read it as an integer input of"
            + " every sample.",
        e.getMessage());
  }

  @Test
  void aColumnThatIsNotAnIntegerIsAnError() throws Exception {
    Path file = write("{\"text\": \"a\", \"task_id\": \"x\"}\n");
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> Jsonl.lines(file, null, Map.of(), 0, List.of("task_id")));
    assertEquals(file + ":1: field \"task_id\" must be an integer, not \"x\".", e.getMessage());
  }

  @Test
  void aLabelledColumnReadsANameAsItsIndexAndAnIdAsItIs() throws Exception {
    Path file = write("{\"text\": \"a\", \"task\": \"qa\"}\n{\"text\": \"b\", \"task\": 0}\n");
    List<Jsonl.Line> lines =
        Jsonl.lines(file, null, Map.of(), 0, Map.of("task", List.of("sum", "qa")));
    assertEquals(
        List.of(
            new Jsonl.Line(new Sample.Text("a"), Map.of("task", 1L)),
            new Jsonl.Line(new Sample.Text("b"), Map.of("task", 0L))),
        lines);
  }

  @Test
  void aNameOutsideTheLabelsIsAnErrorListingThem() throws Exception {
    Path file = write("{\"text\": \"a\", \"task\": \"chat\"}\n");
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> Jsonl.lines(file, null, Map.of(), 0, Map.of("task", List.of("sum", "qa"))));
    assertEquals(
        file
            + ":1: field \"task\" is \"chat\", which is none of the known values [sum, qa]; add it"
            + " to the method's list or fix the line.",
        e.getMessage());
  }

  @Test
  void preferenceLinesAndColumnsSurviveWritingAndReadingBack() throws Exception {
    List<Jsonl.Line> lines =
        List.of(new Jsonl.Line(new Sample.Preference("Q", " a", " b"), Map.of("task_id", 2L)));
    Path file = dir.resolve("back.jsonl");
    Jsonl.writeLines(file, lines);
    assertEquals(lines, Jsonl.lines(file, null, Map.of(), 0, List.of("task_id")));
  }

  @Test
  void aPairRendersAsChosenThenRejectedEachLearningOnlyItsCompletion() throws Exception {
    Tokenizer t = stories();
    Jsonl.Line line =
        new Jsonl.Line(
            new Sample.Preference("Once upon a time", " there was a cat", " it rained"),
            Map.of("task_id", 4L));
    List<Encoded> rows = Encoded.rows(line, 0, t, null, null, RowLayout.PAIRS, SETTINGS, w -> {});
    assertEquals(2, rows.size());
    int prompt = t.encode("Once upon a time", true).length;
    String[] texts = {"Once upon a time there was a cat", "Once upon a time it rained"};
    for (int r = 0; r < 2; r++) {
      Encoded e = rows.get(r);
      int[] whole = t.encode(texts[r], true);
      assertArrayEquals(whole, java.util.Arrays.copyOf(e.ids(), whole.length), texts[r]);
      assertEquals(t.eosId().getAsInt(), e.ids()[e.ids().length - 1], "</s> ends each side");
      for (int i = 0; i < e.ids().length; i++) {
        assertEquals(i >= prompt, e.learn()[i], "row " + r + " token " + i);
      }
      assertEquals(Map.of("task_id", 4L), e.columns());
    }
  }

  @Test
  void aPreferenceSampleWithoutAPairwiseObjectiveIsAnError() throws Exception {
    Tokenizer t = stories();
    Jsonl.Line line = new Jsonl.Line(new Sample.Preference("Q", " a", " b"), Map.of());
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> Encoded.rows(line, 2, t, null, null, RowLayout.SINGLE, SETTINGS, w -> {}));
    assertEquals(
        "Sample 3 is a preference pair (chosen, rejected); train it with a method whose objective"
            + " is pairwise, such as dpo, or use prompt/completion data.",
        e.getMessage());
  }

  @Test
  void aPairwiseObjectiveOnDataWithoutPairsIsAnError() throws Exception {
    Tokenizer t = stories();
    Jsonl.Line line = new Jsonl.Line(new Sample.Text("hello"), Map.of());
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> Encoded.rows(line, 0, t, null, null, RowLayout.PAIRS, SETTINGS, w -> {}));
    assertEquals(
        "Sample 1 is not a preference pair; the pairwise objective needs data with chosen and"
            + " rejected fields (data_format=preference).",
        e.getMessage());
  }
}
