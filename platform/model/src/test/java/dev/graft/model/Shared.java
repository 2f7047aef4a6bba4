package dev.graft.model;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;

/** Locates the shared test assets (models, tokenizers) outside the repository. */
final class Shared {

  private Shared() {}

  /**
   * The folder {@code shared/<relative>}, found by walking up from the working directory to a
   * folder that holds {@code shared/models} or whose sibling {@code ../shared} does; skips the test
   * when it is absent.
   */
  static Path path(String relative) {
    for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
      for (Path shared : new Path[] {p.resolve("shared"), p.resolveSibling("shared")}) {
        if (Files.isDirectory(shared.resolve("models")) && Files.exists(shared.resolve(relative))) {
          return shared.resolve(relative);
        }
      }
    }
    assumeTrue(
        false,
        "../shared not found: no shared/" + relative + " above " + Path.of("").toAbsolutePath());
    throw new AssertionError("unreachable");
  }
}
