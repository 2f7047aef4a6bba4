package dev.graft.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ChatTemplateTest {

  private static Map<String, Object> msg(String role, String content) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("role", role);
    m.put("content", content);
    return m;
  }

  private static ChatTemplate qwen3() throws IOException {
    return ChatTemplate.load(Shared.path("tokenizers/qwen3"));
  }

  @Test
  void qwen3RendersSystemAndUserWithGenerationPrompt() throws IOException {
    String out =
        qwen3()
            .render(
                List.of(msg("system", "You are a helpful assistant."), msg("user", "What is 2+2?")),
                true);
    assertEquals(
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
            + "<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
            + "<|im_start|>assistant\n",
        out);
  }

  @Test
  void qwen3DropsReasoningOfEarlierTurnsAndKeepsItAfterTheLastQuery() throws IOException {
    String earlier =
        qwen3()
            .render(
                List.of(
                    msg("system", "S"),
                    msg("user", "U1"),
                    msg("assistant", "<think>\nreasoning\n</think>\n\nAnswer1"),
                    msg("user", "U2")),
                true);
    assertEquals(
        "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU1<|im_end|>\n"
            + "<|im_start|>assistant\nAnswer1<|im_end|>\n"
            + "<|im_start|>user\nU2<|im_end|>\n<|im_start|>assistant\n",
        earlier);
    String last =
        qwen3()
            .render(
                List.of(msg("user", "Hi"), msg("assistant", "<think>\nhmm\n\n</think>\n\nHello!")),
                false);
    assertEquals(
        "<|im_start|>user\nHi<|im_end|>\n"
            + "<|im_start|>assistant\n<think>\nhmm\n</think>\n\nHello!<|im_end|>\n",
        last);
  }

  @Test
  void qwen3HonoursEnableThinkingFalse() throws IOException {
    String out = qwen3().render(List.of(msg("user", "Hi")), true, Map.of("enable_thinking", false));
    assertEquals(
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n", out);
  }

  @Test
  void qwen3WritesToolsAsPythonJson() throws IOException {
    Map<String, Object> tool = new LinkedHashMap<>();
    tool.put("name", "get_time");
    tool.put("parameters", Map.of());
    tool.put("strict", true);
    String out =
        qwen3().render(List.of(msg("user", "Time?")), false, Map.of("tools", List.of(tool)));
    assertEquals(
        "<|im_start|>system\n# Tools\n\nYou may call one or more functions to assist with the user"
            + " query.\n\nYou are provided with function signatures within <tools></tools> XML"
            + " tags:\n<tools>\n{\"name\": \"get_time\", \"parameters\": {}, \"strict\": true}\n"
            + "</tools>\n\nFor each function call, return a json object with function name and"
            + " arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\":"
            + " <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n"
            + "<|im_start|>user\nTime?<|im_end|>\n",
        out);
  }

  @Test
  void specialTokensAndPythonStringMethodsAreAvailable() {
    ChatTemplate t =
        ChatTemplate.of(
            "{{ bos_token }}{% for m in messages %}{{ m['content'].strip().upper()"
                + " + '|' + m.role[::-1] + '|' + m.content.split()[-1] }}{% endfor %}",
            Map.of("bos_token", "<s>"));
    assertEquals("<s>A B|resu|b", t.render(List.of(msg("user", "  a b ")), false));
  }

  @Test
  void raiseExceptionStopsRenderingWithTheTemplatesMessage() {
    ChatTemplate t =
        ChatTemplate.of(
            "{% if messages[0]['role'] != 'user' %}{{ raise_exception('Conversation must start"
                + " with a user message.') }}{% endif %}",
            Map.of());
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class, () -> t.render(List.of(msg("system", "x")), false));
    assertEquals(
        "chat template: Conversation must start with a user message. (line 1).", e.getMessage());
  }
}
