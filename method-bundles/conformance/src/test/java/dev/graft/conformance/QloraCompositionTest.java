package dev.graft.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import dev.graft.api.backend.HostTensor;
import dev.graft.graph.DType;
import dev.graft.model.SafetensorsReader;
import dev.graft.train.job.JobSpec;
import dev.graft.train.run.Adapters;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * QLoRA composes with the LoRA-family method of the job, whichever it is: {@code qlora} alone means
 * {@code qlora,lora}; its base is held as packed codes; only the LoRA factors train.
 */
class QloraCompositionTest {
  @TempDir Path dir;

  private List<String> methods(String method) throws Exception {
    Map<String, String> spec = Fixtures.spec(dir, method, 1);
    return List.copyOf(JobSpec.parse(spec, Fixtures.REGISTRY).methods().keySet());
  }

  @Test
  void qloraAloneTrainsLoraOnTheQuantisedBase() throws Exception {
    assertEquals(List.of("qlora", "lora"), methods("qlora"));
  }

  @Test
  void qloraWithALoraVariantAddsNoLora() throws Exception {
    assertEquals(List.of("qlora", "lora-fa"), methods("qlora,lora-fa"));
  }

  @Test
  void qloraWithAnObjectiveAloneGetsLoraToo() throws Exception {
    assertEquals(
        List.of("qlora", "lora", "instruction-tuning"), methods("qlora,instruction-tuning"));
  }

  @Test
  void theBaseIsHeldAsPackedBytesAndOnlyTheLoraFactorsTrain() throws Exception {
    Map<String, String> spec = Fixtures.spec(dir, "qlora", 1);
    spec.put("save_steps", "1");
    spec.put("lora.target_modules", "all-linear");
    Path out = Fixtures.train(spec, dir.resolve("job"), Fixtures.REGISTRY);
    Path base = Fixtures.shared("models/stories260K");
    Map<String, HostTensor> w =
        Adapters.load(base, out.resolve("adapter"), Fixtures.REGISTRY, false).weights();
    String q = "model.layers.0.self_attn.q_proj";
    assertEquals(DType.UINT8, w.get(q + ".weight.codes").dtype());
    assertEquals(DType.UINT8, w.get(q + ".weight.absmax_codes").dtype());
    assertFalse(w.containsKey(q + ".weight"), "the float32 W is not part of the program");
    Set<String> trained = new TreeSet<>();
    try (SafetensorsReader adapter =
        SafetensorsReader.open(out.resolve("adapter/adapter_model.safetensors"))) {
      adapter.names().forEach(n -> trained.add(n.replaceAll(".*\\.(lora_[AB])\\.weight", "$1")));
    }
    assertEquals(Set.of("lora_A", "lora_B"), trained);
  }
}
