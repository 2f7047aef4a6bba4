package dev.graft.example.quickstart;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * The quickstart's data. The base model learns the colours of everyday things; the task is the
 * colours of made-up animals, which no base model can know and which the adapter must learn.
 */
final class Facts {
  /** One question and its answer. */
  record Fact(String thing, String colour) {
    String prompt() {
      return "Q: What colour is " + thing + "?\nA:";
    }

    String completion() {
      return " " + colour;
    }
  }

  static final List<String> COLOURS =
      List.of("red", "green", "blue", "yellow", "white", "black", "orange", "purple", "brown");

  /** What the base model is pretrained on. */
  static final List<Fact> EVERYDAY =
      List.of(
          new Fact("grass", "green"),
          new Fact("the sky", "blue"),
          new Fact("snow", "white"),
          new Fact("coal", "black"),
          new Fact("a banana", "yellow"),
          new Fact("blood", "red"),
          new Fact("a carrot", "orange"),
          new Fact("a lemon", "yellow"),
          new Fact("milk", "white"),
          new Fact("a frog", "green"),
          new Fact("the sea", "blue"),
          new Fact("a crow", "black"),
          new Fact("a tomato", "red"),
          new Fact("chocolate", "brown"),
          new Fact("a plum", "purple"),
          new Fact("a pumpkin", "orange"),
          new Fact("a bear", "brown"),
          new Fact("a cherry", "red"),
          new Fact("a leaf", "green"),
          new Fact("salt", "white"),
          new Fact("a grape", "purple"),
          new Fact("the sun", "yellow"),
          new Fact("ink", "black"),
          new Fact("wood", "brown"));

  private static final List<String> ANIMALS =
      List.of(
          "a blorp",
          "a zindle",
          "a quorx",
          "a mimble",
          "a flonk",
          "a drazzle",
          "a snib",
          "a wumpet");

  private Facts() {}

  /** The task: each made-up animal gets a colour drawn with {@code seed}. */
  static List<Fact> task(long seed) {
    Random random = new Random(seed);
    List<Fact> facts = new ArrayList<>();
    for (String animal : ANIMALS) {
      facts.add(new Fact(animal, COLOURS.get(random.nextInt(COLOURS.size()))));
    }
    return facts;
  }

  /** Writes {@code {"text": …}} lines: the question and its answer, learned whole. */
  static void writeText(Path file, List<Fact> facts) throws IOException {
    ObjectMapper json = new ObjectMapper();
    StringBuilder lines = new StringBuilder();
    for (Fact f : facts) {
      lines.append(json.writeValueAsString(Map.of("text", f.prompt() + f.completion())));
      lines.append('\n');
    }
    Files.createDirectories(file.getParent());
    Files.writeString(file, lines);
  }

  /** Writes {@code {"prompt": …, "completion": …}} lines: the loss covers the answer only. */
  static void writePromptCompletion(Path file, List<Fact> facts) throws IOException {
    ObjectMapper json = new ObjectMapper();
    StringBuilder lines = new StringBuilder();
    for (Fact f : facts) {
      lines.append(
          json.writeValueAsString(
              json.createObjectNode().put("prompt", f.prompt()).put("completion", f.completion())));
      lines.append('\n');
    }
    Files.createDirectories(file.getParent());
    Files.writeString(file, lines);
  }
}
