package dev.graft.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.api.backend.HostTensor;
import dev.graft.api.backend.Program;
import dev.graft.api.backend.Session;
import dev.graft.graph.DType;
import dev.graft.model.ModelConfig;
import dev.graft.model.ModelGraph;
import dev.graft.model.SafetensorsReader;
import dev.graft.train.run.Adapters;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * PEFT adapters made by an independent reference ({@code tools/peft-fixtures.py}: PyTorch, PEFT's
 * layer formulas, its own Llama forward checked against stories260K's golden logits) evaluate
 * through Graft's adapter loading to the reference's loss within 1e-4. The adapters name no Graft
 * method: {@code use_dora: true} picks dora, {@code init_lora_weights: "pissa"} pissa.
 */
class PeftReferenceTest {
  private static JsonNode expected() throws Exception {
    return new ObjectMapper().readTree(resource("expected.json").toFile());
  }

  private static Path resource(String name) throws Exception {
    return Path.of(PeftReferenceTest.class.getResource("/peft/" + name).toURI());
  }

  @Test
  void theBaseModelGivesTheReferenceLoss() throws Exception {
    Path model = Fixtures.shared("models/stories260K");
    ModelGraph graph =
        ModelGraph.build(ModelConfig.read(model.resolve("config.json")), DType.FLOAT32);
    try (SafetensorsReader reader = SafetensorsReader.open(model)) {
      assertEquals(
          expected().get("base").asDouble(),
          loss(graph, graph.weights(reader, DType.FLOAT32), expected().get("ids")),
          1e-4);
    }
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"dora", "pissa"})
  void aPeftAdapterEvaluatesToTheReferenceLoss(String method) throws Exception {
    Adapters.Adapted adapted =
        Adapters.load(
            Fixtures.shared("models/stories260K"), resource(method), Fixtures.REGISTRY, false);
    assertEquals(method, adapted.methods().get(0).name());
    assertEquals(
        expected().get(method).asDouble(),
        loss(adapted.model(), adapted.weights(), expected().get("ids")),
        1e-4);
  }

  /** The mean next-token cross-entropy of one row of token ids, in double from the logits. */
  private static double loss(ModelGraph model, Map<String, HostTensor> weights, JsonNode ids) {
    int t = ids.size();
    long[] tokens = new long[t];
    long[] positions = new long[t];
    long[] segments = new long[t];
    for (int i = 0; i < t; i++) {
      tokens[i] = ids.get(i).asLong();
      positions[i] = i;
      segments[i] = 1;
    }
    Program program =
        new Program(model.graph().toOnnx(), weights, Map.of(), Set.of(DType.FLOAT32, DType.INT64));
    float[] logits;
    try (Session session = Fixtures.cpu().open(program)) {
      long[] shape = {1, t};
      Map<String, HostTensor> feeds = new LinkedHashMap<>();
      feeds.put("input_ids", HostTensor.ofLongs(shape, tokens));
      feeds.put("position_ids", HostTensor.ofLongs(shape, positions));
      feeds.put("segment_ids", HostTensor.ofLongs(shape, segments));
      logits = session.run(feeds, Set.of("logits")).get("logits").floats();
    }
    int vocab = logits.length / t;
    double sum = 0;
    for (int i = 0; i < t - 1; i++) {
      double max = Double.NEGATIVE_INFINITY;
      for (int v = 0; v < vocab; v++) {
        max = Math.max(max, logits[i * vocab + v]);
      }
      double z = 0;
      for (int v = 0; v < vocab; v++) {
        z += Math.exp(logits[i * vocab + v] - max);
      }
      sum += max + Math.log(z) - logits[i * vocab + (int) tokens[i + 1]];
    }
    return sum / (t - 1);
  }
}
