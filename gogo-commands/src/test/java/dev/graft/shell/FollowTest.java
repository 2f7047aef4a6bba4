package dev.graft.shell;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.graft.api.progress.ProgressEvent;
import dev.graft.api.train.Job;
import dev.graft.api.train.JobState;
import dev.graft.api.train.JobStatus;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** How the shell follows a job: progress cadence, failures, Ctrl-C. */
class FollowTest {
  /** A job that goes through the given statuses, one per look; cancelling it ends it. */
  static final class ScriptedJob implements Job {
    final Deque<JobStatus> script;
    final Deque<ProgressEvent> activities = new ArrayDeque<>();
    final List<String> notes = new ArrayList<>();
    final Map<String, String> spec;
    JobStatus last;
    boolean cancelled;

    ScriptedJob(Map<String, String> spec, List<JobStatus> statuses) {
      this.spec = spec;
      this.script = new ArrayDeque<>(statuses);
    }

    @Override
    public String id() {
      return "job-1";
    }

    @Override
    public Map<String, String> spec() {
      return spec;
    }

    @Override
    public synchronized JobStatus status() {
      if (cancelled && !last.state().isFinal()) {
        last = at(JobState.CANCELLED, last.step(), "Cancelled on request.");
      } else if (!script.isEmpty()) {
        last = script.poll();
      }
      return last;
    }

    @Override
    public List<String> notes() {
      return notes;
    }

    /** The scripted activities, one per look, then none. */
    @Override
    public synchronized Optional<ProgressEvent> activity() {
      return Optional.ofNullable(activities.poll());
    }

    @Override
    public Path outputDirectory() {
      return Path.of("/jobs/job-1");
    }

    @Override
    public synchronized void cancel() {
      cancelled = true;
    }
  }

  static JobStatus at(JobState state, long step, String message) {
    return new JobStatus(state, step, 10, 1.5, 100, message);
  }

