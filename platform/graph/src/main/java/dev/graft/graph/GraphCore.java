package dev.graft.graph;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.Set;
import java.util.TreeSet;

/**
 * The state of a {@link Graph} and what declares and rewires it: inputs, parameters, constants and
 * outputs, the nodes in a topological order, and {@link #replaceUses}; plus the plumbing the op
 * classes share (creating a node, checking dtypes, shapes and ownership). The ops come in the
 * subclasses, one kind each: {@link ElementwiseOps} ← {@link ShapeOps} ← {@link NnOps} ← {@link
 * CompositeOps} ← {@link Graph}, which adds differentiation and lowering. Package-private: its
 * public methods are {@link Graph}'s.
 */
abstract class GraphCore implements GraphOps {
  private final List<Node> nodes = new ArrayList<>();
  private final Map<String, Tensor> byName = new LinkedHashMap<>();
  private final Map<Tensor, Node> producers = new IdentityHashMap<>();
  private final List<Tensor> inputs = new ArrayList<>();
  private final Map<Tensor, Boolean> parameters = new LinkedHashMap<>();
  private final Map<String, Tensor> outputs = new LinkedHashMap<>();
  private final Map<String, Tensor> replacedNames = new LinkedHashMap<>();
  private int counter;

  // ---------------------------------------------------------------- declarations and structure

  /** Declares a graph input fed at every run. */
  public Tensor input(String name, DType dtype, Shape shape) {
    Tensor t = newTensor(name, dtype, shape);
    inputs.add(t);
    return t;
  }

  /**
   * Declares a named weight. Trainable parameters become step inputs (and, in a training step,
   * updated outputs); frozen ones become external-data initializers supplied by the runtime.
   * Integer parameters (quantised codes) can only be frozen.
   */
  public Tensor parameter(String name, DType dtype, Shape shape, boolean trainable) {
    if (!shape.isFixed()) {
      throw new IllegalArgumentException(
          "Parameter \"" + name + "\" needs a fixed shape, got " + shape);
    }
    requireTrainableDType(name, dtype, trainable);
    Tensor t = newTensor(name, dtype, shape);
    parameters.put(t, trainable);
    return t;
  }

  /** Marks a parameter trainable or frozen (integer parameters only frozen). */
  public void setTrainable(Tensor parameter, boolean trainable) {
    if (!parameters.containsKey(parameter)) {
      throw new IllegalArgumentException(parameter.name() + " is not a parameter of this graph");
    }
    requireTrainableDType(parameter.name(), parameter.dtype(), trainable);
    parameters.put(parameter, trainable);
  }

  private static void requireTrainableDType(String name, DType dtype, boolean trainable) {
    if (trainable && !dtype.isFloating()) {
      throw new IllegalArgumentException(
          "Parameter \""
              + name
              + "\" is "
              + dtype
              + " and cannot train (gradients are floating point); declare it frozen.");
    }
  }

  /** Whether {@code t} is a trainable parameter. */
  public boolean isTrainable(Tensor t) {
    return Boolean.TRUE.equals(parameters.get(t));
  }

  @Override
  public Tensor constant(NdArray value) {
    return op("Constant", Map.of("value", value), value.dtype(), Shape.of(value.shape()));
  }

  @Override
  public Tensor scalar(double value, DType dtype) {
    return constant(NdArray.scalar(dtype, value));
  }

  /** Names {@code tensor} as a graph output. */
  public void output(String name, Tensor tensor) {
    own(tensor);
    if (outputs.containsKey(name)) {
      throw new IllegalArgumentException("Output \"" + name + "\" is already declared");
    }
    outputs.put(name, tensor);
  }

  /**
   * Takes {@code name} out of the outputs (its value stays in the graph for whatever uses it): an
   * output nobody fetches still costs the runtime a buffer and a write on every run.
   *
   * @throws IllegalArgumentException when there is no such output
   */
  public void removeOutput(String name) {
    if (outputs.remove(name) == null) {
      throw new IllegalArgumentException(
          "No output \"" + name + "\"; outputs: " + outputs.keySet() + ".");
    }
  }

  /** All nodes in topological (creation) order. */
  public List<Node> nodes() {
    return Collections.unmodifiableList(nodes);
  }

  /** Graph inputs in declaration order. */
  public List<Tensor> inputs() {
    return Collections.unmodifiableList(inputs);
  }

  /** All parameters in declaration order. */
  public List<Tensor> parameters() {
    return List.copyOf(parameters.keySet());
  }

  /** The trainable parameters in declaration order. */
  public List<Tensor> trainables() {
    return parameters.keySet().stream().filter(this::isTrainable).toList();
  }

