package dev.graft.conformance;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.api.FineTuningMethod;
import dev.graft.api.Options;
import dev.graft.api.adapt.Adaptation;
import dev.graft.api.adapt.SampleFormat;
import dev.graft.api.model.GenerationSettings;
import dev.graft.model.ChatTemplate;
import dev.graft.model.Tokenizer;
import dev.graft.train.data.Encoded;
import dev.graft.train.data.Sample;
import dev.graft.train.job.JobSpec;
import dev.graft.train.run.SftRun;
import java.lang.reflect.Proxy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The conformance rows for instruction-tuning: what a sample renders to and what the loss learns,
 * on stories260K (no chat template: Alpaca) and Qwen3 (its chat template), and a short LoRA run.
 */
class InstructionTuningTest {
  @TempDir Path dir;

  static final Encoded.Settings SETTINGS = new Encoded.Settings(512, true, true, false);

  static final String ALPACA =
      "Below is an instruction that describes a task. Write a response that appropriately"
          + " completes the request.\n\n### Instruction:\n";

  private static Tokenizer qwen3;

  /** Qwen3's tokenizer (150k tokens), loaded once: it takes seconds. */
  static synchronized Tokenizer qwen3() throws Exception {
    if (qwen3 == null) {
      qwen3 = Tokenizer.load(Fixtures.shared("tokenizers/qwen3"));
    }
    return qwen3;
  }

  /** The sample format that instruction-tuning sets with these options. */
  static SampleFormat format(Map<String, String> options) {
    FineTuningMethod method = Fixtures.REGISTRY.require("instruction-tuning").method();
    SampleFormat[] set = new SampleFormat[1];
    Adaptation adaptation =
        (Adaptation)
            Proxy.newProxyInstance(
                Adaptation.class.getClassLoader(),
                new Class<?>[] {Adaptation.class},
                (proxy, m, args) -> {
                  assertEquals("sampleFormat", m.getName(), "instruction-tuning only formats");
                  set[0] = (SampleFormat) args[0];
                  return null;
                });
    method.create(Options.parse(method.info(), options)).adapt(adaptation);
    return set[0];
  }

  /** The text of the tokens the loss learns. */
  static String learned(Tokenizer t, Encoded e) {
    int[] ids = new int[e.ids().length];
    int n = 0;
    for (int i = 0; i < ids.length; i++) {
      if (e.learn()[i]) {
        ids[n++] = e.ids()[i];
      }
    }
    return t.decode(Arrays.copyOf(ids, n), false);
  }

  @Test
  void alpacaRendersAPromptCompletionSampleAndLearnsTheResponseOnly() throws Exception {
    Tokenizer t = Tokenizer.load(Fixtures.shared("models/stories260K"));
    SampleFormat format = format(Map.of());
    Sample sample = new Sample.PromptCompletion("Name a pet.", "A dog.");
    SampleFormat.Sequence rendered = Encoded.render(sample, 0, t, null, format, SETTINGS);
    assertEquals(ALPACA + "Name a pet.\n\n### Response:\nA dog.", rendered.text(), "auto → alpaca");
    Encoded e = Encoded.of(sample, 0, t, null, format, SETTINGS, w -> {});
    int[] whole = t.encode(rendered.text(), true);
    assertArrayEquals(whole, Arrays.copyOf(e.ids(), whole.length), "tokenized as one text");
    assertEquals(whole.length + 1, e.ids().length);
    assertEquals(t.eosId().getAsInt(), e.ids()[whole.length], "</s> ends the response");
    int prompt = t.encode(ALPACA + "Name a pet.\n\n### Response:\n", true).length;
    for (int i = 0; i < e.ids().length; i++) {
      assertEquals(i >= prompt, e.learn()[i], "token " + i + " of " + t.decode(e.ids(), false));
    }
    assertEquals("A dog.</s>", learned(t, e).strip());
  }

