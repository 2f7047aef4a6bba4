package dev.graft.graph;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * The shape of a {@link Tensor}: a list of {@link Dim}s, each fixed or symbolic. Rank 0 is a
 * scalar.
 */
public final class Shape {
  private final List<Dim> dims;

  private Shape(List<Dim> dims) {
    this.dims = List.copyOf(dims);
  }

  /** A shape of fixed sizes, e.g. {@code Shape.of(2, 3)}. */
  public static Shape of(long... sizes) {
    return new Shape(Arrays.stream(sizes).mapToObj(Dim::of).toList());
  }

  /**
   * A shape from {@link Dim}s, symbol names and sizes, e.g. {@code Shape.with("batch", "seq",
   * 768)}.
   */
  public static Shape with(Object... dims) {
    List<Dim> list = new ArrayList<>();
    for (Object d : dims) {
      if (d instanceof Dim dim) {
        list.add(dim);
      } else if (d instanceof String s) {
        list.add(Dim.of(s));
      } else if (d instanceof Number n) {
        list.add(Dim.of(n.longValue()));
      } else {
        throw new IllegalArgumentException(
            "Shape entries must be Dim, String or a number, got "
                + d
                + " in "
                + Arrays.toString(dims));
      }
    }
    return new Shape(list);
  }

  /** A shape from a list of dims. */
  public static Shape of(List<Dim> dims) {
    return new Shape(dims);
  }

  /** The scalar shape {@code []}. */
  public static Shape scalar() {
    return new Shape(List.of());
  }

  /** Number of dimensions. */
  public int rank() {
    return dims.size();
  }

  /** The dimension at {@code axis}; negative axes count from the end. */
  public Dim dim(int axis) {
    return dims.get(axis < 0 ? axis + dims.size() : axis);
  }

  /** All dimensions. */
  public List<Dim> dims() {
    return dims;
  }

  /** Whether every dimension is fixed. */
  public boolean isFixed() {
    return dims.stream().allMatch(Dim::isFixed);
  }

  /** The number of elements, as a (possibly symbolic) dimension. */
  public Dim numel() {
    Dim n = Dim.of(1);
    for (Dim d : dims) {
      n = n.times(d);
    }
    return n;
  }

  /** The fixed sizes; throws {@link IllegalStateException} if a dimension is symbolic. */
  public long[] sizes() {
    return dims.stream().mapToLong(Dim::size).toArray();
  }

  /** The concrete sizes under the given symbol bindings. */
  public long[] evaluate(Map<String, Long> bindings) {
    return dims.stream().mapToLong(d -> d.evaluate(bindings)).toArray();
  }

  /**
   * The numpy-style broadcast of two shapes, or {@code null} if they do not broadcast. A dimension
   * of size 1 stretches to match the other; other dimensions must be equal (a symbol only matches
   * itself).
   */
  public static Shape broadcast(Shape a, Shape b) {
    int rank = Math.max(a.rank(), b.rank());
    List<Dim> out = new ArrayList<>();
    for (int i = 0; i < rank; i++) {
      int ia = i - (rank - a.rank());
      int ib = i - (rank - b.rank());
      Dim da = ia >= 0 ? a.dims.get(ia) : Dim.of(1);
      Dim db = ib >= 0 ? b.dims.get(ib) : Dim.of(1);
      if (da.equals(db) || db.equals(Dim.of(1))) {
        out.add(da);
      } else if (da.equals(Dim.of(1))) {
        out.add(db);
      } else {
        return null;
      }
    }
    return new Shape(out);
  }

  /** Normalises a possibly negative axis against this rank, or throws naming the op. */
  int axis(String op, int axis) {
    int a = axis < 0 ? axis + rank() : axis;
    if (a < 0 || a >= rank()) {
      throw new IllegalArgumentException(
          op + ": axis " + axis + " is out of range for shape " + this + " (rank " + rank() + ")");
    }
    return a;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Shape s && s.dims.equals(dims);
  }

  @Override
  public int hashCode() {
    return dims.hashCode();
  }

  /** {@code [2, 3]} or {@code [batch, seq, 768]}. */
  @Override
  public String toString() {
    return dims.toString();
  }
}
