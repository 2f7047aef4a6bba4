package dev.graft.example.quickstart;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FactsTest {
  @TempDir Path dir;

  @Test
  void theTaskIsTheSameForASeedAndAnotherForAnotherSeed() {
    assertEquals(Facts.task(7), Facts.task(7));
    assertNotEquals(Facts.task(7), Facts.task(8));
  }

  @Test
  void everyAnswerIsAColourAndNoAnimalIsAnEverydayThing() {
    for (Facts.Fact f : Facts.task(7)) {
      assertTrue(Facts.COLOURS.contains(f.colour()));
      assertTrue(Facts.EVERYDAY.stream().noneMatch(e -> e.thing().equals(f.thing())));
    }
    Facts.EVERYDAY.forEach(f -> assertTrue(Facts.COLOURS.contains(f.colour()), f.toString()));
  }

  @Test
  void promptCompletionLinesJoinToTheQuestionAndItsAnswer() throws Exception {
    Path file = dir.resolve("data/task.jsonl");
    Facts.writePromptCompletion(file, Facts.task(7));
    List<String> lines = Files.readAllLines(file);
    assertEquals(8, lines.size());
    JsonNode first = new ObjectMapper().readTree(lines.get(0));
    Facts.Fact fact = Facts.task(7).get(0);
    assertEquals("Q: What colour is a blorp?\nA:", first.get("prompt").asText());
    assertEquals(" " + fact.colour(), first.get("completion").asText());
  }

  @Test
  void textLinesHoldTheWholeFact() throws Exception {
    Path file = dir.resolve("text.jsonl");
    Facts.writeText(file, Facts.EVERYDAY);
    JsonNode first = new ObjectMapper().readTree(Files.readAllLines(file).get(0));
    assertEquals("Q: What colour is grass?\nA: green", first.get("text").asText());
  }
}
