package dev.graft.example.quickstart;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.apache.felix.service.command.Descriptor;
import org.apache.felix.service.command.Parameter;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The whole quickstart, on the platform's training job without a framework. */
class QuickstartTest {
  @TempDir Path dir;

  private final ByteArrayOutputStream printed = new ByteArrayOutputStream();

  private Quickstart.Result run(Quickstart.Settings settings) throws Exception {
    return new Quickstart(
            new LocalTraining(),
            LocalTraining.MODELS,
            dir.resolve("quickstart"),
            new PrintStream(printed, true, StandardCharsets.UTF_8))
        .run(settings);
  }

  private static long correct(List<Quickstart.Answer> answers) {
    return answers.stream().filter(Quickstart.Answer::correct).count();
  }

  @Test
  void loraTurnsTheBaseModelsGuessesIntoRightAnswersAndSavesAdapterAndReport() throws Exception {
    Quickstart.Result r = run(new Quickstart.Settings(200, 60, 5e-3, 7, "cpu"));

    assertTrue(correct(r.before()) <= 2, "the base model guesses: " + r.before());
    assertEquals(r.after().size(), correct(r.after()), "after LoRA: " + r.after());
    assertEquals(r.everydayBefore(), r.everydayAfter(), "everyday facts are kept");
    assertTrue(Files.isRegularFile(r.adapter().resolve("adapter_config.json")));
    assertTrue(Files.isRegularFile(r.adapter().resolve("adapter_model.safetensors")));
    assertTrue(Files.isRegularFile(r.report()));
    assertTrue(Files.isRegularFile(r.metrics()));
    assertTrue(Files.isRegularFile(r.baseModel().resolve("model.safetensors")));
    assertTrue(Files.isRegularFile(r.merged().resolve("model.safetensors")));
    assertTrue(Files.isRegularFile(r.merged().resolve("tokenizer.json")));
    String out = printed.toString(StandardCharsets.UTF_8);
    assertTrue(out.contains("step   60/60  loss "), out);
    assertTrue(out.contains(r.adapter().toString()), out);
  }

  @Test
  @Tag("slow")
  void theCommandsDefaultsTeachEveryFact() throws Exception {
    Quickstart.Result r = run(defaults());
    assertTrue(correct(r.before()) <= 2, "the base model guesses: " + r.before());
    assertEquals(r.after().size(), correct(r.after()), "after LoRA: " + r.after());
    assertEquals(Facts.EVERYDAY.size(), r.everydayAfter());
  }

  @Test
  void everyOptionOfTheCommandIsDescribedAndHasADefault() throws Exception {
    Method command =
        Arrays.stream(QuickstartCommand.class.getMethods())
            .filter(m -> m.getName().equals("quickstart"))
            .findFirst()
            .orElseThrow();
    assertNotNull(command.getAnnotation(Descriptor.class));
    for (java.lang.reflect.Parameter p : command.getParameters()) {
      assertNotNull(p.getAnnotation(Descriptor.class), p.getName());
      assertNotNull(p.getAnnotation(Parameter.class), p.getName());
    }
    assertEquals(100, defaults().steps());
  }

  @Test
  void anAnswerEndsAtTheFirstNewline() {
    assertEquals("green", Quickstart.firstLine(" green\nQ: What"));
    assertEquals("green", Quickstart.firstLine(" green"));
    assertEquals("", Quickstart.firstLine("\ngreen"));
  }

  @Test
  void stepsBelowOneAreRefused() {
    var e =
        assertThrows(
            IllegalArgumentException.class, () -> new Quickstart.Settings(0, 10, 1e-3, 1, "cpu"));
    assertEquals("Steps must be at least 1, not 0.", e.getMessage());
  }

  private static Quickstart.Settings defaults() {
    return new Quickstart.Settings(
        Integer.parseInt(Quickstart.Settings.PRETRAIN_STEPS),
        Integer.parseInt(Quickstart.Settings.STEPS),
        Double.parseDouble(Quickstart.Settings.LEARNING_RATE),
        Long.parseLong(Quickstart.Settings.SEED),
        Quickstart.Settings.BACKEND);
  }
}
