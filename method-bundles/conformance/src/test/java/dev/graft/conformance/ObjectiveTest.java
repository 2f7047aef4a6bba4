package dev.graft.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.graft.api.backend.Session;
import dev.graft.graph.DType;
import dev.graft.graph.Graph;
import dev.graft.graph.Tensor;
import dev.graft.model.ModelConfig;
import dev.graft.model.ModelGraph;
import dev.graft.model.SafetensorsReader;
import dev.graft.model.Tokenizer;
import dev.graft.train.data.Batches;
import dev.graft.train.data.Encoded;
import dev.graft.train.data.Jsonl;
import dev.graft.train.job.JobSpec;
import dev.graft.train.run.Objectives;
import dev.graft.train.run.SftRun;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.BiFunction;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Objectives on stories260K: the default cross-entropy, and a DPO-style pairwise objective. */
class ObjectiveTest {
  @TempDir Path dir;

  /** The loss {@code loss} builds over the model's logits, on one batch of the golden stories. */
  private float loss(BiFunction<Graph, Tensor, Tensor> loss) throws Exception {
    Path model = Fixtures.shared("models/stories260K");
    ModelGraph graph =
        ModelGraph.build(ModelConfig.read(model.resolve("config.json")), DType.FLOAT32);
    graph.graph().output("loss", loss.apply(graph.graph(), graph.logits()));
    graph.graph().removeOutput(ModelGraph.LOGITS);
    Tokenizer tokenizer = Tokenizer.load(model);
    List<Encoded> encoded =
        Encoded.all(
            Jsonl.read(GoldenCurveTest.data(dir), null, Map.of(), 0),
            tokenizer,
            null,
            null,
            new Encoded.Settings(64, true, true, false),
            w -> {});
    Batches.Batch batch = new Batches(encoded, 4, 64, false, 7, 0).batch(0);
    try (SafetensorsReader checkpoint = SafetensorsReader.open(model)) {
      Session session =
          Fixtures.cpu()
              .open(
                  graph.program(
                      checkpoint, Map.of(), Set.of(DType.FLOAT32, DType.INT64, DType.BOOL), false));
      try {
        return session.run(batch.feeds(), Set.of("loss")).get("loss").floats()[0];
      } finally {
        session.close();
      }
    }
  }

  @Test
  void theDefaultObjectiveGivesTheCrossEntropyOfBeforeBitForBit() throws Exception {
    float before =
        loss(
            (g, logits) -> {
              Tensor labels =
                  g.input(Batches.LABELS, DType.INT64, dev.graft.graph.Shape.with("batch", "seq"));
              long vocab = logits.shape().dim(-1).size();
              return g.crossEntropy(
                  g.reshape(logits, -1, vocab), g.reshape(labels, -1), Batches.IGNORE);
            });
    float now = loss((g, logits) -> Objectives.loss(g, logits, null));
    assertEquals(before, now, 0f);
  }

  /** The first {@code n} hh-rlhf pairs whose texts are at most {@code chars} long. */
  private Path preferencePairs(int n, int chars) throws Exception {
    Path source = Fixtures.shared("data/hh-rlhf/harmless-base-test.jsonl.gz");
    List<String> lines = new ArrayList<>();
    try (BufferedReader reader =
        new BufferedReader(
            new InputStreamReader(
                new GZIPInputStream(Files.newInputStream(source)), StandardCharsets.UTF_8))) {
      String line;
      while ((line = reader.readLine()) != null && lines.size() < n) {
        if (line.length() <= chars) {
          lines.add(line);
        }
      }
    }
    Path file = dir.resolve("pairs.jsonl");
    Files.writeString(file, String.join("\n", lines) + "\n");
    return file;
  }

  @Test
  void aSigmoidDpoObjectiveStartsAtLogTwoAndItsLossFallsOnHhRlhfPairs() throws Exception {
    Map<String, String> spec = new LinkedHashMap<>();
    spec.put("model", Fixtures.shared("models/stories260K").toString());
    spec.put("data", preferencePairs(8, 600).toString());
    spec.put("method", "lora," + TestMethods.DPO);
    spec.put("lora.target_modules", "all-linear");
    spec.put("seed", "7");
    spec.put("per_device_train_batch_size", "8");
    spec.put("max_length", "256");
    spec.put("learning_rate", "1e-2");
    spec.put("max_steps", "8");
    List<Double> losses = new ArrayList<>();
    try (SftRun run =
        new SftRun(
            JobSpec.parse(spec, TestMethods.REGISTRY),
            TestMethods.REGISTRY,
            Fixtures.cpu(),
            n -> {})) {
      for (int s = 0; s < 8; s++) {
        losses.add(run.step(s).loss());
      }
    }
    // LoRA starts as a no-op, so the policy equals the reference and every h is 0: −log σ(0).
    assertEquals(Math.log(2), losses.get(0), 1e-5, "step 1 of " + losses);
    assertTrue(losses.get(7) < 0.5 * Math.log(2), "falls: " + losses);
  }
}
