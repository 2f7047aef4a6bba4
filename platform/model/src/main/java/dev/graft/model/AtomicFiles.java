package dev.graft.model;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Comparator;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

/**
 * Writes files and folders so that a crash at any instant (a killed process, a power cut) leaves
 * under the final name either the previous complete version or the new complete one, never a
 * half-written one: the content goes to a temporary name in the same folder, is forced to disk, and
 * is renamed into place, and the folder's entry is forced too.
 *
 * <p>A folder cannot be swapped for another in one rename, so {@link #replaceFolder} renames the
 * old one aside ({@code .<name>.old}), the new one in, and then deletes the old one. A crash
 * between the two renames leaves no folder under the name but both complete versions beside it;
 * {@link #recover} (which every writer and Graft's readers of its own folders call first) puts the
 * old one back and removes a torn temporary folder, with a warning.
 */
public final class AtomicFiles {
  private static final System.Logger LOG = System.getLogger("dev.graft");
  private static final String TMP = ".tmp";
  private static final String OLD = ".old";

  /** Numbers this process's temporary names. */
  private static final AtomicLong WRITES = new AtomicLong();

  private AtomicFiles() {}

  /** Writes the content of a file or folder at the temporary path it is given. */
  @FunctionalInterface
  public interface Content {
    void writeTo(Path temporary) throws IOException;
  }

  /**
   * Writes {@code file} through {@code content}, which writes a temporary file beside it ({@link
   * #temporary}), then forces and renames it. Torn temporary files of the same name that processes
   * which no longer run left are removed first, with a warning.
   */
  public static void writeFile(Path file, Content content) throws IOException {
    Path dir = file.toAbsolutePath().getParent();
    Path temp = temporary(file);
    removeTorn(file);
    try {
      Files.deleteIfExists(temp);
      content.writeTo(temp);
      force(temp);
      move(temp, file);
      force(dir);
    } finally {
      Files.deleteIfExists(temp);
    }
  }

  /** Writes {@code text} as UTF-8 to {@code file}, as {@link #writeFile} does. */
  public static void writeString(Path file, CharSequence text) throws IOException {
    writeFile(file, temp -> Files.writeString(temp, text, StandardCharsets.UTF_8));
  }

  /**
   * Replaces folder {@code folder} as a whole by what {@code content} writes into an empty
   * temporary folder ({@link #temporary}); on failure the temporary folder is removed and the
   * previous folder stays.
   */
  public static void replaceFolder(Path folder, Content content) throws IOException {
    Path dir = folder.toAbsolutePath().getParent();
    Files.createDirectories(dir);
    recover(folder);
    Path temp = temporary(folder);
    Path old = sibling(folder, OLD);
    try {
      deleteTree(temp);
      Files.createDirectories(temp);
      content.writeTo(temp);
      forceTree(temp);
    } catch (IOException | RuntimeException e) {
      try {
        deleteTree(temp);
      } catch (IOException suppressed) {
        e.addSuppressed(suppressed);
      }
      throw e;
    }
    if (Files.exists(folder)) {
      Files.move(folder, old, StandardCopyOption.ATOMIC_MOVE);
    }
    Files.move(temp, folder, StandardCopyOption.ATOMIC_MOVE);
    force(dir);
    deleteTree(old);
  }

  /**
   * Finishes what an interrupted {@link #replaceFolder} of {@code folder} left: the previous folder
   * is put back when the new one was not yet renamed in, an old folder beside a complete one is
   * removed, and so are the temporary folders of processes that no longer run, each with a warning.
   * A temporary folder of a running process, which may still be writing, stays.
   *
   * @return whether anything was left to clean
   */
  public static boolean recover(Path folder) throws IOException {
    Path old = sibling(folder, OLD);
    boolean found = false;
    if (!Files.exists(folder) && Files.isDirectory(old)) {
      Files.move(old, folder, StandardCopyOption.ATOMIC_MOVE);
      warn("put the previous " + folder + " back; a write of its new version was interrupted");
      found = true;
    }
    if (Files.exists(old)) {
      deleteTree(old);
      warn("removed " + old + ", left by an interrupted write of " + folder);
      found = true;
    }
    return removeTorn(folder) || found;
  }

  /**
   * A new temporary name to write {@code path} under: {@code .<name>.<pid>-<n>.tmp} in the same
   * folder, so that no two writes, of two processes or two threads, share one.
   */
  public static Path temporary(Path path) {
    return sibling(
        path, "." + ProcessHandle.current().pid() + "-" + WRITES.incrementAndGet() + TMP);
  }

  /**
   * Removes the {@code .<name>.<pid>-<n>.tmp} files or folders beside {@code path} whose process no
   * longer runs, with a warning; returns whether there were any.
   */
  private static boolean removeTorn(Path path) throws IOException {
    Path dir = path.toAbsolutePath().getParent();
    String prefix = "." + path.getFileName() + ".";
    DirectoryStream.Filter<Path> ours =
        p -> {
          String n = p.getFileName().toString();
          return n.length() > prefix.length() + TMP.length()
              && n.startsWith(prefix)
              && n.endsWith(TMP);
        };
    boolean found = false;
    try (DirectoryStream<Path> left = Files.newDirectoryStream(dir, ours)) {
      for (Path p : left) {
        String n = p.getFileName().toString();
        String pid = n.substring(prefix.length(), n.length() - TMP.length()).split("-")[0];
        if (pid.length() <= 18
            && pid.chars().allMatch(c -> c >= '0' && c <= '9')
            && ProcessHandle.of(Long.parseLong(pid)).isEmpty()) {
          deleteTree(p);
          warn("removed " + p + ", left by an interrupted write of " + path);
          found = true;
        }
      }
    } catch (java.nio.file.NoSuchFileException e) {
      return false; // no folder, nothing left in it
    }
    return found;
  }

  /**
   * Removes a complete folder so that a crash never leaves part of it under its name: it is renamed
   * to this process's temporary name first ({@link #temporary}), which {@link #recover} removes
   * should the deletion be cut short.
   */
  public static void removeFolder(Path folder) throws IOException {
    if (!Files.exists(folder)) {
      return;
    }
    Path temp = temporary(folder);
    deleteTree(temp);
    Files.move(folder, temp, StandardCopyOption.ATOMIC_MOVE);
    deleteTree(temp);
  }

  /** Deletes a file or a folder with everything in it; nothing happens when it does not exist. */
  public static void deleteTree(Path path) throws IOException {
    if (!Files.exists(path)) {
      return;
    }
    try (Stream<Path> walk = Files.walk(path)) {
      for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
        Files.delete(p);
      }
    }
  }

  private static Path sibling(Path folder, String suffix) {
    return folder.resolveSibling("." + folder.getFileName() + suffix);
  }

  private static void move(Path from, Path to) throws IOException {
    try {
      Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (AtomicMoveNotSupportedException e) {
      Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
    }
  }

  /** Forces every file of a tree, then every folder, to disk. */
  private static void forceTree(Path root) throws IOException {
    try (Stream<Path> walk = Files.walk(root)) {
      for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
        force(p);
      }
    }
  }

  /** Forces a file or a folder (its entries) to disk; a folder that refuses is left as it is. */
  private static void force(Path path) throws IOException {
    try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
      ch.force(true);
    } catch (IOException e) {
      if (!Files.isDirectory(path)) {
        throw e;
      }
    }
  }

  private static void warn(String what) {
    LOG.log(System.Logger.Level.WARNING, "graft: " + what + ".");
  }
}