  /** Outputs by name, in declaration order. */
  public Map<String, Tensor> outputs() {
    return Collections.unmodifiableMap(outputs);
  }

  /** The node that computes {@code t}, or {@code null} for inputs and parameters. */
  public Node producer(Tensor t) {
    return producers.get(own(t));
  }

  /** The tensor with this name; throws if there is none. */
  public Tensor tensor(String name) {
    Tensor t = byName.get(name);
    if (t == null) {
      throw new IllegalArgumentException("No tensor named \"" + name + "\" in this graph");
    }
    return t;
  }

  /**
   * What stands for the parameter or input {@code name} now: the tensor itself, or, once {@link
   * #replaceUses} has rewired all of its uses away and it has left the graph, its replacement
   * (followed through later replacements). A graph built in passes (the virtual tokens' pass
   * through a model's blocks) reads a weight a method has replaced this way.
   *
   * @throws IllegalArgumentException when no tensor has had this name
   */
  public Tensor current(String name) {
    Tensor t = byName.get(name);
    if (t != null) {
      return t;
    }
    Tensor replacement = replacedNames.get(name);
    if (replacement == null) {
      throw new IllegalArgumentException("No tensor named \"" + name + "\" in this graph");
    }
    return byName.get(replacement.name()) == replacement
        ? replacement
        : current(replacement.name());
  }

  /**
   * Rewires every use of {@code old} (node inputs and graph outputs) to {@code replacement}, except
   * uses inside the computation of {@code replacement} itself. This is how a method swaps a frozen
   * weight for a dequantised one ({@code W -> nf4Dequantize(...)}) or wraps an op's result ({@code
   * y -> y + lora(x)}, which reads y). Nodes are then re-sorted into a topological order.
   */
  public void replaceUses(Tensor old, Tensor replacement) {
    own(old);
    own(replacement);
    if (old.dtype() != replacement.dtype() || !old.shape().equals(replacement.shape())) {
      throw new IllegalArgumentException(
          "Cannot replace " + old + " by " + replacement + ": dtype and shape must match");
    }
    Set<Node> ancestors = Collections.newSetFromMap(new IdentityHashMap<>());
    List<Tensor> stack = new ArrayList<>(List.of(replacement));
    while (!stack.isEmpty()) {
      Node n = producers.get(stack.remove(stack.size() - 1));
      if (n != null && ancestors.add(n)) {
        stack.addAll(n.inputs());
      }
    }
    for (int i = 0; i < nodes.size(); i++) {
      Node n = nodes.get(i);
      if (!ancestors.contains(n) && n.inputs().contains(old)) {
        List<Tensor> in = n.inputs().stream().map(t -> t == old ? replacement : t).toList();
        Node rewired = new Node(n.op(), in, n.outputs(), n.attributes());
        nodes.set(i, rewired);
        producers.put(rewired.output(), rewired);
      }
    }
    outputs.replaceAll((name, t) -> t == old ? replacement : t);
    sortNodes();
    if (!producers.containsKey(old) && nodes.stream().noneMatch(n -> n.inputs().contains(old))) {
      // A parameter or input nothing reads any more leaves the graph (the runtime need not supply
      // it).
      parameters.remove(old);
      inputs.remove(old);
      byName.remove(old.name());
      replacedNames.put(old.name(), replacement);
    }
  }

  /**
   * {@code value} computed again, no earlier than {@code dependency}: a copy of the ops that
   * compute it from the {@link GraphOps#after} nodes up, each of whose copies waits for {@code
   * dependency} instead; {@code value} itself when no {@code after} computes it. Differentiation
   * uses it for the frozen operand of a product, so that the backward computes that operand again
   * rather than keeping the forward's value alive.
   */
  public Tensor recompute(Tensor value, Tensor dependency) {
    own(value);
    own(dependency);
    return recompute(value, dependency, new IdentityHashMap<>());
  }

  private Tensor recompute(Tensor t, Tensor dependency, Map<Tensor, Tensor> copies) {
    Tensor done = copies.get(t);
    if (done != null) {
      return done;
    }
    Node n = producers.get(t);
    Tensor copy = t;
    if (n != null && n.op().equals("After")) {
      Tensor v = recompute(n.input(0), dependency, copies);
      copy = op("After", n.attributes(), t.dtype(), t.shape(), v, dependency);
    } else if (n != null) {
      List<Tensor> in = new ArrayList<>();
      boolean changed = false;
      for (Tensor i : n.inputs()) {
        Tensor c = recompute(i, dependency, copies);
        changed |= c != i;
        in.add(c);
      }
      if (changed) {
        copy = op(n.op(), n.attributes(), t.dtype(), t.shape(), in.toArray(Tensor[]::new));
      }
    }
    copies.put(t, copy);
    return copy;
  }

