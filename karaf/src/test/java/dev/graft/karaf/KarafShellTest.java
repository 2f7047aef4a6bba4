package dev.graft.karaf;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Graft in Apache Karaf 4.4: the console of {@code bin/karaf} adds the built feature repository by
 * its {@code mvn:} URL, installs the {@code graft} feature (its bundles resolved offline from the
 * build's own copies), lists the methods with {@code graft:methods} and trains LoRA with {@code
 * graft:train}.
 */
@Tag("slow")
class KarafShellTest {
  private static final String PROMPT = Pattern.quote("karaf@root()>");
  private static final Pattern ANSI = Pattern.compile("\u001b\\[[0-9;?]*[A-Za-z]");

  @TempDir Path work;

  private final StringBuffer console = new StringBuffer();

  /** {@code shared/models/stories260K} above the working directory; skips the test without it. */
  private static Path stories260k() {
    for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
      Path model = p.resolveSibling("shared").resolve("models/stories260K");
      if (Files.isDirectory(model)) {
        return model;
      }
    }
    assumeTrue(false, "../shared not found above " + Path.of("").toAbsolutePath() + ": skipping");
    throw new AssertionError("unreachable");
  }

  private static int freePort() throws IOException {
    try (ServerSocket socket = new ServerSocket(0)) {
      return socket.getLocalPort();
    }
  }

  /** Replaces the line {@code key = ...} of a Karaf configuration file. */
  private static void set(Path cfg, String key, Object value) throws IOException {
    String text = Files.readString(cfg);
    String changed =
        Pattern.compile("(?m)^" + Pattern.quote(key) + "\\s*=.*$")
            .matcher(text)
            .replaceFirst(key + " = " + value);
    assertTrue(!changed.equals(text), key + " not found in " + cfg);
    Files.writeString(cfg, changed);
  }

  /** Karaf's console output from {@code from} on, without colours, one line per line. */
  private String output(int from) {
    return ANSI.matcher(console.substring(from))
        .replaceAll("")
        .replace("\r\n", "\n")
        .replace("\r", "\n");
  }

  /**
   * Types a command followed by {@code echo <marker>} and waits up to {@code seconds} for the
   * marker on a line of its own, or right after prompts that the console printed ahead of it (the
   * typed line shows it after {@code echo }); returns what the command printed.
   */
  private String run(OutputStream in, String command, String marker, int seconds) throws Exception {
    int from = console.length();
    in.write((command + "\necho " + marker + "\n").getBytes(StandardCharsets.UTF_8));
    in.flush();
    Pattern done = Pattern.compile("(?m)^(" + PROMPT + " *)*" + Pattern.quote(marker) + "\\s*$");
    long deadline = System.currentTimeMillis() + seconds * 1000L;
    while (!done.matcher(output(from)).find()) {
      if (System.currentTimeMillis() > deadline) {
        throw new AssertionError(
            "Karaf did not finish \"" + command + "\" within " + seconds + " s:\n" + tail());
      }
      Thread.sleep(200);
    }
    return output(from);
  }

  private String tail() {
    String out = output(0).replaceAll("(?m)^(" + PROMPT + " *)+$\\n?", "");
    return out.substring(Math.max(0, out.length() - 4000));
  }

  @Test
  void graftInstallsAsAKarafFeatureAndTrainsFromKarafsShell() throws Exception {
    Path karaf = Path.of(System.getProperty("graft.karaf"));
    assumeTrue(
        Files.isExecutable(karaf.resolve("bin/karaf")),
        "Karaf is not unpacked at "
            + karaf
            + " (the build unpacks it with -Pslow, unless -Dkaraf.skip=true): skipping");
    Path model = stories260k();
    String featuresUrl = System.getProperty("graft.features.url");
    Path repository = Path.of(System.getProperty("graft.repository"));

    // Offline: the feature repository and its bundles come from the build's copies, Karaf's own
    // from system/.
    Files.writeString(
        karaf.resolve("etc/org.ops4j.pax.url.mvn.cfg"),
        "org.ops4j.pax.url.mvn.localRepository="
            + repository
            + "\norg.ops4j.pax.url.mvn.offline=true"
            + "\norg.ops4j.pax.url.mvn.useFallbackRepositories=false"
            + "\norg.ops4j.pax.url.mvn.defaultRepositories="
            + "${karaf.home.uri}${karaf.default.repository}@id=system.repository@snapshots"
            + "\norg.ops4j.pax.url.mvn.repositories=\n");
    set(karaf.resolve("etc/org.apache.karaf.shell.cfg"), "sshPort", freePort());
    set(karaf.resolve("etc/org.apache.karaf.management.cfg"), "rmiRegistryPort", freePort());
    set(karaf.resolve("etc/org.apache.karaf.management.cfg"), "rmiServerPort", freePort());

    Files.writeString(
        work.resolve("data.jsonl"),
        "{\"text\": \"Once upon a time, there was a little dog named Max.\"}\n"
            + "{\"text\": \"Lily had a red ball. She threw it to Tom.\"}\n");
    Path job = work.resolve("job.yaml");
    Files.writeString(
        job,
        "model: "
            + model
            + "\nmethod: lora\ndata: "
            + work.resolve("data.jsonl")
            + "\nmax_steps: 3\nper_device_train_batch_size: 2\nmax_length: 32\n"
            + "learning_rate: 1e-3\nseed: 5\noutput_dir: "
            + work.resolve("out")
            + "\nlora:\n  r: 4\n");

    ProcessBuilder builder =
        new ProcessBuilder(karaf.resolve("bin/karaf").toString(), "clean")
            .directory(karaf.toFile())
            .redirectErrorStream(true);
    builder.environment().put("JAVA_HOME", Path.of(System.getProperty("java.home")).toString());
    builder.environment().put("TERM", "dumb");
    builder
        .environment()
        .put(
            "EXTRA_JAVA_OPTS",
            "-Dgraft.home=" + work.resolve("graft-home") + " -Djava.io.tmpdir=" + work);
    Process process = builder.start();
    Thread reader = new Thread(() -> copy(process.getInputStream()), "karaf-console");
    reader.setDaemon(true);
    reader.start();
    try (OutputStream in = process.getOutputStream()) {
      String added = run(in, "feature:repo-add " + featuresUrl, "repo-added", 120);
      assertTrue(added.contains("Adding feature url") && !added.contains("Error"), added);
      String install = run(in, "feature:install graft", "installed", 120);
      assertTrue(!install.contains("Error") && !install.contains("Exception"), install);

      String methods = run(in, "graft:methods", "listed", 60);
      assertTrue(methods.contains("dev.graft.method.lora") && methods.contains("qlora"), tail());

      String train = run(in, "graft:train " + job, "trained", 120);
      assertTrue(train.contains("completed after 3 of 3 steps"), tail());
      assertTrue(Files.exists(work.resolve("out/adapter/adapter_model.safetensors")), tail());
      assertTrue(Files.readAllLines(work.resolve("out/metrics.csv")).size() == 4, tail());

      in.write("shutdown -f\n".getBytes(StandardCharsets.UTF_8));
      in.flush();
    } finally {
      if (!process.waitFor(60, TimeUnit.SECONDS)) {
        process.destroyForcibly();
      }
    }
  }

  private void copy(InputStream from) {
    byte[] buffer = new byte[8192];
    try {
      for (int n; (n = from.read(buffer)) > 0; ) {
        console.append(new String(buffer, 0, n, StandardCharsets.UTF_8));
      }
    } catch (IOException e) {
      console.append("\n[console closed: ").append(e.getMessage()).append("]\n");
    }
  }
}
