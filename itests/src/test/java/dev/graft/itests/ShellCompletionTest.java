package dev.graft.itests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.graft.api.MethodRegistry;
import dev.graft.api.train.Job;
import dev.graft.api.train.JobState;
import dev.graft.api.train.TrainingService;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Pattern;
import org.apache.felix.gogo.jline.Shell;
import org.apache.felix.service.command.CommandProcessor;
import org.apache.felix.service.command.CommandSession;
import org.jline.terminal.Size;
import org.jline.terminal.Terminal;
import org.jline.terminal.impl.ExternalTerminal;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.osgi.framework.BundleContext;
import org.osgi.framework.FrameworkUtil;
import org.osgi.test.common.annotation.InjectService;

/**
 * Graft's interactive shell as a user has it: Gogo JLine's {@code gosh} with Graft's profile on an
 * xterm, keys typed in and the screen read back. Tab completes the graft commands, their options,
 * method names, folders, job settings and job ids; Ctrl-C stops a followed training job with a
 * checkpoint and the prompt comes back; Ctrl-D ends the shell.
 */
class ShellCompletionTest {
  private static final Pattern ESCAPES = Pattern.compile("\u001b(\\[[0-9;?]*[A-Za-z]|[=>])");

  private final BundleContext context = FrameworkUtil.getBundle(getClass()).getBundleContext();

  @InjectService CommandProcessor processor;
  @InjectService MethodRegistry methods;
  @InjectService TrainingService training;
  @InjectService Shell gosh;

  private final ByteArrayOutputStream screen = new ByteArrayOutputStream();
  private PipedOutputStream keyboard;
  private Terminal terminal;
  private Thread shell;
  private Path dir;

  @BeforeEach
  void startTheShell() throws Exception {
    dir = Files.createTempDirectory(Path.of(context.getProperty("graft.work")), "shell");
    keyboard = new PipedOutputStream();
    terminal =
        new ExternalTerminal(
            "graft-test", "xterm", new PipedInputStream(keyboard), screen, StandardCharsets.UTF_8);
    terminal.setSize(new Size(200, 50));
    CommandSession session =
        processor.createSession(terminal.input(), terminal.output(), terminal.output());
    session.put(".terminal", terminal);
    session.currentDir(dir);
    shell =
        new Thread(
            () -> {
              try (session) {
                // As Gogo JLine starts its shell: not through session.execute, whose job the
                // shell would take for a command of its own still running.
                gosh.gosh(session, new String[] {"--login", "--nohistory", "--noshutdown"});
              } catch (Exception e) {
                throw new IllegalStateException(e);
              }
            },
            "graft-test-shell");
    shell.start();
    assertTrue(
        awaitScreen(0, "'graft:help' lists the commands").contains("Tab completes"), text(0));
  }

  @AfterEach
  void endTheShell() throws Exception {
    try {
      type("\u0015\u0004"); // Ctrl-U, Ctrl-D
      shell.join(10_000);
      assertFalse(shell.isAlive(), "Ctrl-D did not end the shell:\n" + text(0));
    } finally {
      terminal.close();
    }
  }

  private void type(String keys) throws IOException {
    keyboard.write(keys.getBytes(StandardCharsets.UTF_8));
    keyboard.flush();
  }

  /** The screen from {@code from} on, without colours and cursor movements. */
  private String text(int from) {
    String all;
    synchronized (screen) {
      all = screen.toString(StandardCharsets.UTF_8);
    }
    return ESCAPES.matcher(all.substring(Math.min(from, all.length()))).replaceAll("");
  }

  private int mark() {
    synchronized (screen) {
      return screen.toString(StandardCharsets.UTF_8).length();
    }
  }

  /** Waits up to 30 s for {@code expected} on the screen after {@code from}; returns that part. */
  private String awaitScreen(int from, String expected) throws InterruptedException {
    long deadline = System.currentTimeMillis() + 30_000;
    while (!text(from).contains(expected)) {
      if (System.currentTimeMillis() > deadline) {
        throw new AssertionError("\"" + expected + "\" not on the screen:\n" + text(from));
      }
      Thread.sleep(20);
    }
    return text(from);
  }

