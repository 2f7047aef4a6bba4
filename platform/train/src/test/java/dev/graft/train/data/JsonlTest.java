package dev.graft.train.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.graft.train.data.Jsonl.Format;
import dev.graft.train.data.Sample.Conversation;
import dev.graft.train.data.Sample.Instruction;
import dev.graft.train.data.Sample.Message;
import dev.graft.train.data.Sample.PromptCompletion;
import dev.graft.train.data.Sample.Text;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class JsonlTest {
  @TempDir Path dir;

  private Path write(String name, String content) throws Exception {
    Path file = dir.resolve(name);
    Files.writeString(file, content);
    return file;
  }

  @Test
  void eachFormatIsDetectedFromItsFields() throws Exception {
    assertEquals(
        List.of(new Text("hello")),
        Jsonl.read(write("a.jsonl", "{\"text\": \"hello\"}\n"), null, Map.of(), 0));
    assertEquals(
        List.of(new PromptCompletion("2+2=", "4")),
        Jsonl.read(
            write("b.jsonl", "{\"prompt\": \"2+2=\", \"completion\": \"4\"}\n"),
            null,
            Map.of(),
            0));
    assertEquals(
        List.of(
            new Instruction("Translate", "bonjour", "hello"), new Instruction("Say hi", "", "hi")),
        Jsonl.read(
            write(
                "c.jsonl",
                "{\"instruction\": \"Translate\", \"input\": \"bonjour\", \"output\": \"hello\"}\n"
                    + "{\"instruction\": \"Say hi\", \"input\": \"\", \"output\": \"hi\"}\n"),
            null,
            Map.of(),
            0));
    assertEquals(
        List.of(
            new Conversation(
                List.of(new Message("user", "hi"), new Message("assistant", "hello")))),
        Jsonl.read(
            write(
                "d.jsonl",
                "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"hello\"}]}\n"),
            null,
            Map.of(),
            0));
  }

  @Test
  void gzipIsReadTransparentlyAndBlankLinesAreSkipped() throws Exception {
    Path file = dir.resolve("data.jsonl.gz");
    try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(file))) {
      out.write("{\"text\": \"a\"}\n\n{\"text\": \"b\"}\n".getBytes(StandardCharsets.UTF_8));
    }
    assertEquals(List.of(new Text("a"), new Text("b")), Jsonl.read(file, Format.TEXT, Map.of(), 0));
  }

  @Test
  void anInstructionWithoutATemplateIsItsInstructionAndInputAsPrompt() {
    assertEquals(
        new PromptCompletion("Translate\n\nbonjour", "hello"),
        new Instruction("Translate", "bonjour", "hello").asPromptCompletion());
    assertEquals(
        new PromptCompletion("Say hi", "hi"),
        new Instruction("Say hi", "", "hi").asPromptCompletion());
  }

  @Test
  void aColumnMapReadsGsm8kAsPromptCompletion() {
    Path gsm8k = Path.of("../../../shared/data/gsm8k/test.jsonl").toAbsolutePath().normalize();
    Assumptions.assumeTrue(
        Files.exists(gsm8k), "../shared not found (" + gsm8k + "): skipping the GSM8K read");
    List<Sample> samples =
        Jsonl.read(
            gsm8k,
            Format.PROMPT_COMPLETION,
            Map.of("prompt", "question", "completion", "answer"),
            100);
    assertEquals(100, samples.size());
    PromptCompletion first = (PromptCompletion) samples.get(0);
    assertTrue(first.completion().contains("####"), first.completion());
  }

  @Test
  void unknownFieldsAreAnsweredWithTheColumnMapThatReadsThem() throws Exception {
    Path gsm8k = write("gsm8k.jsonl", "{\"question\": \"1+1?\", \"answer\": \"2\"}\n");
    assertEquals(
        gsm8k
            + ":1: cannot tell the sample format from fields [question, answer]; expected text,"
            + " prompt+completion, instruction+output, messages or chosen+rejected. Name the fields with"
            + " data_columns (graft:eval: --data-columns), e.g. prompt=question,completion=answer.",
        assertThrows(IllegalArgumentException.class, () -> Jsonl.read(gsm8k, null, Map.of(), 0))
            .getMessage());
  }

  @Test
  void badLinesAreReportedWithFileAndLineNumber() throws Exception {
    Path broken = write("broken.jsonl", "{\"text\": \"ok\"}\n{\"text\": \n");
    String m =
        assertThrows(IllegalArgumentException.class, () -> Jsonl.read(broken, null, Map.of(), 0))
            .getMessage();
    assertTrue(m.startsWith(broken + ":2: not valid JSON ("), m);
    Path missing =
        write("missing.jsonl", "{\"prompt\": \"a\", \"completion\": \"b\"}\n{\"prompt\": \"c\"}\n");
    assertEquals(
        missing + ":2: field \"completion\" is missing.",
        assertThrows(IllegalArgumentException.class, () -> Jsonl.read(missing, null, Map.of(), 0))
            .getMessage());
    Path unknown = write("unknown.jsonl", "{\"question\": \"a\"}\n");
    assertTrue(
        assertThrows(IllegalArgumentException.class, () -> Jsonl.read(unknown, null, Map.of(), 0))
            .getMessage()
            .startsWith(unknown + ":1: cannot tell the sample format from fields [question]"));
    Path noAssistant =
        write("chat.jsonl", "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}\n");
    assertEquals(
        noAssistant + ":1: the conversation has no assistant turn to learn from.",
        assertThrows(
                IllegalArgumentException.class, () -> Jsonl.read(noAssistant, null, Map.of(), 0))
            .getMessage());
  }

  @Test
  void anEmptyOrMissingFileIsAnError() throws Exception {
    Path empty = write("empty.jsonl", "\n");
    assertEquals(
        "Data file " + empty + " holds no samples.",
        assertThrows(IllegalArgumentException.class, () -> Jsonl.read(empty, null, Map.of(), 0))
            .getMessage());
    assertEquals(
        "Data file " + dir.resolve("none.jsonl") + " does not exist.",
        assertThrows(
                IllegalArgumentException.class,
                () -> Jsonl.read(dir.resolve("none.jsonl"), null, Map.of(), 0))
            .getMessage());
  }

  @Test
  void theSplitIsSeededAndHoldsOutTheFraction() {
    List<Sample> samples = new java.util.ArrayList<>();
    for (int i = 0; i < 100; i++) {
      samples.add(new Text("s" + i));
    }
    Split a = Split.of(samples, 0.1, 7);
    Split b = Split.of(samples, 0.1, 7);
    assertEquals(a, b);
    assertEquals(90, a.train().size());
    assertEquals(10, a.validation().size());
    assertTrue(!a.equals(Split.of(samples, 0.1, 8)));
    assertEquals(1, Split.of(samples.subList(0, 3), 0.01, 1).validation().size());
    assertThrows(IllegalArgumentException.class, () -> Split.of(samples, 1.0, 1));
  }

  @Test
  void writtenSamplesReadBackAsTheSame() throws Exception {
    List<Sample> samples =
        List.of(
            new Text("a \"quoted\" line"),
            new PromptCompletion("2+2=", "4"),
            new Sample.Instruction("Translate", "bonjour", "hello"),
            new Conversation(
                List.of(new Message("user", "hi"), new Message("assistant", "hello"))));
    Path file = dir.resolve("out.jsonl");
    Jsonl.write(file, samples);
    List<Sample> back = new java.util.ArrayList<>();
    for (String line : Files.readAllLines(file)) {
      back.addAll(Jsonl.read(write("one.jsonl", line + "\n"), null, Map.of(), 0));
    }
    assertEquals(samples, back);
  }
}
