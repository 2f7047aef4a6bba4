package dev.graft.graph;

/**
 * A symbolic value in a {@link Graph}: the output of one op, with a dtype and a (possibly symbolic)
 * shape.
 */
public interface Tensor {
  /** The unique name of this value inside its graph. */
  String name();
}