  private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
  private final PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);

  private List<String> lines() {
    return bytes.toString(StandardCharsets.UTF_8).lines().toList();
  }

  @Test
  void aJobShownWithoutFollowingListsItsNotesBeforeItsFolder() {
    ScriptedJob job =
        new ScriptedJob(Map.of(), List.of(at(JobState.FAILED, 3, "Loss became NaN at step 3.")));
    job.notes.add("Trainable parameters: 8 of 80.");
    job.notes.add("57 of 60 samples were cut to max_length 128.");
    assertEquals(
        "Job job-1: failed after 3 of 10 steps, loss 1.5000.\n"
            + "Loss became NaN at step 3.\n"
            + "Note: Trainable parameters: 8 of 80.\n"
            + "Note: 57 of 60 samples were cut to max_length 128.\n"
            + "Output: /jobs/job-1\n",
        Progress.details(job));
  }

  @Test
  void progressLinesComeEveryLoggingStepsAndTheLastStepOnce() {
    ScriptedJob job =
        new ScriptedJob(
            Map.of("logging_steps", "4"),
            List.of(
                at(JobState.RUNNING, 3, ""),
                at(JobState.RUNNING, 4, ""),
                at(JobState.RUNNING, 4, ""),
                at(JobState.RUNNING, 7, ""),
                at(JobState.RUNNING, 8, ""),
                at(JobState.RUNNING, 10, ""),
                at(JobState.COMPLETED, 10, "")));
    String summary = new Follow(job, out).run(true);
    List<String> steps = lines().stream().map(l -> l.substring(0, l.indexOf(" ["))).toList();
    assertEquals(List.of("step 4/10", "step 8/10", "step 10/10"), steps);
    assertTrue(summary.startsWith("Job job-1: completed after 10 of 10 steps"), summary);
  }

  @Test
  void onATerminalEveryStepRedrawsTheLineInPlaceAndLoggingStepsKeepTheirs() {
    ScriptedJob job =
        new ScriptedJob(
            Map.of("logging_steps", "4"),
            List.of(
                at(JobState.RUNNING, 1, ""),
                at(JobState.RUNNING, 3, ""),
                at(JobState.RUNNING, 4, ""),
                at(JobState.RUNNING, 5, ""),
                at(JobState.COMPLETED, 10, "")));
    new Follow(job, out, out, true).run(true);
    String text = bytes.toString(StandardCharsets.UTF_8);
    List<String> draws =
        List.of(text.split("\r")).stream()
            .skip(1)
            .map(d -> d.substring(0, d.indexOf(" [")) + (d.endsWith("\n") ? " kept" : ""))
            .toList();
    assertEquals(
        List.of("step 1/10", "step 3/10", "step 4/10 kept", "step 5/10", "step 10/10 kept"), draws);
  }

  @Test
  void onATerminalTheJobsLoadingShowsUntilItEnds() {
    JobStatus loading = new JobStatus(JobState.RUNNING, 0, 0, Double.NaN, 0, "");
    ScriptedJob job =
        new ScriptedJob(Map.of(), List.of(loading, loading, at(JobState.COMPLETED, 10, "")));
    job.activities.add(new ProgressEvent("loading weights", 1, 2, "tensors", false));
    job.activities.add(new ProgressEvent("loading weights", 2, 2, "tensors", false));
    new Follow(job, out, out, true).run(true);
    String text = bytes.toString(StandardCharsets.UTF_8);
    assertTrue(text.startsWith("\rloading weights [############............] 1/2 tensors"), text);
    // Redrawn at most ten times a second, then erased (it took less than a second).
    assertTrue(
        text.contains("\r" + ProgressLine.ERASE + "\rstep 10/10 [########################]"), text);
  }

  @Test
  void onATerminalANoteErasesTheLineInPlaceAndGetsALineOfItsOwn() {
    ScriptedJob job =
        new ScriptedJob(
            Map.of("logging_steps", "4"),
            List.of(at(JobState.RUNNING, 1, ""), at(JobState.COMPLETED, 10, "")));
    job.notes.add("57 of 60 samples were cut to max_length 128.");
    new Follow(job, out, out, true).run(true);
    assertEquals(
        "\r"
            + ProgressLine.ERASE
            + "graft: job job-1: 57 of 60 samples were cut to max_length 128.\n"
            + "\rstep 1/10 [",
        bytes.toString(StandardCharsets.UTF_8).substring(0, 79));
  }

  @Test
  void aFailedJobFailsTheCommandWithItsSentence() {
    ScriptedJob job =
        new ScriptedJob(
            Map.of(),
            List.of(
                at(JobState.FAILED, 0, "per_device_train_batch_size must be positive, not 0.")));
    IllegalStateException e =
        assertThrows(IllegalStateException.class, () -> new Follow(job, out).run(true));
    assertEquals("per_device_train_batch_size must be positive, not 0.", e.getMessage());
    assertTrue(lines().contains("Output: /jobs/job-1"), lines().toString());
  }

  @Test
  void anInterruptCancelsAJobTheCommandStartedAndWaitsForItsCheckpoint() {
    ScriptedJob job = new ScriptedJob(Map.of(), List.of(at(JobState.RUNNING, 3, "")));
    Thread.currentThread().interrupt();
    Interrupted e = assertThrows(Interrupted.class, () -> new Follow(job, out).run(true));
    assertTrue(job.cancelled);
    assertEquals(
        "Interrupted: job job-1 stopped after step 3 with a checkpoint;"
            + " resume it with 'graft:resume job-1'.",
        e.getMessage());
    assertTrue(lines().contains("Job job-1: cancelled after 3 of 10 steps, loss 1.5000."));
  }

  @Test
  void anInterruptOnlyStopsFollowingAJobTheCommandWatches() {
    ScriptedJob job = new ScriptedJob(Map.of(), List.of(at(JobState.RUNNING, 3, "")));
    Thread.currentThread().interrupt();
    Interrupted e = assertThrows(Interrupted.class, () -> new Follow(job, out).run(false));
    assertFalse(job.cancelled);
    assertEquals(
        "Stopped following job job-1; it keeps running (see 'graft:jobs').", e.getMessage());
  }
}
