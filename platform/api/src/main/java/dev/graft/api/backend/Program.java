package dev.graft.api.backend;

import dev.graft.graph.DType;
import java.nio.file.Path;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * A lowered graph, ready for a backend: ONNX model bytes whose frozen weights are declared as
 * external data, those weights, and which outputs carry state into the next run.
 *
 * @param onnx ONNX ModelProto bytes
 * @param weights frozen weights by initializer name that the caller supplies (the others are read
 *     from {@code weightFolder}); a backend copies each in once
 * @param carry output name → input name: after each run the output becomes that input of the next
 *     run without a copy through Java (trainables, optimizer moments, step counters)
 * @param dtypes every element type the graph computes with, so a backend can refuse what it cannot
 *     run before it starts
 * @param weightFolder the folder that the external-data locations of the frozen weights not in
 *     {@code weights} are relative to (a checkpoint folder, say), which the backend reads them
 *     from; null when {@code weights} holds them all
 * @param training whether the program is a training step: every run multiplies the frozen weights
 *     by many rows (batch × sequence), so a backend may skip keeping prepared copies of them
 *     (packed for its matrix kernels) and hold them once; generation, which multiplies them by a
 *     few rows per run, gains most from such copies
 */
public record Program(
    byte[] onnx,
    Map<String, HostTensor> weights,
    Map<String, String> carry,
    Set<DType> dtypes,
    Path weightFolder,
    boolean training) {
  /** Copies the collections. */
  public Program {
    Objects.requireNonNull(onnx, "onnx");
    weights = Map.copyOf(weights);
    carry = Map.copyOf(carry);
    dtypes = Set.copyOf(dtypes);
  }

  /** A program that is not a training step, its frozen weights all in {@code weights}. */
  public Program(
      byte[] onnx, Map<String, HostTensor> weights, Map<String, String> carry, Set<DType> dtypes) {
    this(onnx, weights, carry, dtypes, null, false);
  }
}
