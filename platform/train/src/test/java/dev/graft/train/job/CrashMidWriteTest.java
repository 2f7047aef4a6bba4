package dev.graft.train.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.graft.model.AtomicFiles;
import dev.graft.model.SafetensorsReader;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Kills a child JVM ({@link CrashingWriter}) with SIGKILL at random moments while it writes
 * checkpoints, adapter and model folders and a lone safetensors file, then checks that every final
 * name holds a complete version, the previous one or the new one, and that resuming finds the
 * newest complete checkpoint. Torn temporary folders are removed with a warning when read.
 */
class CrashMidWriteTest {
  @TempDir Path dir;

  @Test
  void fiveKillsMidWriteLeaveOnlyCompleteVersions() throws Exception {
    kills(5, 11);
  }

  @Test
  @Tag("slow")
  void fiftyKillsMidWriteLeaveOnlyCompleteVersions() throws Exception {
    kills(50, 12);
  }

  private void kills(int count, long seed) throws Exception {
    Random random = new Random(seed);
    long done = 0; // the newest version the child reported complete
    int interrupted = 0;
    for (int kill = 1; kill <= count; kill++) {
      List<Long> printed = new CopyOnWriteArrayList<>();
      Process child =
          new ProcessBuilder(
                  Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                  "-cp",
                  System.getProperty("java.class.path"),
                  CrashingWriter.class.getName(),
                  dir.toString(),
                  Long.toString(done + 1))
              .redirectError(ProcessBuilder.Redirect.DISCARD)
              .start();
      Thread reader =
          new Thread(
              () -> {
                try (BufferedReader out =
                    new BufferedReader(
                        new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
                  for (String line; (line = out.readLine()) != null; ) {
                    printed.add(Long.parseLong(line.trim()));
                  }
                } catch (Exception ignored) {
                  // the pipe breaks when the child is killed
                }
              });
      reader.start();
      Thread.sleep(400 + random.nextInt(1200));
      child.destroyForcibly(); // SIGKILL
      assertTrue(child.waitFor(30, TimeUnit.SECONDS), "the child died");
      reader.join(10_000);
      if (!printed.isEmpty()) {
        done = printed.get(printed.size() - 1);
      }
      interrupted += check(done, kill) ? 1 : 0;
    }
    System.out.printf(
        "crash mid-write: %d kills, %d versions completed, %d writes interrupted and recovered,"
            + " nothing lost%n",
        count, done, interrupted);
    assertTrue(done > 0, "the children completed versions between kills");
  }

  /**
   * Checks every final name after a kill, the newest completed version being {@code done}. Returns
   * whether the kill interrupted a write that left something to clean.
   */
  private boolean check(long done, int kill) throws Exception {
    String when = "after kill " + kill + " (version " + done + " complete)";
    boolean left = hasLeftovers();
    Optional<Path> latest = TrainingJob.latestCheckpoint(dir); // recovers, as resume does
    if (done > 0) {
      assertTrue(latest.isPresent(), "a checkpoint " + when);
    }
    if (latest.isPresent()) {
      long steps = Checkpoints.steps(latest.get());
      assertTrue(steps == done || steps == done + 1, "newest checkpoint " + steps + " " + when);
    }
    try (DirectoryStream<Path> all = Files.newDirectoryStream(dir, "checkpoint-*")) {
      for (Path c : all) {
        assertComplete(c.resolve("state.safetensors"), Checkpoints.steps(c), when);
      }
    }
    for (String folder : new String[] {"adapter", "model"}) {
      Path f = dir.resolve(folder);
      AtomicFiles.recover(f); // as Graft's readers of its own folders do
      if (done > 0 || Files.exists(f)) {
        long v =
            Long.parseLong(Files.readString(f.resolve("config.json")).replaceAll("[^0-9]", ""));
        assertTrue(v == done || v == done + 1, folder + " holds version " + v + " " + when);
        assertComplete(f.resolve("weights.safetensors"), v, when);
      }
      try (DirectoryStream<Path> beside = Files.newDirectoryStream(dir, "." + folder + ".*")) {
        assertTrue(!beside.iterator().hasNext(), "nothing left beside " + folder + " " + when);
      }
    }
    Path lone = dir.resolve("quantised.safetensors");
    if (done > 0 || Files.exists(lone)) {
      try (SafetensorsReader r = SafetensorsReader.open(lone)) {
        long v = Long.parseLong(r.metadata().get("version"));
        assertTrue(v == done || v == done + 1, "quantised.safetensors holds " + v + " " + when);
      }
      assertComplete(lone, -1, when);
    }
    return left;
  }

  private boolean hasLeftovers() throws Exception {
    try (DirectoryStream<Path> all = Files.newDirectoryStream(dir, ".*")) {
      return all.iterator().hasNext();
    }
  }

  /** A safetensors file that opens and whose tensors all hold {@code version} (-1: its own). */
  private static void assertComplete(Path file, long version, String when) throws Exception {
    try (SafetensorsReader r = SafetensorsReader.open(file)) {
      long v = version < 0 ? Long.parseLong(r.metadata().get("version")) : version;
      assertEquals(Long.toString(v), r.metadata().get("version"), file + " " + when);
      for (String name : List.of("a", "b")) {
        float[] values = r.floats(name);
        assertEquals(CrashingWriter.SIZE, values.length, file + " " + name + " " + when);
        for (float x : values) {
          if (x != v) {
            throw new AssertionError(file + " " + name + " holds " + x + ", not " + v + " " + when);
          }
        }
      }
    }
  }
}
