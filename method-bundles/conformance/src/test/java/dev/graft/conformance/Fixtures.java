package dev.graft.conformance;

import dev.graft.api.FineTuningMethod;
import dev.graft.api.MethodRegistry;
import dev.graft.api.Suggestions;
import dev.graft.api.backend.BackendRegistry;
import dev.graft.api.backend.ComputeBackend;
import dev.graft.backend.cpu.CpuBackend;
import dev.graft.method.full.FullFineTuning;
import dev.graft.method.instruction.InstructionTuning;
import dev.graft.method.lora.LoraMethod;
import dev.graft.train.registry.FixedMethodRegistry;
import java.lang.annotation.Annotation;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Assumptions;

/** What the conformance tests share: the methods as a registry, a CPU backend, ../shared files. */
final class Fixtures {
  private Fixtures() {}

  static final List<FineTuningMethod> METHODS =
      List.of(new LoraMethod(), new FullFineTuning(), new InstructionTuning());

  static final MethodRegistry REGISTRY = new FixedMethodRegistry(METHODS);

  /** A backend registry holding one {@link #cpu()} backend. */
  static final BackendRegistry BACKENDS =
      new BackendRegistry() {
        private final ComputeBackend cpu = cpu();

        @Override
        public List<ComputeBackend> backends() {
          return List.of(cpu);
        }

        @Override
        public Optional<ComputeBackend> find(String name) {
          return backends().stream().filter(b -> b.name().equals(name)).findFirst();
        }

        @Override
        public ComputeBackend requireAvailable(String name) {
          return find(name)
              .orElseThrow(
                  () ->
                      new IllegalArgumentException(
                          Suggestions.unknown("backend", name, List.of("cpu"), "Installed", "")));
        }
      };

  /** A CPU backend with one thread: deterministic reductions, comparable numbers. */
  static CpuBackend cpu() {
    CpuBackend backend = new CpuBackend();
    backend.configure(
        new CpuBackend.Config() {
          @Override
          public int threads() {
            return 1;
          }

          @Override
          public Class<? extends Annotation> annotationType() {
            return CpuBackend.Config.class;
          }
        });
    return backend;
  }

  /** A file under ../shared, or a skipped test when ../shared is absent. */
  static Path shared(String path) {
    Path p = Path.of("../../../shared").resolve(path).toAbsolutePath().normalize();
    Assumptions.assumeTrue(Files.exists(p), "../shared not found (" + p + "): skipping");
    return p;
  }
}
