package dev.graft.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.model.impl.JinjaEngine;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A model's chat template, rendered like transformers' {@code apply_chat_template(messages,
 * add_generation_prompt=…, tokenize=False)}: the Jinja template from {@code chat_template.jinja} or
 * {@code tokenizer_config.json}, with the special tokens ({@code bos_token}, {@code eos_token}, …)
 * as variables. Thread-safe.
 */
public final class ChatTemplate {

  private final String template;
  private final Map<String, Object> specialTokens;

  private ChatTemplate(String template, Map<String, Object> specialTokens) {
    this.template = template;
    this.specialTokens = Map.copyOf(specialTokens);
  }

  /**
   * A template from its source text, with the given variables (usually special tokens) always
   * defined.
   */
  public static ChatTemplate of(String template, Map<String, ?> specialTokens) {
    return new ChatTemplate(template, new HashMap<>(specialTokens));
  }

  /**
   * The chat template of a model folder: {@code chat_template.jinja} if present, else {@code
   * chat_template} of {@code tokenizer_config.json} (a string, or a list of named templates of
   * which "default" is taken).
   *
   * @throws IllegalArgumentException when the folder has no chat template
   */
  public static ChatTemplate load(Path folder) throws IOException {
    Path configFile = folder.resolve("tokenizer_config.json");
    JsonNode config =
        Files.exists(configFile) ? new ObjectMapper().readTree(configFile.toFile()) : null;
    Map<String, Object> tokens = new HashMap<>();
    if (config != null) {
      for (String name : new String[] {"bos_token", "eos_token", "unk_token", "pad_token"}) {
        JsonNode n = config.get(name);
        if (n != null && !n.isNull()) {
          tokens.put(name, n.isObject() ? n.path("content").asText() : n.asText());
        }
      }
      List<String> additional = new ArrayList<>();
      config.path("additional_special_tokens").forEach(n -> additional.add(n.asText()));
      tokens.put("additional_special_tokens", additional);
    }
    Path jinja = folder.resolve("chat_template.jinja");
    if (Files.exists(jinja)) {
      return new ChatTemplate(Files.readString(jinja), tokens);
    }
    JsonNode template = config == null ? null : config.get("chat_template");
    if (template != null && template.isArray()) {
      for (JsonNode named : template) {
        if (named.path("name").asText().equals("default")) {
          template = named.get("template");
        }
      }
    }
    if (template == null || !template.isTextual()) {
      throw new IllegalArgumentException(
          folder.getFileName()
              + ": has no chat template (neither chat_template.jinja nor a \"chat_template\""
              + " string in tokenizer_config.json).");
    }
    return new ChatTemplate(template.asText(), tokens);
  }

  /**
   * Renders a conversation.
   *
   * @param messages maps with at least {@code role} and {@code content}, in order
   * @param addGenerationPrompt whether to end with the prompt for the assistant's reply
   * @throws IllegalArgumentException when the template raises an exception (its message) or fails
   */
  public String render(List<? extends Map<String, ?>> messages, boolean addGenerationPrompt) {
    return render(messages, addGenerationPrompt, Map.of());
  }

  /**
   * Renders a conversation with extra template variables, e.g. {@code tools} or {@code
   * enable_thinking}.
   */
  public String render(
      List<? extends Map<String, ?>> messages,
      boolean addGenerationPrompt,
      Map<String, ?> variables) {
    Map<String, Object> context = new HashMap<>(specialTokens);
    context.putAll(variables);
    context.put("messages", messages);
    context.put("add_generation_prompt", addGenerationPrompt);
    return JinjaEngine.render(template, context);
  }
}
