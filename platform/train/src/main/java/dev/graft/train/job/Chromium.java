package dev.graft.train.job;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * Headless Chromium, where one is installed: {@code GRAFT_CHROMIUM}, else {@code chromium}, {@code
 * chromium-browser} or {@code google-chrome} on the {@code PATH}. Renders a job's report to PNG.
 */
public final class Chromium {
  private static final long TIMEOUT_SECONDS = 60;

  private final Path binary;

  private Chromium(Path binary) {
    this.binary = binary;
  }

  /** The installed browser, if any. */
  public static Optional<Chromium> find() {
    String configured = System.getenv("GRAFT_CHROMIUM");
    if (configured != null && !configured.isBlank()) {
      Path p = Path.of(configured);
      return Files.isExecutable(p) ? Optional.of(new Chromium(p)) : Optional.empty();
    }
    String path = System.getenv("PATH");
    for (String dir : (path == null ? "" : path).split(File.pathSeparator)) {
      for (String name : List.of("chromium", "chromium-browser", "google-chrome")) {
        Path p = Path.of(dir.isEmpty() ? "." : dir, name);
        if (Files.isExecutable(p)) {
          return Optional.of(new Chromium(p));
        }
      }
    }
    return Optional.empty();
  }

  /**
   * Runs the browser headless on {@code page} with {@code flags} and returns its standard output;
   * standard error goes to {@code log} (the browser's console messages, with {@code
   * --enable-logging=stderr}).
   *
   * @throws IOException when it cannot start, fails or takes longer than a minute
   */
  public String run(Path page, Path log, String... flags) throws IOException {
    Path profile = Files.createTempDirectory("graft-chromium");
    List<String> command = new ArrayList<>();
    command.add(binary.toString());
    command.addAll(
        List.of(
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--user-data-dir=" + profile));
    command.addAll(List.of(flags));
    command.add(page.toUri().toString());
    Path out = Files.createTempFile("graft-chromium", ".out");
    try {
      Process process =
          new ProcessBuilder(command)
              .redirectOutput(out.toFile())
              .redirectError(log.toFile())
              .start();
      try {
        if (!process.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
          process.destroyForcibly();
          throw new IOException(binary + " took longer than " + TIMEOUT_SECONDS + " s");
        }
      } catch (InterruptedException e) {
        process.destroyForcibly();
        Thread.currentThread().interrupt();
        throw new IOException(binary + " was interrupted");
      }
      if (process.exitValue() != 0) {
        throw new IOException(binary + " exited with status " + process.exitValue());
      }
      return Files.readString(out);
    } finally {
      Files.deleteIfExists(out);
      deleteTree(profile);
    }
  }

  /**
   * Renders {@code html} to {@code png} at the report's width; the picture appears under its name
   * only once complete.
   */
  public void screenshot(Path html, Path png) throws IOException {
    Path temp = png.resolveSibling(png.getFileName() + ".tmp.png");
    Path log = Files.createTempFile("graft-chromium", ".log");
    try {
      run(
          html,
          log,
          "--hide-scrollbars",
          "--window-size=800,1200",
          "--screenshot=" + temp.toAbsolutePath());
      if (!Files.isRegularFile(temp)) {
        throw new IOException(binary + " wrote no screenshot");
      }
      Files.move(temp, png, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    } finally {
      Files.deleteIfExists(temp);
      Files.deleteIfExists(log);
    }
  }

  private static void deleteTree(Path dir) throws IOException {
    try (var paths = Files.walk(dir)) {
      for (Path p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }
}