  @Test
  void alpacaPutsAnInstructionsInputUnderItsOwnHeading() throws Exception {
    Tokenizer t = Tokenizer.load(Fixtures.shared("models/stories260K"));
    SampleFormat format = format(Map.of("template", "alpaca"));
    assertEquals(
        "Below is an instruction that describes a task, paired with an input that provides further"
            + " context. Write a response that appropriately completes the request.\n\n"
            + "### Instruction:\nTranslate.\n\n### Input:\nbonjour\n\n### Response:\nhello",
        Encoded.render(
                new Sample.Instruction("Translate.", "bonjour", "hello"),
                0,
                t,
                null,
                format,
                SETTINGS)
            .text());
  }

  @Test
  void theQwen3ChatTemplateRendersTheSampleAsAConversation() throws Exception {
    Path qwen3 = Fixtures.shared("tokenizers/qwen3");
    Tokenizer t = qwen3();
    ChatTemplate template = ChatTemplate.load(qwen3);
    SampleFormat format = format(Map.of("system_prompt", "You are terse."));
    Sample sample = new Sample.PromptCompletion("What is 2+2?", "4");
    SampleFormat.Sequence rendered = Encoded.render(sample, 0, t, template, format, SETTINGS);
    assertEquals(
        "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
            + "<|im_start|>assistant\n<think>\n\n</think>\n\n4<|im_end|>\n",
        rendered.text(),
        "auto → the model's chat template");
    Encoded e = Encoded.of(sample, 0, t, template, format, SETTINGS, w -> {});
    assertArrayEquals(t.encode(rendered.text(), false), e.ids(), "no tokens added or appended");
    assertEquals("4<|im_end|>", learned(t, e), "the reply and its end-of-turn marker only");
  }

  @Test
  void trainOnPromptLearnsThePromptToo() throws Exception {
    Tokenizer t = Tokenizer.load(Fixtures.shared("models/stories260K"));
    SampleFormat format = format(Map.of("train_on_prompt", "true"));
    Encoded e =
        Encoded.of(
            new Sample.PromptCompletion("Name a pet.", "A dog."),
            0,
            t,
            null,
            format,
            SETTINGS,
            w -> {});
    for (int i = 0; i < e.ids().length; i++) {
      assertTrue(e.learn()[i], "token " + i);
    }
    assertTrue(learned(t, e).contains("### Instruction:\nName a pet."), learned(t, e));
  }

  @Test
  void chatmlUsesItsMarkersAndLearnsTheReplyWithItsEnd() throws Exception {
    Path qwen3 = Fixtures.shared("tokenizers/qwen3");
    Tokenizer t = qwen3();
    SampleFormat format = format(Map.of("template", "chatml"));
    Encoded e =
        Encoded.of(
            new Sample.PromptCompletion("Hi", "Hello."),
            0,
            t,
            ChatTemplate.load(qwen3),
            format,
            SETTINGS,
            w -> {});
    assertEquals(
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello.<|im_end|>\n",
        t.decode(e.ids(), false));
    assertEquals("Hello.<|im_end|>", learned(t, e));
  }

  private Map<String, String> spec(String method) throws Exception {
    return spec(dir, method);
  }

  /**
   * A 6-step job of {@code method} on stories260K whose samples are the stories cut into a prompt
   * and a completion (written into {@code dir}).
   */
  static Map<String, String> spec(Path dir, String method) throws Exception {
    Path data = dir.resolve("pairs.jsonl");
    StringBuilder lines = new StringBuilder();
    ObjectMapper json = new ObjectMapper();
    for (String story : GoldenCurveTest.STORIES) {
      int cut = story.indexOf(". ") + 1;
      lines
          .append(
              json.writeValueAsString(
                  Map.of(
                      "prompt", story.substring(0, cut), "completion", story.substring(cut + 1))))
          .append('\n');
    }
    Files.writeString(data, lines);
    Map<String, String> spec = new LinkedHashMap<>();
    spec.put("model", Fixtures.shared("models/stories260K").toString());
    spec.put("data", data.toString());
    spec.put("method", method);
    spec.put("seed", "5");
    spec.put("per_device_train_batch_size", "4");
    spec.put("max_length", "256");
    spec.put("learning_rate", "1e-2");
    spec.put("max_steps", "6");
    spec.put("save_steps", "100");
    return spec;
  }

