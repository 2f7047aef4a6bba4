package dev.graft.model;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Chat templates come from model folders that someone else wrote: rendering one must not reach Java
 * classes or methods, nor run without bounds.
 */
class HostileChatTemplateTest {

  private static String render(String template) {
    return ChatTemplate.of(template, Map.of())
        .render(List.of(Map.of("role", "user", "content", "hi")), false);
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "{{ ''.getClass().forName('java.lang.Runtime').getRuntime().exec('touch /tmp/graft-tpl') }}",
        "{{ messages.getClass().getClassLoader() }}",
        "{{ ''.class.forName('java.lang.Runtime') }}",
        "{{ messages[0].getClass().getName() }}",
        "{% set r = ''.getClass() %}{{ r.getMethods() }}",
        "{{ messages.toString().getClass() }}",
        "{{ (1).getClass() }}"
      })
  void aTemplateCannotReachJavaClasses(String template) {
    try {
      String out = render(template);
      assertTrue(out.isBlank(), "rendered a Java object: " + out);
    } catch (IllegalArgumentException refused) {
      assertTrue(refused.getMessage().startsWith("chat template: "), refused.getMessage());
    }
    assertFalse(Files.exists(Path.of("/tmp/graft-tpl")));
  }

  @Test
  void unboundedOutputIsStoppedWithOneSentence() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                render(
                    "{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000)"
                        + " %}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx{% endfor %}"
                        + "{% endfor %}{% endfor %}"));
    assertTrue(e.getMessage().startsWith("chat template: "), e.getMessage());
  }

  @Test
  void unboundedRecursionIsStoppedWithOneSentence() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> render("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"));
    assertTrue(e.getMessage().startsWith("chat template: "), e.getMessage());
  }
}