  /** Stable topological sort (Kahn, earliest-created first). */
  private void sortNodes() {
    Map<Node, Integer> pending = new IdentityHashMap<>();
    Map<Tensor, List<Node>> consumers = new IdentityHashMap<>();
    for (Node n : nodes) {
      int count = 0;
      for (Tensor t : n.inputs()) {
        if (producers.containsKey(t)) {
          consumers.computeIfAbsent(t, k -> new ArrayList<>()).add(n);
          count++;
        }
      }
      pending.put(n, count);
    }
    Map<Node, Integer> order = new IdentityHashMap<>();
    for (int i = 0; i < nodes.size(); i++) {
      order.put(nodes.get(i), i);
    }
    PriorityQueue<Node> ready = new PriorityQueue<>(Comparator.comparing(order::get));
    nodes.stream().filter(n -> pending.get(n) == 0).forEach(ready::add);
    List<Node> sorted = new ArrayList<>();
    while (!ready.isEmpty()) {
      Node n = ready.poll();
      sorted.add(n);
      for (Node c : consumers.getOrDefault(n.output(), List.of())) {
        if (pending.merge(c, -1, Integer::sum) == 0) {
          ready.add(c);
        }
      }
    }
    if (sorted.size() != nodes.size()) {
      throw new IllegalStateException("The graph has a cycle after rewiring");
    }
    nodes.clear();
    nodes.addAll(sorted);
  }

  // ---------------------------------------------------------------- plumbing for the op classes

  private Tensor newTensor(String name, DType dtype, Shape shape) {
    if (byName.containsKey(name)) {
      throw new IllegalArgumentException(
          "A tensor named \"" + name + "\" already exists in this graph");
    }
    Tensor t = new Tensor(this, name, dtype, shape);
    byName.put(name, t);
    return t;
  }

  /**
   * Appends a node {@code op(in)} with attributes {@code attrs}, whose result is a fresh tensor of
   * the given dtype and shape (inferred by the caller).
   */
  final Tensor op(String op, Map<String, Object> attrs, DType dtype, Shape shape, Tensor... in) {
    for (Tensor t : in) {
      own(t);
    }
    String name;
    do {
      name = op + "_" + counter++;
    } while (byName.containsKey(name));
    Tensor out = newTensor(name, dtype, shape);
    Node node = new Node(op, List.of(in), List.of(out), attrs);
    nodes.add(node);
    producers.put(out, node);
    return out;
  }

  /** {@code t}, once checked to belong to this graph. */
  final Tensor own(Tensor t) {
    if (t == null || t.graph() != this) {
      throw new IllegalArgumentException("Tensor " + t + " does not belong to this graph");
    }
    return t;
  }

  static long[] normaliseAxes(String op, Shape shape, int... axes) {
    TreeSet<Long> set = new TreeSet<>();
    for (int a : axes) {
      set.add((long) shape.axis(op, a));
    }
    return set.stream().mapToLong(Long::longValue).toArray();
  }

  static Shape broadcastOrThrow(String op, Shape a, Shape b) {
    Shape s = Shape.broadcast(a, b);
    if (s == null) {
      throw new IllegalArgumentException(op + ": cannot broadcast " + a + " with " + b);
    }
    return s;
  }

  static void sameDType(String op, Tensor a, Tensor b) {
    if (a.dtype() != b.dtype()) {
      throw new IllegalArgumentException(
          op + ": dtypes differ: " + a + " and " + b + " (insert a cast)");
    }
  }

  static void requireFloat(String op, Tensor x) {
    if (!x.dtype().isFloating()) {
      throw new IllegalArgumentException(op + ": needs a floating-point tensor, got " + x);
    }
  }

  static void requireDType(String op, Tensor x, DType dtype) {
    if (x.dtype() != dtype) {
      throw new IllegalArgumentException(op + ": needs " + dtype + ", got " + x);
    }
  }

  static void requireIndex(String op, Tensor indices) {
    if (indices.dtype() != DType.INT64 && indices.dtype() != DType.INT32) {
      throw new IllegalArgumentException(op + ": indices must be INT64 or INT32, got " + indices);
    }
  }

  /** A fresh symbol for a size known only at run time (such as a concatenation of symbols). */
  final Dim freshDim(String hint) {
    return Dim.of(hint + counter);
  }
}
