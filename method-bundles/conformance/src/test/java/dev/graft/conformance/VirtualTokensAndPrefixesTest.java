package dev.graft.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.graft.api.FineTuningMethod;
import dev.graft.api.MethodFamily;
import dev.graft.api.MethodInfo;
import dev.graft.api.MethodRegistry;
import dev.graft.api.Options;
import dev.graft.api.adapt.Adaptation;
import dev.graft.api.adapt.Init;
import dev.graft.api.adapt.MethodInstance;
import dev.graft.api.adapt.ModelSpec;
import dev.graft.api.model.EvaluationSettings;
import dev.graft.api.model.GenerationSettings;
import dev.graft.api.model.ModelService;
import dev.graft.graph.Tensor;
import dev.graft.train.job.JobSpec;
import dev.graft.train.registry.FixedMethodRegistry;
import dev.graft.train.run.SftRun;
import dev.graft.train.service.ModelServiceImpl;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The platform's sequence-changing sites trained end to end on stories260K through two test-only
 * methods (not shipped bundles): virtual tokens ({@code prompt-tuning}) and per-layer key/value
 * prefixes ({@code prefix-tuning}). Gradients reach them (the loss falls), and the saved adapter
 * loads for evaluation (the trained loss again) and for cached generation.
 */
class VirtualTokensAndPrefixesTest {
  @TempDir Path dir;

  private static final int VIRTUAL = 8;

  /** Eight trainable virtual tokens, initialised from the embeddings of tokens 100..107. */
  static final FineTuningMethod PROMPT =
      method(
          "prompt-tuning",
          "PROMPT_TUNING",
          a -> {
            ModelSpec m = a.model();
            float[] table = a.weight("model.embed_tokens.weight");
            float[] rows = Arrays.copyOfRange(table, 100 * m.hiddenSize(), 108 * m.hiddenSize());
            Tensor p =
                a.parameter(
                    "",
                    "prompt_embeddings",
                    new long[] {VIRTUAL, m.hiddenSize()},
                    Init.of(rows),
                    true);
            a.prependVirtualTokens(p);
          });

  /** Eight trainable keys and values in every layer. */
  static final FineTuningMethod PREFIX =
      method(
          "prefix-tuning",
          "PREFIX_TUNING",
          a -> {
            ModelSpec m = a.model();
            long width = (long) m.keyValueHeads() * m.headDim();
            for (int i = 0; i < m.layers(); i++) {
              String owner = "prefix." + i;
              Tensor k =
                  a.parameter(owner, "key", new long[] {VIRTUAL, width}, Init.normal(0.5), true);
              Tensor v =
                  a.parameter(owner, "value", new long[] {VIRTUAL, width}, Init.normal(0.5), true);
              a.addKeyValuePrefix(i, k, v);
            }
          });

  static final MethodRegistry REGISTRY = new FixedMethodRegistry(List.of(PROMPT, PREFIX));
  static final ModelService SERVICE = new ModelServiceImpl(REGISTRY, Fixtures.BACKENDS);

  @Test
  void virtualTokensLearnAndTheirAdapterEvaluatesAndGenerates() throws Exception {
    assertLearnsAndLoads("prompt-tuning");
  }

  @Test
  void keyValuePrefixesLearnAndTheirAdapterEvaluatesAndGenerates() throws Exception {
    assertLearnsAndLoads("prefix-tuning");
  }

