package dev.graft.backend.cpu;

import dev.graft.api.backend.ComputeBackend;
import dev.graft.api.backend.HostTensor;
import dev.graft.api.backend.Program;
import dev.graft.api.backend.Session;
import dev.graft.graph.DType;
import dev.graft.graph.Graph;
import dev.graft.graph.NdArray;
import dev.graft.graph.Node;
import dev.graft.graph.Tensor;
import dev.graft.graph.TrainingStep;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Runs the graph module's test models on a backend: conversions between the interpreter's {@link
 * NdArray} and {@link HostTensor}, and the plumbing of a training step (frozen weights, carried
 * state, per-run feeds). Public for the cuda bundle's tests, which get it through this module's
 * test jar.
 */
public final class Steps {
  /** A started CPU backend with {@code threads} intra-op threads (0: one per core). */
  public static CpuBackend cpu(int threads) {
    CpuBackend backend = new CpuBackend();
    backend.configure(CpuBackend.config(threads));
    return backend;
  }

  /** Every element type {@code g} computes with. */
  public static Set<DType> dtypes(Graph g) {
    Set<DType> dtypes = EnumSet.noneOf(DType.class);
    g.inputs().forEach(t -> dtypes.add(t.dtype()));
    g.parameters().forEach(t -> dtypes.add(t.dtype()));
    g.nodes().stream().map(Node::output).forEach(t -> dtypes.add(t.dtype()));
    return dtypes;
  }

  /**
   * Opens {@code onnx} (the step's single or looped lowering) with the frozen weights and the
   * carried state taken from {@code feeds}.
   */
  public static Session open(
      ComputeBackend backend, TrainingStep step, byte[] onnx, Map<String, NdArray> feeds) {
    Graph g = step.graph();
    Map<String, HostTensor> weights = new HashMap<>();
    for (Tensor p : g.parameters()) {
      if (!g.isTrainable(p)) {
        weights.put(p.name(), host(feeds.get(p.name())));
      }
    }
    Session s = backend.open(new Program(onnx, weights, step.carry(), dtypes(g)));
    for (String input : step.carry().values()) {
      s.setState(input, host(feeds.get(input)));
    }
    return s;
  }

  /** The feeds of one run: every input that is neither carried nor a frozen weight. */
  public static Map<String, HostTensor> perRun(TrainingStep step, Map<String, NdArray> feeds) {
    Map<String, HostTensor> run = new LinkedHashMap<>();
    for (Tensor t : step.graph().inputs()) {
      if (!step.carry().containsValue(t.name())) {
        run.put(t.name(), host(feeds.get(t.name())));
      }
    }
    return run;
  }

  /**
   * The feeds of one looped run over {@code rows}: each per-run input stacked along a new leading
   * axis, one row per step.
   */
  public static Map<String, HostTensor> stacked(
      TrainingStep step, List<Map<String, NdArray>> rows) {
    Map<String, HostTensor> run = new LinkedHashMap<>();
    for (String name : perRun(step, rows.get(0)).keySet()) {
      NdArray first = rows.get(0).get(name);
      long[] shape = new long[first.shape().length + 1];
      shape[0] = rows.size();
      System.arraycopy(first.shape(), 0, shape, 1, first.shape().length);
      double[] all = new double[rows.size() * first.size()];
      for (int i = 0; i < rows.size(); i++) {
        System.arraycopy(rows.get(i).get(name).data(), 0, all, i * first.size(), first.size());
      }
      run.put(name, host(NdArray.of(first.dtype(), shape, all)));
    }
    return run;
  }

  /** {@code a} as a host tensor of the same dtype. */
  public static HostTensor host(NdArray a) {
    ByteBuffer b =
        ByteBuffer.allocateDirect(a.size() * a.dtype().byteSize()).order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < a.size(); i++) {
      double x = a.get(i);
      switch (a.dtype()) {
        case FLOAT64 -> b.putDouble(x);
        case FLOAT32 -> b.putFloat((float) x);
        case INT64 -> b.putLong((long) x);
        case INT32 -> b.putInt((int) x);
        case BOOL -> b.put((byte) (x != 0 ? 1 : 0));
        case UINT8, INT8 -> b.put((byte) (long) x);
        default -> throw new IllegalArgumentException("Tests do not feed " + a.dtype());
      }
    }
    return new HostTensor(a.dtype(), a.shape(), b.flip());
  }

  /** The values of a float tensor. */
  public static double[] values(HostTensor t) {
    return switch (t.dtype()) {
      case FLOAT64 -> t.doubles();
      case FLOAT32 -> {
        float[] f = t.floats();
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
          d[i] = f[i];
        }
        yield d;
      }
      default -> throw new IllegalArgumentException("Not a float tensor: " + t);
    };
  }

  /** The values of a float or integer tensor, as the interpreter holds them (UINT8 unsigned). */
  public static double[] numbers(HostTensor t) {
    ByteBuffer b = t.data();
    double[] v = new double[(int) HostTensor.elements(t.shape())];
    for (int i = 0; i < v.length; i++) {
      v[i] =
          switch (t.dtype()) {
            case FLOAT64 -> b.getDouble();
            case FLOAT32 -> b.getFloat();
            case INT64 -> b.getLong();
            case INT32 -> b.getInt();
            case INT8 -> b.get();
            case UINT8 -> b.get() & 0xFF;
            default -> throw new IllegalArgumentException("Tests do not read " + t.dtype());
          };
    }
    return v;
  }

  /**
   * {@code max |actual - expected| / max |expected|}: the largest difference relative to the
   * tensor's scale, so that elements near zero do not dominate.
   */
  public static double relativeDifference(double[] actual, double[] expected) {
    if (actual.length != expected.length) {
      return Double.POSITIVE_INFINITY;
    }
    double diff = 0;
    double scale = Double.MIN_NORMAL;
    for (int i = 0; i < actual.length; i++) {
      double d = Math.abs(actual[i] - expected[i]);
      diff = Double.isNaN(d) ? Double.POSITIVE_INFINITY : Math.max(diff, d);
      scale = Math.max(scale, Math.abs(expected[i]));
    }
    return diff / scale;
  }

  private Steps() {}
}
