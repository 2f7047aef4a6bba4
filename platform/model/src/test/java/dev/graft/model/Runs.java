package dev.graft.model;

import dev.graft.api.backend.ComputeBackend;
import dev.graft.api.backend.HostTensor;
import dev.graft.api.backend.Program;
import dev.graft.api.backend.Session;
import dev.graft.backend.cpu.Steps;
import dev.graft.graph.DType;
import dev.graft.graph.Interpreter;
import dev.graft.graph.NdArray;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/** Runs a model graph's logits on the float64 interpreter or on a backend. */
final class Runs {

  private Runs() {}

  /** The checkpoint weights of {@code m} in its compute type. */
  static Map<String, HostTensor> weights(ModelGraph m, Path folder, DType computeType)
      throws IOException {
    try (SafetensorsReader r = SafetensorsReader.open(folder)) {
      Map<String, HostTensor> copies = new HashMap<>();
      // Copy out of the mapped file, which closes with the reader.
      m.weights(r, computeType).forEach((name, t) -> copies.put(name, copy(t)));
      return copies;
    }
  }

  /** Row-major INT64 (rows, columns) feed. */
  static HostTensor longs(long[][] rows) {
    long[] flat = new long[rows.length * rows[0].length];
    for (int b = 0; b < rows.length; b++) {
      System.arraycopy(rows[b], 0, flat, b * rows[0].length, rows[0].length);
    }
    return HostTensor.ofLongs(new long[] {rows.length, rows[0].length}, flat);
  }

  /** The logits of a float64 graph on the interpreter. */
  static double[] interpret(
      ModelGraph m, Map<String, HostTensor> weights, Map<String, HostTensor> feeds) {
    return interpretAll(m, weights, feeds).get("logits").data();
  }

  /** Every output of a float64 graph on the interpreter, by name. */
  static Map<String, NdArray> interpretAll(
      ModelGraph m, Map<String, HostTensor> weights, Map<String, HostTensor> feeds) {
    Map<String, NdArray> all = new HashMap<>();
    weights.forEach((name, t) -> all.put(name, ndArray(t)));
    feeds.forEach((name, t) -> all.put(name, ndArray(t)));
    return Interpreter.run(m.graph(), all);
  }

  /** The logits of a graph run once on a backend. */
  static double[] onBackend(
      ComputeBackend backend,
      ModelGraph m,
      Map<String, HostTensor> weights,
      Map<String, HostTensor> feeds) {
    Program program = new Program(m.graph().toOnnx(), weights, Map.of(), Steps.dtypes(m.graph()));
    try (Session s = backend.open(program)) {
      return Steps.values(s.run(feeds, Set.of("logits")).get("logits"));
    }
  }

  private static NdArray ndArray(HostTensor t) {
    double[] v =
        switch (t.dtype()) {
          case INT64 -> Arrays.stream(t.longs()).asDoubleStream().toArray();
          default -> Steps.values(t);
        };
    return NdArray.of(t.dtype(), t.shape(), v);
  }

  private static HostTensor copy(HostTensor t) {
    ByteBuffer b = ByteBuffer.allocateDirect(t.data().remaining());
    b.put(t.data()).flip();
    return new HostTensor(t.dtype(), t.shape(), b);
  }
}
