package dev.graft.itests;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.graft.model.ChatTemplate;
import dev.graft.model.Tokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.osgi.framework.FrameworkUtil;

/**
 * The model bundle inside the framework: its privately embedded Jinja engine and the Jackson bundle
 * it imports must resolve and work there, not only on a flat class path.
 */
class ModelBundleTest {
  private static Path shared(String path) {
    String root =
        FrameworkUtil.getBundle(ModelBundleTest.class)
            .getBundleContext()
            .getProperty("graft.shared");
    Path p = Path.of(root, path).normalize();
    Assumptions.assumeTrue(Files.exists(p), "../shared not found (" + p + "): skipping");
    return p;
  }

  @Test
  void theGpt2TokenizerEncodesInsideTheFramework() throws Exception {
    Tokenizer gpt2 = Tokenizer.load(shared("tokenizers/gpt2"));
    assertArrayEquals(new int[] {15496, 995}, gpt2.encode("Hello world", false));
  }

  @Test
  void theQwen3ChatTemplateRendersInsideTheFramework() throws Exception {
    ChatTemplate template = ChatTemplate.load(shared("tokenizers/qwen3"));
    String text =
        template.render(
            List.of(
                Map.of("role", "system", "content", "Be brief."),
                Map.of("role", "user", "content", "Hi")),
            true);
    assertEquals(
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
        text);
    assertTrue(Tokenizer.load(shared("tokenizers/qwen3")).encode(text, false).length > 0);
  }
}
