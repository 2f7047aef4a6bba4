package dev.graft.train.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.graft.api.FineTuningMethod;
import dev.graft.api.MethodFamily;
import dev.graft.api.MethodInfo;
import dev.graft.api.MethodRegistry;
import dev.graft.api.OptionDescriptor;
import dev.graft.api.OptionType;
import dev.graft.train.registry.FixedMethodRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class JobSpecTest {
  @TempDir Path dir;

  /** A registry holding one method, lora, with options r and lora_alpha. */
  static final MethodRegistry REGISTRY =
      new FixedMethodRegistry(
          List.of(
              new FineTuningMethod() {
                @Override
                public MethodInfo info() {
                  return new MethodInfo(
                      "lora",
                      "LoRA",
                      MethodFamily.LOW_RANK,
                      null,
                      List.of(
                          OptionDescriptor.of("r", OptionType.INT, "8", "rank"),
                          OptionDescriptor.of("lora_alpha", OptionType.FLOAT, "8", "alpha")));
                }

                @Override
                public dev.graft.api.adapt.MethodInstance create(dev.graft.api.Options options) {
                  throw new IllegalStateException("Job specs never create method instances.");
                }
              }));

  @Test
  void propertiesYamlAndJsonFilesReadTheSameWithInterpolation() throws Exception {
    Files.writeString(
        dir.resolve("job.properties"),
        "vars.base=/models\nmodel=${vars.base}/tiny\nmethod=lora\ndata=train.jsonl\nlora.r=16\nlearning_rate=2e-4\n");
    Files.writeString(
        dir.resolve("job.yaml"),
        "vars:\n  base: /models\nmodel: ${vars.base}/tiny\nmethod: [lora]\ndata: train.jsonl\nlora:\n  r: 16\nlearning_rate: 2e-4\n");
    Files.writeString(
        dir.resolve("job.json"),
        "{\"vars\": {\"base\": \"/models\"}, \"model\": \"${vars.base}/tiny\", \"method\": [\"lora\"], \"data\": \"train.jsonl\","
            + " \"lora\": {\"r\": 16}, \"learning_rate\": 2e-4}");
    for (String name : List.of("job.properties", "job.yaml", "job.json")) {
      Map<String, String> raw = JobFiles.read(dir.resolve(name));
      JobSpec spec = JobSpec.parse(raw, REGISTRY);
      assertEquals("/models/tiny", spec.job().getString("model"), name);
      assertEquals(List.of("lora"), spec.job().getList("method"), name);
      assertEquals(2e-4, spec.job().getDouble("learning_rate"), name);
      assertEquals(16, spec.methods().get("lora").getInt("r"), name);
      assertEquals(8.0, spec.methods().get("lora").getDouble("lora_alpha"), name);
      assertEquals(42, spec.job().getInt("seed"), name);
    }
  }

  @Test
  void dataColumnsReadTheSameAsPairsAndAsAYamlOrJsonMap() throws Exception {
    String common = "model: /models/tiny\nmethod: lora\ndata: gsm8k.jsonl\n";
    Files.writeString(
        dir.resolve("pairs.yaml"), common + "data_columns: prompt=question,completion=answer\n");
    Files.writeString(
        dir.resolve("map.yaml"),
        common + "data_columns:\n  prompt: question\n  completion: answer\n");
    Files.writeString(
        dir.resolve("map.json"),
        "{\"model\": \"/models/tiny\", \"method\": \"lora\", \"data\": \"gsm8k.jsonl\","
            + " \"data_columns\": {\"prompt\": \"question\", \"completion\": \"answer\"}}");
    for (String name : List.of("pairs.yaml", "map.yaml", "map.json")) {
      JobSpec spec = JobSpec.parse(JobFiles.read(dir.resolve(name)), REGISTRY);
      assertEquals(
          Map.of("prompt", "question", "completion", "answer"),
          spec.job().getMap("data_columns"),
          name);
    }
  }

  @Test
  void environmentAndSystemPropertiesInterpolate() throws Exception {
    System.setProperty("graft.test.dir", "/data");
    Files.writeString(
        dir.resolve("job.properties"),
        "data=${sys:graft.test.dir}/train.jsonl\nhome=${env:PATH}\n");
    Map<String, String> raw = JobFiles.read(dir.resolve("job.properties"));
    assertEquals("/data/train.jsonl", raw.get("data"));
    assertEquals(System.getenv("PATH"), raw.get("home"));
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "${script:javascript:java.lang.Runtime.getRuntime().exec('touch /tmp/graft-pwned')}",
        "${dns:address|example.com}",
        "${url:UTF-8:http://example.com/}",
        "${file:UTF-8:/etc/passwd}",
        "${base64Decoder:SGVsbG8=}",
        "${const:java.lang.Integer.MAX_VALUE}"
      })
  void lookupsOtherThanEnvAndSysAreRefusedByName(String value) throws Exception {
    for (String name : List.of("job.properties", "job.yaml")) {
      Files.writeString(
          dir.resolve(name),
          name.endsWith(".yaml")
              ? "vars:\n  x: \"" + value.replace("\"", "\\\"") + "\"\ndata: ${vars.x}\n"
              : "data=" + value + "\n");
      IllegalArgumentException e =
          assertThrows(IllegalArgumentException.class, () -> JobFiles.read(dir.resolve(name)));
      String prefix = value.substring(2, value.indexOf(':'));
      assertTrue(
          e.getMessage().contains("${" + prefix + ":…}, which Graft does not allow"),
          e.getMessage());
    }
    assertFalse(Files.exists(Path.of("/tmp/graft-pwned")));
  }

  @Test
  void trlsLoggingStepsIsAcceptedAndMustBePositive() {
    Map<String, String> spec = Map.of("model", "m", "method", "lora", "data", "d");
    Map<String, String> every5 = new java.util.HashMap<>(spec);
    every5.put("logging_steps", "5");
    assertEquals(5, JobSpec.parse(every5, REGISTRY).job().getInt("logging_steps"));
    every5.put("logging_steps", "0");
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> JobSpec.parse(every5, REGISTRY));
    assertEquals("logging_steps must be at least 1, not 0.", e.getMessage());
  }

  /** The sentence a job with these keys beside model, method and data is refused with. */
  private static String refusal(String... keyValues) {
    Map<String, String> spec =
        new java.util.HashMap<>(Map.of("model", "m", "method", "lora", "data", "d"));
    for (int i = 0; i < keyValues.length; i += 2) {
      spec.put(keyValues[i], keyValues[i + 1]);
    }
    return assertThrows(IllegalArgumentException.class, () -> JobSpec.parse(spec, REGISTRY))
        .getMessage();
  }

  @Test
  void validationKeysAreCheckedAtJobStartInOneSentence() {
    assertEquals(
        "eval_steps must be 0 (only at the end) or more, not -1.",
        refusal("eval_steps", "-1", "validation_split", "0.1"));
    assertEquals(
        "early_stopping_patience must be 0 (never stop early) or more, not -2.",
        refusal("early_stopping_patience", "-2"));
    assertEquals(
        "early_stopping_threshold must be 0 or more, not -0.5.",
        refusal("early_stopping_threshold", "-0.5"));
    assertEquals(
        "save_best=true needs validation samples; set eval_data=<file.jsonl> or"
            + " validation_split, e.g. 0.1.",
        refusal("save_best", "true"));
    assertEquals(
        "early_stopping_patience=3 needs validation samples; set eval_data=<file.jsonl> or"
            + " validation_split, e.g. 0.1.",
        refusal("early_stopping_patience", "3"));
    assertEquals(
        "The job sets both eval_data and validation_split; validate on one of them, and remove"
            + " the other.",
        refusal("eval_data", "v.jsonl", "validation_split", "0.1"));
  }

  @Test
  void validationKeysWithASourceParse() {
    Map<String, String> spec =
        Map.of(
            "model",
            "m",
            "method",
            "lora",
            "data",
            "d",
            "eval_data",
            "v.jsonl",
            "eval_steps",
            "10",
            "save_best",
            "true",
            "early_stopping_patience",
            "3",
            "early_stopping_threshold",
            "0.01");
    TrainingJob.Validation v = TrainingJob.Validation.of(JobSpec.parse(spec, REGISTRY).job());
    assertEquals(new TrainingJob.Validation(10, true, 3, 0.01), v);
  }

  @Test
  void anUnknownKeyNamesTheNearestKnownOne() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                JobSpec.parse(
                    Map.of("model", "m", "method", "lora", "data", "d", "learnig_rate", "1"),
                    REGISTRY));
    assertEquals(
        true,
        e.getMessage().startsWith("Unknown job key \"learnig_rate\". Job keys: "),
        e.getMessage());
    assertEquals(
        true,
        e.getMessage().endsWith("Did you mean \"learning_rate\"? See 'graft:help graft:train'."),
        e.getMessage());
    e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                JobSpec.parse(
                    Map.of("model", "m", "method", "lora", "data", "d", "lora.rank", "4"),
                    REGISTRY));
    assertEquals(
        "Unknown option \"rank\". Method lora accepts: lora_alpha, r. See 'graft:method lora'.",
        e.getMessage());
  }

  @Test
  void requiredKeysUnknownMethodsAndStrayMethodOptionsAreReported() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> JobSpec.parse(Map.of("method", "lora", "data", "d"), REGISTRY));
    assertEquals(
        "The job has no \"model\"; set it, e.g. model=/models/Llama-3.2-1B.", e.getMessage());
    e =
        assertThrows(
            IllegalArgumentException.class,
            () -> JobSpec.parse(Map.of("model", "m", "method", "lorra", "data", "d"), REGISTRY));
    assertEquals(
        "Unknown method \"lorra\". Installed: lora. Did you mean \"lora\"? See 'graft:methods'.",
        e.getMessage());
    e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                JobSpec.parse(
                    Map.of("model", "m", "method", "lora", "data", "d", "dora.r", "4"), REGISTRY));
    assertEquals(
        "Key \"dora.r\" sets an option of \"dora\", which is not among this job's methods (lora).",
        e.getMessage());
  }

  @Test
  void badFilesAreNamed() throws Exception {
    assertEquals(
        "Job file " + dir.resolve("none.yaml") + " does not exist.",
        assertThrows(IllegalArgumentException.class, () -> JobFiles.read(dir.resolve("none.yaml")))
            .getMessage());
    assertEquals(
        "Job file " + dir.resolve("job.txt") + " must end in .properties, .yaml, .yml or .json.",
        assertThrows(IllegalArgumentException.class, () -> JobFiles.read(dir.resolve("job.txt")))
            .getMessage());
    Files.writeString(dir.resolve("bad.json"), "{\"model\": ");
    String message =
        assertThrows(IllegalArgumentException.class, () -> JobFiles.read(dir.resolve("bad.json")))
            .getMessage();
    assertEquals(
        true,
        message.startsWith("Job file " + dir.resolve("bad.json") + " could not be read: "),
        message);
    Files.writeString(dir.resolve("undefined.properties"), "data=${nowhere}/x.jsonl\n");
    assertEquals(
        "Job file "
            + dir.resolve("undefined.properties")
            + ": \"data\" refers to an undefined variable in \"${nowhere}/x.jsonl\".",
        assertThrows(
                IllegalArgumentException.class,
                () -> JobFiles.read(dir.resolve("undefined.properties")))
            .getMessage());
  }
}