  @ParameterizedTest
  @ValueSource(strings = {"prompt-tuning", "prefix-tuning"})
  void aSampleLongerThanTheContextIsCutToWhatTheVirtualPositionsLeave(String method)
      throws Exception {
    Path model = Fixtures.shared("models/stories260K");
    // About 900 tokens of story: more than max_position_embeddings (512) on its own.
    String story = String.join(" ", java.util.Collections.nCopies(60, "Lily saw a big red ball."));
    Path data = Files.writeString(dir.resolve("long.jsonl"), "{\"text\": \"" + story + "\"}\n");
    Map<String, String> spec = Fixtures.spec(dir, method, 1);
    spec.put("data", data.toString());
    spec.put("max_length", "1024");
    spec.put("per_device_train_batch_size", "1");
    List<String> log = new ArrayList<>();
    try (SftRun run =
        new SftRun(JobSpec.parse(spec, REGISTRY), REGISTRY, Fixtures.cpu(), log::add)) {
      assertTrue(Double.isFinite(run.step(0).loss()));
    }
    assertTrue(
        log.stream().anyMatch(l -> l.contains((512 - VIRTUAL) + " of max_position_embeddings 512")),
        log.toString());
    Path adapter = Fixtures.train(spec, dir.resolve(method), REGISTRY).resolve("adapter");
    EvaluationSettings d = EvaluationSettings.defaults();
    double loss =
        SERVICE
            .evaluate(
                model,
                adapter,
                data,
                new EvaluationSettings(
                    d.dataFormat(), d.dataColumns(), 1024, 1, 0, "cpu", true, true))
            .loss();
    assertTrue(Double.isFinite(loss), "evaluated to the context: " + loss);
  }

  /**
   * Twelve steps at prompt tuning's learning rate: the training loss falls, the saved adapter
   * evaluates to the trained loss, and generation with it (KV cache) runs.
   */
  private void assertLearnsAndLoads(String method) throws Exception {
    Path model = Fixtures.shared("models/stories260K");
    Path stories = GoldenCurveTest.data(dir);
    Map<String, String> spec = new LinkedHashMap<>();
    spec.put("model", model.toString());
    spec.put("data", stories.toString());
    spec.put("method", method);
    spec.put("seed", "7");
    spec.put("per_device_train_batch_size", "8");
    spec.put("max_length", "64");
    spec.put("learning_rate", "3e-2");
    spec.put("max_steps", "12");
    JobSpec checked = JobSpec.parse(spec, REGISTRY);
    List<Double> losses = new ArrayList<>();
    try (SftRun run = new SftRun(checked, REGISTRY, Fixtures.cpu(), n -> {})) {
      // Step 12 only measures the loss after the twelve updates the job below makes.
      for (int s = 0; s <= 12; s++) {
        losses.add(run.step(s).loss());
      }
    }
    // One batch holds all eight stories: every step sees the same data.
    assertTrue(losses.get(12) < losses.get(0) - 0.2, "losses " + losses);

    Path out = Fixtures.train(spec, dir.resolve(method), REGISTRY);
    Path adapter = out.resolve("adapter");
    // The adapter evaluates to the training loss of the same parameters on the same batch.
    assertEquals(losses.get(12), evaluate(SERVICE, model, adapter, stories), 1e-4);
    String completion =
        SERVICE.generate(model, adapter, "Once upon a time", GenerationSettings.greedy(20));
    assertTrue(!completion.isBlank(), completion);
  }

  /** The evaluation loss of {@code adapter} on {@code data}, in rows of up to 64 tokens. */
  static double evaluate(ModelService service, Path model, Path adapter, Path data) {
    EvaluationSettings d = EvaluationSettings.defaults();
    return service
        .evaluate(
            model,
            adapter,
            data,
            new EvaluationSettings(d.dataFormat(), d.dataColumns(), 64, 8, 0, "cpu", true, true))
        .loss();
  }

  /** A test-only method that adapts the graph with {@code adapt} and names its PEFT type. */
  private static FineTuningMethod method(String name, String peftType, Consumer<Adaptation> adapt) {
    MethodInfo info = new MethodInfo(name, name, MethodFamily.PROMPT, null, List.of());
    return new FineTuningMethod() {
      @Override
      public MethodInfo info() {
        return info;
      }

      @Override
      public MethodInstance create(Options options) {
        return new MethodInstance() {
          @Override
          public void adapt(Adaptation adaptation) {
            adapt.accept(adaptation);
          }

          @Override
          public Map<String, Object> adapterConfig() {
            return Map.of("peft_type", peftType, "num_virtual_tokens", VIRTUAL);
          }
        };
      }
    };
  }
}
