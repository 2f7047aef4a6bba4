package dev.graft.train.job;

import dev.graft.model.AtomicFiles;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A job's checkpoints: {@code checkpoint-<steps>} folders, each written under a temporary name and
 * renamed into place, so that a crash or a full disk never leaves a half-written one. Only after
 * the new one is in place are older ones removed; the newest two are kept, and the one {@link
 * #keep} spares.
 */
final class Checkpoints {
  private static final Pattern NAME = Pattern.compile("checkpoint-(\\d+)");

  /** What an interrupted write leaves beside a checkpoint ({@link AtomicFiles}). */
  private static final Pattern LEFT =
      Pattern.compile("\\.checkpoint-(\\d+)\\.(\\d+-\\d+\\.tmp|old)");

  private static final int KEEP = 2;

  private final Path dir;

  /** The steps of a checkpoint that rotation spares (the best one, {@code save_best}), or -1. */
  private long kept = -1;

  Checkpoints(Path dir) {
    this.dir = dir;
  }

  /**
   * Spares {@code checkpoint-<steps>} from rotation from now on, in place of the one spared before,
   * which rotation then removes unless it is among the newest.
   */
  void keep(long steps) {
    kept = steps;
  }

  /**
   * Writes a checkpoint with {@code writer} into a temporary folder, then renames it to {@code
   * checkpoint-<steps>}. On any failure the temporary folder is removed and earlier checkpoints
   * stay.
   */
  Path save(long steps, Consumer<Path> writer) {
    Path target = dir.resolve("checkpoint-" + steps);
    try {
      AtomicFiles.replaceFolder(target, writer::accept);
    } catch (IOException e) {
      throw new UncheckedIOException(
          "Could not write checkpoint " + target + ": " + e.getMessage(), e);
    }
    List<Path> all = list();
    all.removeIf(c -> steps(c) == kept);
    for (int i = 0; i < all.size() - KEEP; i++) {
      try {
        AtomicFiles.removeFolder(all.get(i));
      } catch (IOException e) {
        // An old checkpoint that will not go away costs disk, not correctness.
      }
    }
    return target;
  }

  /**
   * The newest complete checkpoint, if any, after finishing or removing what an interrupted write
   * left ({@link AtomicFiles#recover}, with a warning).
   */
  Optional<Path> latest() {
    recover();
    List<Path> all = list();
    return all.isEmpty() ? Optional.empty() : Optional.of(all.get(all.size() - 1));
  }

  /** The steps a checkpoint folder holds, from its name. */
  static long steps(Path checkpoint) {
    Matcher m = NAME.matcher(checkpoint.getFileName().toString());
    if (!m.matches()) {
      throw new IllegalArgumentException(checkpoint + " is not a checkpoint folder.");
    }
    return Long.parseLong(m.group(1));
  }

  /** Recovers every checkpoint whose temporary or old folder an interrupted write left. */
  private void recover() {
    if (!Files.isDirectory(dir)) {
      return;
    }
    try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir, ".checkpoint-*")) {
      for (Path p : entries) {
        Matcher m = LEFT.matcher(p.getFileName().toString());
        if (m.matches()) {
          AtomicFiles.recover(dir.resolve("checkpoint-" + m.group(1)));
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(
          "Could not clean up checkpoints in " + dir + ": " + e.getMessage(), e);
    }
  }

  private List<Path> list() {
    List<Path> found = new ArrayList<>();
    if (!Files.isDirectory(dir)) {
      return found;
    }
    try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
      for (Path p : entries) {
        if (Files.isDirectory(p) && NAME.matcher(p.getFileName().toString()).matches()) {
          found.add(p);
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(
          "Could not list checkpoints in " + dir + ": " + e.getMessage(), e);
    }
    found.sort(Comparator.comparingLong(Checkpoints::steps));
    return found;
  }
}