  @Test
  void loraWithAlpacaLowersTheLossAndSavesTheTemplate() throws Exception {
    Map<String, String> spec = spec("lora,instruction-tuning");
    spec.put("lora.target_modules", "all-linear");
    spec.put("instruction-tuning.template", "alpaca");
    Path out = Fixtures.train(spec, dir.resolve("job"), Fixtures.REGISTRY);
    List<Double> losses =
        Files.readAllLines(out.resolve("metrics.csv")).stream()
            .skip(1)
            .map(l -> Double.parseDouble(l.split(",")[1]))
            .toList();
    assertTrue(
        losses.get(losses.size() - 1) < 0.5 * losses.get(0), "the loss goes down: " + losses);
    ObjectMapper json = new ObjectMapper();
    JsonNode config = json.readTree(out.resolve("adapter/adapter_config.json").toFile());
    assertEquals("LORA", config.get("peft_type").asText(), "LoRA's config stands");
    JsonNode saved = json.readTree(out.resolve("adapter/graft_sample_format.json").toFile());
    assertEquals("instruction-tuning", saved.get("method").asText());
    assertEquals("alpaca", saved.get("template").asText());
    assertEquals(ALPACA + "{prompt}\n\n### Response:\n", saved.get("prompt").asText());
    assertEquals("</s>", saved.get("stop").asText());

    // Generation with the adapter prompts the way training did: the same as giving the Alpaca text
    // by hand to the same adapter without its format file.
    Path bare = Files.createDirectories(dir.resolve("bare"));
    for (String f : List.of("adapter_config.json", "adapter_model.safetensors")) {
      Files.copy(out.resolve("adapter").resolve(f), bare.resolve(f));
    }
    Path model = Fixtures.shared("models/stories260K");
    GenerationSettings greedy = GenerationSettings.greedy(12);
    String formatted = saved.get("prompt").asText().replace("{prompt}", "Name a pet.");
    assertEquals(
        ModelServiceTest.SERVICE.generate(model, bare, formatted, greedy),
        ModelServiceTest.SERVICE.generate(model, out.resolve("adapter"), "Name a pet.", greedy));
  }

  @Test
  void instructionTuningAloneLeavesNothingTrainable() throws Exception {
    JobSpec checked = JobSpec.parse(spec("instruction-tuning"), Fixtures.REGISTRY);
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> new SftRun(checked, Fixtures.REGISTRY, Fixtures.cpu(), n -> {}).close());
    assertEquals(
        "Method instruction-tuning left nothing trainable: instruction-tuning sets how samples are"
            + " formatted but adds no parameters; combine it with an adapter method or full, e.g."
            + " method=lora,instruction-tuning.",
        e.getMessage());
  }

  @Test
  void anUnknownTemplateIsAnOptionError() throws Exception {
    Map<String, String> spec = spec("lora,instruction-tuning");
    spec.put("instruction-tuning.template", "vicuna");
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> JobSpec.parse(spec, Fixtures.REGISTRY));
    assertEquals(
        "Option \"template\" cannot be \"vicuna\". Choose one of: auto, chat, alpaca, chatml.",
        e.getMessage());
  }

  @Test
  void theChatTemplateIsRequiredWhenAskedFor() throws Exception {
    Tokenizer t = Tokenizer.load(Fixtures.shared("models/stories260K"));
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                Encoded.render(
                    new Sample.PromptCompletion("a", "b"),
                    0,
                    t,
                    null,
                    format(Map.of("template", "chat")),
                    SETTINGS));
    assertFalse(e.getMessage().isEmpty());
    assertEquals(
        "instruction-tuning.template=chat needs the model's chat template, but the model has none;"
            + " set template to alpaca, chatml or auto.",
        e.getMessage());
  }
}
