package dev.graft.itests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.graft.api.backend.BackendRegistry;
import dev.graft.api.backend.ComputeBackend;
import java.util.Hashtable;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.osgi.service.cm.Configuration;
import org.osgi.service.cm.ConfigurationAdmin;
import org.osgi.test.common.annotation.InjectService;

/** The CPU backend probes ONNX Runtime for real; CUDA says why it is unavailable here. */
class BackendsTest {
  @InjectService BackendRegistry backends;
  @InjectService ConfigurationAdmin configAdmin;

  @Test
  void theCpuBackendIsAvailable() {
    ComputeBackend cpu = backends.requireAvailable("cpu");
    assertTrue(cpu.device().startsWith("CPU, "), cpu.device());
    assertTrue(cpu.device().contains("ONNX Runtime 1."), cpu.device());
  }

  @Test
  void cudaIsListedAsUnavailableWithTheProbesReasonOnAMachineWithoutIt() {
    ComputeBackend cuda = backends.find("cuda").orElseThrow();
    if (System.getenv("GRAFT_EXPECT_CUDA") != null) {
      assertTrue(cuda.availability().available(), cuda.availability().reason());
      return;
    }
    assertFalse(cuda.availability().available());
    assertTrue(cuda.availability().reason().contains("CUDA"), cuda.availability().reason());
  }

  @Test
  void theCpuThreadCountComesFromConfigAdmin() throws Exception {
    Configuration config = configAdmin.getConfiguration("dev.graft.backend.cpu", "?");
    try {
      config.update(new Hashtable<>(Map.of("threads", 1)));
      long deadline = System.currentTimeMillis() + 10_000;
      while (!backends.find("cpu").orElseThrow().device().startsWith("CPU, 1 thread ")
          && System.currentTimeMillis() < deadline) {
        Thread.sleep(50);
      }
      assertTrue(
          backends.find("cpu").orElseThrow().device().startsWith("CPU, 1 thread "),
          backends.find("cpu").orElseThrow().device());
    } finally {
      config.delete();
    }
  }

  @Test
  void anUnknownBackendIsQuotedWithTheInstalledOnes() {
    IllegalArgumentException e =
        org.junit.jupiter.api.Assertions.assertThrows(
            IllegalArgumentException.class, () -> backends.requireAvailable("cpuu"));
    assertEquals(
        "Unknown backend \"cpuu\". Installed: cpu, cuda. Did you mean \"cpu\"? See 'graft:backends'.",
        e.getMessage());
  }
}
