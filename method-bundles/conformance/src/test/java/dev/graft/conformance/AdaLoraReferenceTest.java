package dev.graft.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.api.backend.HostTensor;
import dev.graft.api.backend.Program;
import dev.graft.api.backend.Session;
import dev.graft.graph.DType;
import dev.graft.train.run.Adapters;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * AdaLoRA against an independent reference: {@code tools/adalora_reference.py} builds a PEFT {@code
 * ADALORA} adapter on stories260K with some singular values pruned (a {@code rank_pattern} of
 * boolean masks, the saved tensors sliced to the kept ranks as PEFT saves them), runs the Llama
 * forward with PEFT's SVDLinear in float64 torch, and writes the expected loss and logits. Graft
 * loads that adapter as PEFT made it (no {@code graft_methods}) and must agree within 1e-4.
 */
class AdaLoraReferenceTest {
  private static final Path FIXTURE = Path.of("src/test/resources/adalora-stories260K");

  @Test
  void aPeftAdaLoraAdapterWithPrunedRanksGivesTheReferenceLossOnStories260k() throws Exception {
    Path model = Fixtures.shared("models/stories260K");
    JsonNode expected = new ObjectMapper().readTree(FIXTURE.resolve("expected.json").toFile());
    long[] ids = new long[expected.get("ids").size()];
    for (int t = 0; t < ids.length; t++) {
      ids[t] = expected.get("ids").get(t).asLong();
    }
    Adapters.Adapted adapted = Adapters.load(model, FIXTURE, Fixtures.REGISTRY, false);
    float[] logits = logits(adapted, ids); // (T, V)
    int vocab = logits.length / ids.length;
    double loss = 0; // mean over positions of −log p(next token)
    for (int t = 0; t + 1 < ids.length; t++) {
      loss -= logSoftmax(logits, t * vocab, vocab, (int) ids[t + 1]);
    }
    loss /= ids.length - 1;
    assertEquals(expected.get("loss").asDouble(), loss, 1e-4);
    double error = 0;
    JsonNode last = expected.get("last_position_logits");
    for (int v = 0; v < vocab; v++) {
      error =
          Math.max(error, Math.abs(last.get(v).asDouble() - logits[(ids.length - 1) * vocab + v]));
    }
    assertEquals(0, error, 1e-4, "max abs logit difference at the last position");
  }

  /** The logits of one row of token ids on the CPU backend. */
  private static float[] logits(Adapters.Adapted adapted, long[] ids) {
    Program program =
        new Program(
            adapted.model().graph().toOnnx(),
            adapted.weights(),
            Map.of(),
            Set.of(DType.FLOAT32, DType.INT64));
    try (Session session = Fixtures.cpu().open(program)) {
      long[] shape = {1, ids.length};
      long[] positions = new long[ids.length];
      long[] segments = new long[ids.length];
      for (int t = 0; t < ids.length; t++) {
        positions[t] = t;
        segments[t] = 1;
      }
      Map<String, HostTensor> feeds = new LinkedHashMap<>();
      feeds.put("input_ids", HostTensor.ofLongs(shape, ids));
      feeds.put("position_ids", HostTensor.ofLongs(shape, positions));
      feeds.put("segment_ids", HostTensor.ofLongs(shape, segments));
      return session.run(feeds, Set.of("logits")).get("logits").floats();
    }
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
}
