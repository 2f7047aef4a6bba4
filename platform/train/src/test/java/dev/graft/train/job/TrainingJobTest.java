package dev.graft.train.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.graft.api.progress.Progress;
import dev.graft.api.progress.ProgressEvent;
import dev.graft.api.train.JobState;
import dev.graft.api.train.JobStatus;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainingJobTest {
  @TempDir Path out;

  private final List<String> topics = new ArrayList<>();

  /**
   * A run whose loss depends on state carried from step to step (x ← 0.9·x + 1/(step+1)), which it
   * checkpoints, so that a resumed run can only match an uninterrupted one if the state came back.
   */
  static class ToyRun implements Run {
    final long total;
    final Runnable onStep;
    final long nanAt;
    double x = 1;

    ToyRun(long total, long nanAt, Runnable onStep) {
      this.total = total;
      this.nanAt = nanAt;
      this.onStep = onStep;
    }

    @Override
    public long totalSteps() {
      return total;
    }

    @Override
    public StepResult step(long step) {
      onStep.run();
      x = 0.9 * x + 1.0 / (step + 1);
      return new StepResult(step == nanAt ? Double.NaN : x, 1e-3, 0.5, 100);
    }

    @Override
    public void saveCheckpoint(Path dir, long stepsDone) {
      try {
        Files.writeString(dir.resolve("state.txt"), stepsDone + " " + Double.doubleToLongBits(x));
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }

    @Override
    public long restore(Path dir) {
      try {
        String[] f = Files.readString(dir.resolve("state.txt")).split(" ");
        x = Double.longBitsToDouble(Long.parseLong(f[1]));
        return Long.parseLong(f[0]);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }

    @Override
    public void finish(Path outputDir) {
      try {
        Files.writeString(outputDir.resolve("result.txt"), "done");
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }

    @Override
    public void close() {}
  }

  private TrainingJob job(Path dir, long saveSteps, ToyRun run) {
    return new TrainingJob(
        "job-1", Map.of("model", "m"), dir, saveSteps, () -> run, (t, p) -> topics.add(t));
  }

  private static List<String> losses(Path dir) throws IOException {
    return Files.readAllLines(dir.resolve("metrics.csv")).stream()
        .skip(1)
        .map(l -> l.split(",")[1])
        .toList();
  }

  @Test
  void aCompletedJobLeavesMetricsReportCheckpointAndResult() throws Exception {
    TrainingJob job = job(out, 4, new ToyRun(10, -1, () -> {}));
    job.run();
    assertEquals(JobState.COMPLETED, job.status().state());
    assertEquals(10, job.status().step());
    assertEquals(10, losses(out).size());
    assertTrue(Files.exists(out.resolve("checkpoint-10/state.txt")));
    assertTrue(Files.exists(out.resolve("checkpoint-8")), "the newest two checkpoints stay");
    assertFalse(Files.exists(out.resolve("checkpoint-4")), "older checkpoints go");
    assertEquals("done", Files.readString(out.resolve("result.txt")));
    assertEquals("dev/graft/job/STARTED", topics.get(0));
    assertEquals(10, topics.stream().filter(t -> t.endsWith("/PROGRESS")).count());
    assertEquals("dev/graft/job/COMPLETED", topics.get(topics.size() - 1));
    String report = Files.readString(out.resolve("report.html"));
    assertTrue(report.contains("<polyline"), report);
    assertFalse(
        report.contains("<script")
            || report.contains("href=\"http")
            || report.contains("src=\"http"),
        report);
  }

  @Test
  void theProgressOfLoadingTheRunIsTheJobsActivityUntilItEndsAndItsNotesAreTheJobs()
      throws Exception {
    CountDownLatch loading = new CountDownLatch(1);
    CountDownLatch loaded = new CountDownLatch(1);
    TrainingJob job =
        new TrainingJob(
            "job-1",
            Map.of("model", "m"),
            out,
            10,
            () -> {
              Progress.note("Trainable parameters: 8 of 80.");
              try (Progress.Task task = Progress.start("loading weights", 4, "tensors")) {
                task.advance(3);
                loading.countDown();
                loaded.await();
              } catch (InterruptedException e) {
                throw new IllegalStateException(e);
              }
              return new ToyRun(2, -1, () -> {});
            },
            (t, p) -> {});
    Thread thread = new Thread(job);
    thread.start();
    loading.await();
    assertEquals(
        Optional.of(new ProgressEvent("loading weights", 3, 4, "tensors", false)), job.activity());
    assertEquals(List.of("Trainable parameters: 8 of 80."), job.notes());
    loaded.countDown();
    thread.join();
    assertEquals(JobState.COMPLETED, job.status().state());
    assertEquals(Optional.empty(), job.activity());
  }

  @Test
  void theNotesAreKeptInTheFolderPostedAsEventsAndInTheReportOnceAcrossAResume() throws Exception {
    List<Map<String, Object>> notes = new ArrayList<>();
    TrainingJob[] holder = new TrainingJob[1];
    int[] steps = {0};
    holder[0] =
        new TrainingJob(
            "job-1",
            Map.of("model", "m"),
            out,
            0,
            () -> {
              Progress.note("Trainable parameters: 8 of 80.");
              Progress.note("3 of 4 samples were cut to max_length <b>.");
              return new ToyRun(
                  4,
                  -1,
                  () -> {
                    if (++steps[0] == 2) {
                      holder[0].cancel();
                    }
                  });
            },
            (topic, properties) -> {
              if (topic.equals(JobEvents.TOPIC + "NOTE")) {
                notes.add(properties);
              }
            });
    holder[0].run();
    assertEquals(JobState.CANCELLED, holder[0].status().state());
    List<String> said =
        List.of("Trainable parameters: 8 of 80.", "3 of 4 samples were cut to max_length <b>.");
    assertEquals(said, notes.stream().map(p -> p.get("note")).toList());
    assertEquals("job-1", notes.get(0).get("id"));
    assertEquals(said, new StoredJob("job-1", out, Map.of()).notes());

    // The resumed run notes the same again: said once, in the folder and to followers.
    holder[0].requeue();
    holder[0].run();
    assertEquals(JobState.COMPLETED, holder[0].status().state());
    assertEquals(said, holder[0].notes());
    assertEquals(said, Files.readAllLines(out.resolve(JobNotes.FILE)));
    assertEquals(2, notes.size());
    String report = Files.readString(out.resolve("report.html"));
    assertTrue(
        report.contains("<li>3 of 4 samples were cut to max_length &lt;b&gt;.</li>"), report);
  }

  @Test
  void cancelThenResumeReproducesTheUninterruptedCurve() throws Exception {
    Path whole = Files.createDirectory(out.resolve("whole"));
    job(whole, 0, new ToyRun(8, -1, () -> {})).run();

    Path parts = Files.createDirectory(out.resolve("parts"));
    TrainingJob[] holder = new TrainingJob[1];
    int[] calls = {0};
    holder[0] =
        job(
            parts,
            0,
            new ToyRun(
                8,
                -1,
                () -> {
                  if (++calls[0] == 3) {
                    holder[0].cancel();
                  }
                }));
    holder[0].run();
    assertEquals(JobState.CANCELLED, holder[0].status().state());
    assertEquals(3, holder[0].status().step());
    assertEquals(
        "Cancelled on request. Resume with 'graft:resume job-1'.", holder[0].status().message());
    assertTrue(Files.exists(parts.resolve("checkpoint-3")));

    TrainingJob resumed = job(parts, 0, new ToyRun(8, -1, () -> {}));
    resumed.run();
    assertEquals(JobState.COMPLETED, resumed.status().state());
    assertEquals(losses(whole), losses(parts));
  }

  @Test
  void aCancelledJobWritesACheckpointItsResultSoFarAndItsReport() throws Exception {
    TrainingJob[] holder = new TrainingJob[1];
    holder[0] = job(out, 0, new ToyRun(8, -1, () -> holder[0].cancel()));
    holder[0].run();
    assertEquals(JobState.CANCELLED, holder[0].status().state());
    assertEquals(1, holder[0].status().step());
    assertTrue(Files.exists(out.resolve("checkpoint-1")));
    assertEquals("done", Files.readString(out.resolve("result.txt")));
    assertTrue(Files.exists(out.resolve("report.html")));
  }

  @Test
  void theControlFileOfAnotherProcessStopsTheJobAfterItsStep() throws Exception {
    int[] calls = {0};
    TrainingJob job =
        job(
            out,
            0,
            new ToyRun(
                8,
                -1,
                () -> {
                  if (++calls[0] == 2) {
                    new StoredJob("job-1", out, Map.of()).cancel();
                  }
                }));
    job.run();
    assertEquals(JobState.CANCELLED, job.status().state());
    assertEquals(2, job.status().step());
    assertTrue(Files.exists(out.resolve("checkpoint-2")));
    assertFalse(
        Files.exists(out.resolve(TrainingJob.CANCEL_FILE)), "the request is gone once served");
  }

  @Test
  void anotherProcessReadsTheJobsStatusFromItsFolder() throws Exception {
    TrainingJob job = job(out, 0, new ToyRun(5, -1, () -> {}));
    job.run();
    StoredJob stored = new StoredJob("job-1", out, Map.of("max_steps", "5"));
    assertEquals(job.status(), stored.status());
  }

  @Test
  void aRunningJobWhoseProcessEndedReadsAsFailed() throws Exception {
    Process ended = new ProcessBuilder("true").start();
    ended.waitFor();
    JobRecord.of(new JobStatus(JobState.RUNNING, 3, 10, 2.5, 100, ""), ended.toHandle()).write(out);
    JobStatus s = new StoredJob("job-1", out, Map.of()).status();
    assertEquals(JobState.FAILED, s.state());
    assertEquals(3, s.step());
    assertEquals(
        "The process that ran it (pid "
            + ended.pid()
            + ") ended before the job did; resume it with 'graft:resume job-1'.",
        s.message());
  }

  @Test
  void aRunningJobWhoseProcessLivesReadsAsRunning() {
    JobStatus running = new JobStatus(JobState.RUNNING, 3, 10, 2.5, 100, "");
    JobRecord.ofThisProcess(running).write(out);
    assertEquals(running, new StoredJob("job-1", out, Map.of()).status());
  }

  @Test
  void aNanLossStopsTheJobAndKeepsTheLastGoodCheckpoint() throws Exception {
    TrainingJob job = job(out, 2, new ToyRun(10, 4, () -> {}));
    job.run();
    assertEquals(JobState.FAILED, job.status().state());
    assertEquals(
        "The loss became NaN at step 5; the checkpoint after step 4 is kept. Lower learning_rate or check the data; skip_nonfinite_steps=N skips up to N such steps.",
        job.status().message());
    assertTrue(Files.exists(out.resolve("checkpoint-4")));
    assertEquals("dev/graft/job/FAILED", topics.get(topics.size() - 1));
  }

  @Test
  void aFailedCheckpointWriteLeavesThePreviousOneIntact() throws Exception {
    Checkpoints checkpoints = new Checkpoints(out);
    checkpoints.save(1, dir -> write(dir.resolve("a"), "one"));
    assertThrows(
        UncheckedIOException.class,
        () ->
            checkpoints.save(
                2,
                dir -> {
                  write(dir.resolve("a"), "partial");
                  throw new UncheckedIOException(new IOException("No space left on device"));
                }));
    assertEquals(out.resolve("checkpoint-1"), checkpoints.latest().orElseThrow());
    assertEquals("one", Files.readString(out.resolve("checkpoint-1/a")));
    try (var files = Files.list(out)) {
      assertEquals(List.of(out.resolve("checkpoint-1")), files.toList());
    }
  }

  private static void write(Path file, String text) {
    try {
      Files.writeString(file, text);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