  /** Types a line's start and Tab; returns the screen after, once it shows {@code expected}. */
  private String complete(String start, String expected) throws Exception {
    int from = mark();
    type("\u0015" + start + "\t");
    return awaitScreen(from, expected);
  }

  @Test
  void tabCompletesCommandNamesWithTheirDescriptions() throws Exception {
    String shown = complete("graft:met", "graft:methods");
    assertTrue(shown.contains("list the installed fine-tuning methods"), shown);
    assertTrue(shown.contains("show one method: family, paper"), shown);
  }

  @Test
  void tabCompletesTheInstalledMethodsForGraftMethod() throws Exception {
    List<String> lo =
        methods.methods().stream()
            .map(m -> m.info().name())
            .filter(n -> n.startsWith("lo"))
            .toList();
    assertTrue(lo.size() > 1, "more than one method starting with lo: " + lo);
    String shown = complete("graft:method lo", lo.get(lo.size() - 1));
    for (String name : lo) {
      assertTrue(shown.contains(name), name + " not offered:\n" + shown);
    }
    assertFalse(shown.contains("dora"), shown);
  }

  @Test
  void tabCompletesOptionsWithTheirDescriptions() throws Exception {
    String shown = complete("graft:eval --ma", "--max-samples");
    assertTrue(shown.contains("--max-length"), shown);
    assertTrue(shown.contains("evaluate at most this many samples"), shown);
    assertFalse(shown.contains("--adapter"), shown);
  }

  @Test
  void tabCompletesFoldersForAModelAndFilesForData() throws Exception {
    Files.createDirectories(dir.resolve("models/tiny"));
    Files.writeString(dir.resolve("models.jsonl"), "{}\n");
    // A model folder: only the folder, the one candidate, so the line takes it.
    String shown = complete("graft:inspect mo", "models/");
    assertFalse(shown.contains("models.jsonl"), shown);
    // Data after the model folder: files, and folders on the way to one.
    shown = complete("graft:eval models/tiny mo", "models.jsonl");
    assertTrue(shown.contains("models/"), shown);
  }

  @Test
  void tabCompletesJobSettingsAndTheMethodsOfMethodEquals() throws Exception {
    complete("graft:train job.yaml learning_r", "learning_rate=");
    complete("graft:train job.yaml method=lora,qlo", "method=lora,qlora");
  }

  @Test
  void ctrlCStopsAFollowedJobWithACheckpointAndTabCompletesItsId() throws Exception {
    Path model = Path.of(context.getProperty("graft.shared"), "models/stories260K").normalize();
    Assumptions.assumeTrue(Files.exists(model), "../shared not found (" + model + "): skipping");
    Files.writeString(
        dir.resolve("data.jsonl"),
        "{\"text\": \"Once upon a time, there was a little dog named Max.\"}\n"
            + "{\"text\": \"Lily had a red ball. She threw it to Tom.\"}\n");
    Files.writeString(
        dir.resolve("job.yaml"),
        "model: "
            + model
            + "\nmethod: lora\ndata: "
            + dir.resolve("data.jsonl")
            + "\nmax_steps: 100000\nsave_steps: 100000"
            + "\nper_device_train_batch_size: 2\nmax_length: 32\noutput_dir: "
            + dir.resolve("out")
            + "\n");
    int from = mark();
    type("graft:train " + dir.resolve("job.yaml") + "\r");
    awaitScreen(from, "/100000 ["); // the first progress line
    type("\u0003"); // Ctrl-C
    String shown = awaitScreen(from, "with a checkpoint; resume it with");
    Job job =
        training.jobs().stream()
            .filter(j -> j.outputDirectory().endsWith(dir.getFileName().resolve("out")))
            .findFirst()
            .orElseThrow();
    assertEquals(JobState.CANCELLED, job.status().state(), shown);
    assertTrue(shown.contains("Interrupted: job " + job.id() + " stopped after step"), shown);
    assertTrue(
        Files.isDirectory(job.outputDirectory().resolve("checkpoint-" + job.status().step())));
    // The prompt is back: the shell completes the job's id from what the id starts with.
    String id = job.id();
    assertTrue(complete("graft:resume " + id.substring(0, id.length() - 1), id).contains(id));
  }
}
