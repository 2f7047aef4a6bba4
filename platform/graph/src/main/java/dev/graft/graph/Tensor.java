package dev.graft.graph;

/**
 * A symbolic value in a {@link Graph}: a graph input, a parameter, or the output of one op, with a
 * dtype and a (possibly symbolic) shape. Tensors are created only by their graph.
 */
public final class Tensor {
  private final GraphCore graph;
  private final String name;
  private final DType dtype;
  private final Shape shape;

  Tensor(GraphCore graph, String name, DType dtype, Shape shape) {
    this.graph = graph;
    this.name = name;
    this.dtype = dtype;
    this.shape = shape;
  }

  /** The unique name of this value inside its graph (the ONNX value name after lowering). */
  public String name() {
    return name;
  }

  /** The element type. */
  public DType dtype() {
    return dtype;
  }

  /** The shape, checked when the producing op was built. */
  public Shape shape() {
    return shape;
  }

  /** The rank of {@link #shape()}. */
  public int rank() {
    return shape.rank();
  }

  GraphCore graph() {
    return graph;
  }

  /** {@code name: FLOAT32[2, 3]}. */
  @Override
  public String toString() {
    return name + ": " + dtype + shape;
  }
}
