package dev.graft.graph;

import dev.graft.graph.impl.Kernels;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The reference interpreter: evaluates a {@link Graph} directly in double precision, row-major, one
 * op at a time. It is the living definition that faster backends are checked against, so it favours
 * clarity over speed. It also checks that every computed shape matches the one inferred at build
 * time, binding symbolic dimensions from the arrays fed in.
 */
public final class Interpreter {
  private Interpreter() {}

  /**
   * Runs {@code graph} and returns its outputs by name.
   *
   * @param feeds a value for every input and parameter the outputs depend on, by name
   */
  public static Map<String, NdArray> run(Graph graph, Map<String, NdArray> feeds) {
    Map<Tensor, NdArray> values = evaluate(graph, feeds, List.copyOf(graph.outputs().values()));
    Map<String, NdArray> out = new LinkedHashMap<>();
    graph.outputs().forEach((name, t) -> out.put(name, values.get(t)));
    return out;
  }

  /** Evaluates the given tensors of {@code graph}. */
  public static Map<Tensor, NdArray> evaluate(
      Graph graph, Map<String, NdArray> feeds, List<Tensor> targets) {
    Map<Tensor, NdArray> values = new IdentityHashMap<>();
    Map<String, Long> bindings = new HashMap<>();
    List<Tensor> sources = new ArrayList<>(graph.inputs());
    sources.addAll(graph.parameters());
    for (Tensor t : sources) {
      NdArray v = feeds.get(t.name());
      if (v != null) {
        if (v.dtype() != t.dtype()) {
          throw new IllegalArgumentException(
              "Fed " + v.dtype() + " for " + t + "; feed " + t.dtype());
        }
        bind(t, v.shape(), bindings);
        values.put(t, v);
      }
    }
    Set<Node> needed = Collections.newSetFromMap(new IdentityHashMap<>());
    List<Tensor> stack = new ArrayList<>(targets);
    while (!stack.isEmpty()) {
      Tensor t = stack.remove(stack.size() - 1);
      Node n = graph.producer(t);
      if (n == null) {
        if (!values.containsKey(t)) {
          throw new IllegalArgumentException(
              "Missing feed for " + t + " (fed: " + feeds.keySet() + ")");
        }
      } else if (needed.add(n)) {
        stack.addAll(n.inputs());
      }
    }
    for (Node n : graph.nodes()) {
      if (needed.contains(n)) {
        List<NdArray> in = n.inputs().stream().map(values::get).toList();
        NdArray v = Kernels.evaluate(n, in, bindings);
        bind(n.output(), v.shape(), bindings);
        values.put(n.output(), v);
      }
    }
    Map<Tensor, NdArray> out = new LinkedHashMap<>();
    for (Tensor t : targets) {
      out.put(t, values.get(t));
    }
    return out;
  }

  /** Checks {@code actual} against the declared shape of {@code t}, binding new single symbols. */
  private static void bind(Tensor t, long[] actual, Map<String, Long> bindings) {
    Shape s = t.shape();
    boolean ok = s.rank() == actual.length;
    for (int i = 0; ok && i < actual.length; i++) {
      Dim d = s.dim(i);
      if (d.symbols().size() == 1 && d.factor() == 1) {
        Long prev = bindings.putIfAbsent(d.symbols().get(0), actual[i]);
        ok = prev == null || prev == actual[i];
      } else if (d.isFixed() || bindings.keySet().containsAll(d.symbols())) {
        ok = d.evaluate(bindings) == actual[i];
      }
    }
    if (!ok) {
      throw new IllegalArgumentException(
          t
              + " got shape "
              + Arrays.toString(actual)
              + ", which does not match under bindings "
              + bindings);
    }
  }
}
