package dev.graft.train.run;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.api.MethodInfo;
import dev.graft.api.MethodRegistry;
import dev.graft.api.OptionDescriptor;
import dev.graft.api.Options;
import dev.graft.api.adapt.SampleFormat;
import dev.graft.graph.DType;
import dev.graft.model.ChatTemplate;
import dev.graft.model.ModelConfig;
import dev.graft.model.ModelGraph;
import dev.graft.model.SafetensorsReader;
import dev.graft.model.Tokenizer;
import dev.graft.train.adapt.GraphAdaptation;
import dev.graft.train.data.Sample;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The sample format a training job saved as {@value SftRun#SAMPLE_FORMAT} beside its adapter or
 * model, read back so that generation, evaluation and merged models see samples as training did:
 * the settings of the method that formatted them ({@code method} names it) and, for the instruction
 * templates, the prompt text with {@code {prompt}} and the text that ends a reply ({@code stop}).
 * {@link #NONE} stands for data that goes to the model as it is.
 */
public final class SavedFormat {
  /** No saved format: prompts and samples go to the model as they are. */
  public static final SavedFormat NONE = new SavedFormat(null, Map.of());

  private final Path file;
  private final Map<String, Object> settings;

  private SavedFormat(Path file, Map<String, Object> settings) {
    this.file = file;
    this.settings = settings;
  }

  /**
   * The format file that applies: the adapter's when there is an adapter (training wrote it there),
   * else the model folder's (a full fine-tuning job's {@code model/}, or a merged folder).
   *
   * @param adapterDir an adapter folder, or null
   */
  public static Optional<Path> file(Path modelDir, Path adapterDir) {
    Path file = (adapterDir != null ? adapterDir : modelDir).resolve(SftRun.SAMPLE_FORMAT);
    return Files.isRegularFile(file) ? Optional.of(file) : Optional.empty();
  }

  /**
   * Reads the format that applies to these folders; {@link #NONE} when there is none.
   *
   * @throws IllegalArgumentException naming the file when it is not a JSON object
   */
  public static SavedFormat read(Path modelDir, Path adapterDir) {
    Optional<Path> found = file(modelDir, adapterDir);
    if (found.isEmpty()) {
      return NONE;
    }
    try {
      Map<String, Object> settings =
          new ObjectMapper()
              .readValue(found.get().toFile(), new TypeReference<Map<String, Object>>() {});
      return new SavedFormat(found.get(), settings);
    } catch (IOException e) {
      throw new IllegalArgumentException(
          found.get() + " is not valid JSON (" + e.getMessage() + "); delete it or pass --raw.");
    }
  }

  /** Whether this is {@link #NONE}. */
  public boolean isNone() {
    return file == null;
  }

  /**
   * A prompt as text to encode.
   *
   * @param specialTokens whether the tokenizer adds its special tokens (BOS) when encoding it
   */
  public record Prompt(String text, boolean specialTokens) {
    /** The prompt's token ids. */
    public int[] ids(Tokenizer tokenizer) {
      return tokenizer.encode(text, specialTokens);
    }
  }

  /**
   * A user's prompt as the model saw prompts in training: through the chat template, an instruction
   * template ({@code {prompt}} in its text), or as given.
   *
   * @param template the model's chat template, or null if it has none
   */
  public Prompt prompt(String prompt, Tokenizer tokenizer, ChatTemplate template) {
    String kind = String.valueOf(settings.getOrDefault("template", ""));
    String system = String.valueOf(settings.getOrDefault("system_prompt", ""));
    if (kind.equals("chat")) {
      if (template == null) {
        throw new IllegalArgumentException(
            file + " asks for the model's chat template, but the model has none; pass --raw.");
      }
      List<Map<String, String>> messages = new ArrayList<>();
      if (!system.isEmpty()) {
        messages.add(Map.of("role", "system", "content", system));
      }
      messages.add(Map.of("role", "user", "content", prompt));
      return new Prompt(template.render(messages, true), false);
    }
    if (settings.get("prompt") instanceof String text && text.contains("{prompt}")) {
      // ChatML writes its own markers when the tokenizer has them as tokens; Alpaca gets BOS.
      boolean special = kind.equals("alpaca") || tokenizer.tokenToId("<|im_start|>").isEmpty();
      return new Prompt(text.replace("{prompt}", prompt), special);
    }
    return new Prompt(prompt, true);
  }

  /**
   * The prompt of a prompt/completion or instruction sample, as {@link #prompt(String, Tokenizer,
   * ChatTemplate)} gives it; an instruction with an input takes the template's {@code
   * prompt_with_input} when it has one (Alpaca's "### Input:").
   */
  public Prompt prompt(Sample sample, Tokenizer tokenizer, ChatTemplate template) {
    if (sample instanceof Sample.Instruction i
        && !i.input().isEmpty()
        && settings.get("prompt_with_input") instanceof String text) {
      return new Prompt(
          text.replace("{instruction}", i.instruction()).replace("{input}", i.input()), true);
    }
    String prompt =
        sample instanceof Sample.Instruction i
            ? i.asPromptCompletion().prompt()
            : ((Sample.PromptCompletion) sample).prompt();
    return prompt(prompt, tokenizer, template);
  }

  /** The text that ends a reply in this format, such as {@code <|im_end|>}; empty for none. */
  public List<String> stops() {
    return settings.get("stop") instanceof String text && !text.isEmpty()
        ? List.of(text)
        : List.of();
  }

  /**
   * The method's sample format, made again from the settings it saved, to render evaluation samples
   * exactly as training rendered them (template, loss mask, end of reply); null for {@link #NONE}.
   *
   * @throws IllegalArgumentException when the method that saved the format is not installed
   */
  public SampleFormat sampleFormat(Path modelDir, MethodRegistry registry) {
    if (isNone()) {
      return null;
    }
    String name = String.valueOf(settings.getOrDefault("method", ""));
    MethodRegistry.RegisteredMethod method =
        registry
            .find(name)
            .orElseThrow(
                () ->
                    new IllegalArgumentException(
                        file
                            + " was saved by method \""
                            + name
                            + "\", which is not installed; install it, or pass --raw to use"
                            + " the data as it is."));
    MethodInfo info = method.info();
    Map<String, String> options = new LinkedHashMap<>();
    for (OptionDescriptor o : info.options()) {
      if (settings.get(o.name()) != null) {
        options.put(o.name(), String.valueOf(settings.get(o.name())));
      }
    }
    try (SafetensorsReader checkpoint = SafetensorsReader.open(modelDir)) {
      ModelConfig config = ModelConfig.read(modelDir.resolve(ModelConfig.FILE));
      GraphAdaptation adaptation =
          new GraphAdaptation(
              new ModelGraphModel(ModelGraph.build(config, DType.FLOAT32), checkpoint),
              false,
              DType.FLOAT32);
      adaptation.adapting(name);
      method.method().create(Options.parse(info, options)).adapt(adaptation);
      return adaptation.sampleFormat();
    } catch (IOException e) {
      throw new UncheckedIOException("Could not read " + modelDir + ": " + e.getMessage(), e);
    }
  }

  /** The saved settings, as the file holds them. */
  Map<String, Object> settings() {
    return settings;
  }

  @Override
  public String toString() {
    return isNone() ? "none" : file.toString();
  }
}
