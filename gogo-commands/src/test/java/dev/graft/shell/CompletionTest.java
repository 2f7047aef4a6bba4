package dev.graft.shell;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.graft.api.MethodFamily;
import dev.graft.api.MethodInfo;
import dev.graft.api.OptionDescriptor;
import dev.graft.api.OptionType;
import dev.graft.shell.Completes.Kind;
import java.lang.reflect.Method;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.jline.reader.Candidate;
import org.junit.jupiter.api.Test;

/** What Tab offers for the graft commands, read from their annotations. */
class CompletionTest {
  private static Method command(String name, int parameters) {
    return GraftCommands.commands(Map.of(GraftCommands.class, List.of())).stream()
        .filter(m -> m.getName().equals(name) && m.getParameterCount() == parameters)
        .findFirst()
        .orElseThrow();
  }

  private static Optional<Kind> at(String command, int parameters, String... before) {
    return Completion.kindAt(command(command, parameters), Arrays.asList(before));
  }

  @Test
  void positionalArgumentsCompleteByTheirParameterInOrder() {
    assertEquals(Optional.of(Kind.METHOD), at("method", 1));
    assertEquals(Optional.empty(), at("method", 1, "lora"));
    assertEquals(Optional.of(Kind.DIRECTORY), at("eval", 12));
    assertEquals(Optional.of(Kind.FILE), at("eval", 12, "model"));
    assertEquals(Optional.of(Kind.JOB), at("resume", 2));
    assertEquals(Optional.of(Kind.COMMAND), at("help", 1));
    assertEquals(Optional.empty(), at("methods", 0));
  }

  @Test
  void theValueOfAnOptionCompletesByTheOptionAndFlagsTakeNoValue() {
    assertEquals(Optional.of(Kind.DIRECTORY), at("eval", 12, "--adapter"));
    assertEquals(Optional.of(Kind.BACKEND), at("eval", 12, "--backend"));
    assertEquals(Optional.empty(), at("eval", 12, "--max-samples"));
    // After an option and its value, and after a flag, the first positional argument is next.
    assertEquals(Optional.of(Kind.DIRECTORY), at("eval", 12, "--adapter", "a", "--raw"));
    assertEquals(Optional.of(Kind.FILE), at("eval", 12, "--raw", "model", "--batch-size", "4"));
    assertEquals(Optional.of(Kind.JOB), at("job", 2, "--follow"));
  }

  @Test
  void everyArgumentAfterTheJobFileIsASetting() {
    assertEquals(Optional.of(Kind.FILE), at("train", 3, "--detach"));
    assertEquals(Optional.of(Kind.SETTING), at("train", 3, "job.yaml"));
    assertEquals(Optional.of(Kind.SETTING), at("train", 3, "job.yaml", "lora.r=4", "seed=1"));
  }

  @Test
  void optionsAreRegisteredWithTheirDescriptionsAndShownOnlyUntilUsed() {
    List<List<Object>> options = Completion.options(List.of(command("eval", 12)));
    assertEquals(10, options.size());
    assertTrue(
        options.contains(
            List.of(
                "-l",
                "max-samples",
                "-d",
                "evaluate at most this many samples; 0 for all",
                "-n",
                "__option_not_present --max-samples")),
        options.toString());
    // Both forms of graft:help, one without options: nothing to register twice.
    assertEquals(List.of(), Completion.options(List.of(command("help", 0), command("help", 1))));
  }

  private static final List<OptionDescriptor> KEYS =
      List.of(
          OptionDescriptor.of("method", OptionType.LIST, "", "fine-tuning methods"),
          OptionDescriptor.of("learning_rate", OptionType.FLOAT, "1e-4", "peak learning rate"),
          OptionDescriptor.of("save_best", OptionType.BOOLEAN, "false", "keep the best"),
          OptionDescriptor.choice("data_format", "auto", "sample format", "auto", "text"));

  private static final List<MethodInfo> METHODS =
      List.of(
          new MethodInfo(
              "lora",
              "LoRA",
              MethodFamily.LOW_RANK,
              null,
              List.of(
                  OptionDescriptor.of("r", OptionType.INT, "8", "rank"),
                  OptionDescriptor.choice("bias", "none", "which biases train", "none", "all"))),
          new MethodInfo("qlora", "QLoRA", MethodFamily.LOW_RANK, null, List.of()));

  private static List<String> settings(String word) {
    return Completion.settings(word, KEYS, METHODS).stream().map(Candidate::value).toList();
  }

  @Test
  void aSettingIsAJobKeyOrAMethodsOptionThenItsValue() {
    assertEquals(
        List.of("method=", "learning_rate=", "save_best=", "data_format=", "lora.r=", "lora.bias="),
        settings(""));
    assertFalse(
        Completion.settings("", KEYS, METHODS).get(0).complete(),
        "no space after key=, the value comes next");
    assertEquals(List.of("data_format=auto", "data_format=text"), settings("data_format=t"));
    assertEquals(List.of("save_best=true", "save_best=false"), settings("save_best="));
    assertEquals(List.of("lora.bias=none", "lora.bias=all"), settings("lora.bias="));
    assertEquals(List.of(), settings("learning_rate=1"));
    assertEquals(List.of(), settings("nothing.r="));
  }

  @Test
  void theMethodKeyTakesTheInstalledMethodsAlsoAfterAComma() {
    assertEquals(List.of("method=lora", "method=qlora"), settings("method=l"));
    assertEquals(List.of("method=qlora,lora", "method=qlora,qlora"), settings("method=qlora,"));
  }
}
