package dev.graft.graph;

import java.util.List;
import java.util.Map;

/**
 * One op of a {@link Graph}: an op type (an ONNX op name where one matches, e.g. {@code MatMul}),
 * its input and output tensors and its attributes. Attribute values are {@link Long}, {@code
 * long[]}, {@link Double}, {@link String}, {@link DType}, {@link Shape}, {@link Dim} or {@link
 * NdArray}.
 */
public final class Node {
  private final String op;
  private final List<Tensor> inputs;
  private final List<Tensor> outputs;
  private final Map<String, Object> attributes;

  Node(String op, List<Tensor> inputs, List<Tensor> outputs, Map<String, Object> attributes) {
    this.op = op;
    this.inputs = List.copyOf(inputs);
    this.outputs = List.copyOf(outputs);
    this.attributes = Map.copyOf(attributes);
  }

  /** The op type. */
  public String op() {
    return op;
  }

  /** Input tensors, in op order. */
  public List<Tensor> inputs() {
    return inputs;
  }

  /** The input at {@code i}. */
  public Tensor input(int i) {
    return inputs.get(i);
  }

  /** Output tensors (all ops have one). */
  public List<Tensor> outputs() {
    return outputs;
  }

  /** The first output. */
  public Tensor output() {
    return outputs.get(0);
  }

  /** Attributes by name. */
  public Map<String, Object> attributes() {
    return attributes;
  }

  /** An integer attribute. */
  public long longAttr(String name) {
    return (Long) attr(name);
  }

  /** An integer-list attribute. */
  public long[] longsAttr(String name) {
    return ((long[]) attr(name)).clone();
  }

  /** A floating-point attribute. */
  public double doubleAttr(String name) {
    return (Double) attr(name);
  }

  /** An attribute of any type. */
  public Object attr(String name) {
    Object v = attributes.get(name);
    if (v == null) {
      throw new IllegalArgumentException(
          op + " has no attribute \"" + name + "\"; it has " + attributes.keySet());
    }
    return v;
  }

  @Override
  public String toString() {
    return outputs.stream().map(Tensor::name).toList()
        + " = "
        + op
        + inputs.stream().map(Tensor::name).toList()
        + (attributes.isEmpty() ? "" : " " + attributes.keySet());
  }
}
