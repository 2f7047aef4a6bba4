package dev.graft.itests;

import dev.graft.itests.fixture.FixtureActivator;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URL;
import java.util.jar.Attributes;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import org.osgi.framework.Bundle;
import org.osgi.framework.FrameworkUtil;

/** Builds small method bundles at test time around {@link FixtureActivator}. */
final class TestBundles {
  private TestBundles() {}

  /** A bundle {@code test.method.<bsnSuffix>} that registers method {@code name}. */
  static byte[] method(String bsnSuffix, String name, String version) {
    return bundle(bsnSuffix, name, version, false);
  }

  /** A method bundle whose activator throws. */
  static byte[] failing(String bsnSuffix) {
    return bundle(bsnSuffix, "broken", "1.0.0", true);
  }

  private static byte[] bundle(String bsnSuffix, String name, String version, boolean fail) {
    Manifest manifest = new Manifest();
    Attributes main = manifest.getMainAttributes();
    main.put(Attributes.Name.MANIFEST_VERSION, "1.0");
    main.putValue("Bundle-ManifestVersion", "2");
    main.putValue("Bundle-SymbolicName", "test.method." + bsnSuffix);
    main.putValue("Bundle-Version", version);
    main.putValue("Bundle-Activator", FixtureActivator.class.getName());
    main.putValue(
        "Import-Package",
        "dev.graft.api;version=\"[1.0,2)\",dev.graft.api.adapt;version=\"[2.0,3)\",org.osgi.framework;version=\"[1.8,2)\"");
    main.putValue(FixtureActivator.NAME_HEADER, name);
    if (fail) {
      main.putValue(FixtureActivator.FAIL_HEADER, "true");
    }
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (JarOutputStream jar = new JarOutputStream(bytes, manifest)) {
      Bundle tests = FrameworkUtil.getBundle(TestBundles.class);
      String prefix = FixtureActivator.class.getPackageName().replace('.', '/') + "/";
      for (String entry : java.util.Collections.list(tests.getEntryPaths(prefix))) {
        if (entry.endsWith(".class")) {
          jar.putNextEntry(new JarEntry(entry));
          URL url = tests.getEntry(entry);
          try (InputStream in = url.openStream()) {
            in.transferTo(jar);
          }
          jar.closeEntry();
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return bytes.toByteArray();
  }
}
