package dev.graft.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.graft.api.backend.BackendException;
import dev.graft.api.backend.HostTensor;
import dev.graft.api.backend.Program;
import dev.graft.api.backend.Session;
import dev.graft.graph.DType;
import dev.graft.graph.Graph;
import dev.graft.graph.Shape;
import dev.graft.graph.Tensor;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * ONNX Runtime writes its own log lines to the process's stderr, past Java. A failed run is
 * reported as an exception; ORT's line for it appears only when {@code GRAFT_ORT_LOG} asks for it.
 * Each case runs {@link #main} in a child JVM to see that stderr.
 */
class OrtLoggingTest {
  @Test
  void aFailedRunWritesNothingToStderrByDefault() throws Exception {
    Child run = child(null);
    assertEquals(0, run.status(), run.stderr());
    assertTrue(run.stdout().contains("indices element out of data bounds"), run.stdout());
    assertEquals("", run.stderr());
  }

  @Test
  void graftOrtLogErrorShowsOrtsOwnLine() throws Exception {
    Child run = child("error");
    assertEquals(0, run.status(), run.stderr());
    assertTrue(run.stderr().contains("onnxruntime"), run.stderr());
  }

  @Test
  void anUnknownLevelIsNamed() throws Exception {
    Child run = child("loud");
    assertFalse(run.stdout().contains("out of data bounds"), run.stdout());
    assertTrue(
        run.stdout()
            .contains(
                "GRAFT_ORT_LOG=\"loud\" is not a log level; set it to verbose, info, warning,"
                    + " error or fatal."),
        run.stdout());
  }

  private record Child(int status, String stdout, String stderr) {}

  private static Child child(String level) throws Exception {
    ProcessBuilder pb =
        new ProcessBuilder(
            List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp",
                System.getProperty("java.class.path"),
                "-Djava.io.tmpdir=" + System.getProperty("java.io.tmpdir"),
                OrtLoggingTest.class.getName()));
    pb.environment().remove("GRAFT_ORT_LOG");
    if (level != null) {
      pb.environment().put("GRAFT_ORT_LOG", level);
    }
    File err = File.createTempFile("ort-stderr", ".txt");
    err.deleteOnExit();
    Process p = pb.redirectError(err).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    int status = p.waitFor();
    return new Child(
        status, out, java.nio.file.Files.readString(err.toPath(), StandardCharsets.UTF_8));
  }

  /** Runs a Gather with an index past its data on the CPU backend and prints the error. */
  public static void main(String[] args) {
    Graph g = new Graph();
    Tensor data = g.input("data", DType.FLOAT32, Shape.of(3));
    Tensor index = g.input("index", DType.INT64, Shape.of(1));
    g.output("y", g.gather(data, index, 0));
    Program program = new Program(g.toOnnx(), Map.of(), Map.of(), Set.of(DType.FLOAT32));
    try (Session s = Steps.cpu(1).open(program)) {
      s.run(
          Map.of(
              "data", HostTensor.ofFloats(new long[] {3}, 1, 2, 3),
              "index", HostTensor.ofLongs(new long[] {1}, 7)),
          Set.of("y"));
      System.out.println("The run did not fail.");
    } catch (BackendException | IllegalArgumentException e) {
      System.out.println(e.getMessage());
    }
  }
}
