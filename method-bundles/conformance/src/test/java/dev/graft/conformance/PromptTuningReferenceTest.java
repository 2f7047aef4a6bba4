package dev.graft.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.train.run.Adapters;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * Prompt tuning against an independent reference: {@code tools/prompt_tuning_reference.py} runs the
 * stories260K Llama forward in float64 torch from the equations (its own safetensors reader, token
 * ids from golden.json) with 8 given virtual tokens, and writes a PEFT {@code PROMPT_TUNING}
 * adapter and the expected loss and logits. Graft loads that adapter as PEFT made it (no {@code
 * graft_methods}) and must agree within 1e-4.
 */
class PromptTuningReferenceTest {
  private static final Path FIXTURE = Path.of("src/test/resources/prompt-tuning-stories260K");

  @Test
  void aPeftPromptTuningAdapterGivesTheReferenceLossAndLogitsOnStories260k() throws Exception {
    Path model = Fixtures.shared("models/stories260K");
    JsonNode expected = new ObjectMapper().readTree(FIXTURE.resolve("expected.json").toFile());
    long[] ids = new long[expected.get("ids").size()];
    for (int t = 0; t < ids.length; t++) {
      ids[t] = expected.get("ids").get(t).asLong();
    }
    Adapters.Adapted adapted = Adapters.load(model, FIXTURE, Fixtures.REGISTRY, false);
    float[] logits = Fixtures.logits(adapted.model(), adapted.weights(), ids); // (T, V)
    int vocab = logits.length / ids.length;

    double loss = 0; // mean over the real positions of −log p(next token), as PEFT's labels
    for (int t = 0; t + 1 < ids.length; t++) {
      loss -= logSoftmax(logits, t * vocab, vocab, (int) ids[t + 1]);
    }
    loss /= ids.length - 1;
    assertEquals(expected.get("loss").asDouble(), loss, 1e-4);
    assertRow(expected.get("first_position_logits"), logits, 0);
    assertRow(expected.get("last_position_logits"), logits, (ids.length - 1) * vocab);
  }

  private static double logSoftmax(float[] logits, int from, int vocab, int target) {
    double max = Double.NEGATIVE_INFINITY;
    for (int v = 0; v < vocab; v++) {
      max = Math.max(max, logits[from + v]);
    }
    double sum = 0;
    for (int v = 0; v < vocab; v++) {
      sum += Math.exp(logits[from + v] - max);
    }
    return logits[from + target] - max - Math.log(sum);
  }

  private static void assertRow(JsonNode expected, float[] logits, int from) {
    double error = 0;
    for (int v = 0; v < expected.size(); v++) {
      error = Math.max(error, Math.abs(expected.get(v).asDouble() - logits[from + v]));
    }
    assertEquals(0, error, 1e-4, "max abs logit difference");
  }
}
