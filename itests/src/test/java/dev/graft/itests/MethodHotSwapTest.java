package dev.graft.itests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.graft.api.MethodRegistry;
import java.io.ByteArrayInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.apache.felix.service.command.CommandProcessor;
import org.apache.felix.service.command.CommandSession;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.BundleException;
import org.osgi.framework.FrameworkUtil;
import org.osgi.framework.wiring.FrameworkWiring;
import org.osgi.test.common.annotation.InjectService;

/** Methods come and go with their bundles, and graft:methods always shows the current set. */
class MethodHotSwapTest {
  // Installed through the test bundle's own context, not osgi-test's injected one (toolchain P13).
  private final BundleContext context = FrameworkUtil.getBundle(getClass()).getBundleContext();
  private final List<Bundle> installed = new ArrayList<>();

  @InjectService MethodRegistry registry;
  @InjectService CommandProcessor processor;

  @AfterEach
  void uninstallTestBundles() throws BundleException {
    for (Bundle b : installed) {
      if (b.getState() != Bundle.UNINSTALLED) {
        b.uninstall();
      }
    }
  }

  private Bundle install(String location, byte[] jar) throws BundleException {
    Bundle b = context.installBundle(location, new ByteArrayInputStream(jar));
    installed.add(b);
    return b;
  }

  private String shell(String command) throws Exception {
    try (CommandSession session = processor.createSession(System.in, System.out, System.err)) {
      return String.valueOf(session.execute(command));
    }
  }

  private static void eventually(String what, BooleanSupplier condition)
      throws InterruptedException {
    long deadline = System.currentTimeMillis() + 10_000;
    while (!condition.getAsBoolean()) {
      if (System.currentTimeMillis() > deadline) {
        throw new AssertionError("Not within 10 s: " + what);
      }
      Thread.sleep(50);
    }
  }

  @Test
  void anInstalledMethodBundleIsListedByGraftMethods() throws Exception {
    install("test:alpha", TestBundles.method("alpha", "alpha", "1.0.0")).start();
    String table = shell("graft:methods");
    assertTrue(
        table
            .lines()
            .anyMatch(
                l ->
                    l.matches(
                        "alpha\\s+selective\\s+test\\.method\\.alpha\\s+1\\.0\\.0\\s+active")),
        table);
    String details = shell("graft:method alpha");
    assertTrue(details.contains("scale   float  1.0      a test option"), details);
  }

  @Test
  void aStoppedOrUninstalledMethodIsGone() throws Exception {
    Bundle b = install("test:alpha", TestBundles.method("alpha", "alpha", "1.0.0"));
    b.start();
    assertTrue(registry.find("alpha").isPresent());
    b.stop();
    assertFalse(registry.find("alpha").isPresent());
    assertFalse(shell("graft:methods").contains("alpha"));
    b.start();
    assertTrue(registry.find("alpha").isPresent());
    b.uninstall();
    assertFalse(registry.find("alpha").isPresent());
    assertFalse(shell("graft:methods").contains("alpha"));
  }

  @Test
  void anUpdatedBundleIsListedWithItsNewVersion() throws Exception {
    Bundle b = install("test:alpha", TestBundles.method("alpha", "alpha", "1.0.0"));
    b.start();
    assertEquals("1.0.0", registry.require("alpha").version());
    b.update(new ByteArrayInputStream(TestBundles.method("alpha", "alpha", "1.1.0")));
    CountDownLatch refreshed = new CountDownLatch(1);
    context
        .getBundle(0)
        .adapt(FrameworkWiring.class)
        .refreshBundles(List.of(b), e -> refreshed.countDown());
    assertTrue(refreshed.await(10, TimeUnit.SECONDS), "the refresh finished");
    eventually(
        "alpha 1.1.0 is listed",
        () -> registry.find("alpha").map(m -> m.version().equals("1.1.0")).orElse(false));
    assertTrue(shell("graft:methods").contains("1.1.0"));
  }

  @Test
  void aSecondMethodWithATakenNameIsRejectedAndTheFirstStays() throws Exception {
    install("test:first", TestBundles.method("first", "beta", "1.0.0")).start();
    Bundle second = install("test:second", TestBundles.method("second", "beta", "1.0.0"));
    second.start();
    assertEquals("test.method.first", registry.require("beta").bundle());
    assertEquals(1, registry.rejected().size());
    assertEquals(
        "The name \"beta\" is taken by test.method.first 1.0.0; uninstall one of the two bundles or rename one method.",
        registry.rejected().get(0).reason());
    String table = shell("graft:methods");
    assertTrue(
        table.contains(
            "Not in service:\n  beta from test.method.second 1.0.0: The name \"beta\" is taken"),
        table);
    installed.get(0).uninstall();
    assertEquals("test.method.second", registry.require("beta").bundle());
    assertTrue(registry.rejected().isEmpty());
  }

  @Test
  void aBundleThatFailsToStartDoesNotTakeTheShellDown() throws Exception {
    Bundle broken = install("test:broken", TestBundles.failing("broken"));
    assertThrows(BundleException.class, broken::start);
    install("test:alpha", TestBundles.method("alpha", "alpha", "1.0.0")).start();
    assertTrue(shell("graft:methods").contains("alpha"));
    assertFalse(registry.find("broken").isPresent());
  }

  @Test
  void aJarDroppedIntoDeployAppearsAndGoesWhenRemoved() throws Exception {
    Path deploy = Path.of(context.getProperty("felix.fileinstall.dir"));
    Path jar = deploy.resolve("gamma.jar");
    Files.write(jar, TestBundles.method("gamma", "gamma", "2.0.0"));
    try {
      eventually("gamma appears after the drop", () -> registry.find("gamma").isPresent());
      assertEquals("2.0.0", registry.require("gamma").version());
    } finally {
      Files.delete(jar);
    }
    eventually("gamma is gone after the delete", () -> registry.find("gamma").isEmpty());
  }

  @Test
  void aLoraVariantComesAndGoesWithItsBundleWhileLoraStays() throws Exception {
    Bundle variant =
        java.util.Arrays.stream(context.getBundles())
            .filter(b -> b.getSymbolicName().equals("dev.graft.method.lorafa"))
            .findFirst()
            .orElseThrow();
    assertTrue(shell("graft:methods").contains("lora-fa"));
    try {
      variant.stop();
      eventually("lora-fa is gone", () -> registry.find("lora-fa").isEmpty());
      assertTrue(registry.find("lora").isPresent(), "LoRA itself stays");
    } finally {
      variant.start();
    }
    eventually("lora-fa is back", () -> registry.find("lora-fa").isPresent());
    assertTrue(shell("graft:method lora-fa").contains("2308.03303"));
  }

  @Test
  void anUnknownMethodNameIsQuotedWithTheInstalledOnes() throws Exception {
    install("test:alpha", TestBundles.method("alpha", "alpha", "1.0.0")).start();
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> shell("graft:method alpah"));
    // The installed list is every registered method, sorted: the shipped bundles and alpha.
    List<String> names = registry.methods().stream().map(m -> m.info().name()).sorted().toList();
    assertTrue(names.contains("alpha") && names.contains("full"), names.toString());
    String installed = String.join(", ", names);
    assertEquals(
        "Unknown method \"alpah\". Installed: "
            + installed
            + ". Did you mean \"alpha\"? See 'graft:methods'.",
        e.getMessage());
  }
}
