package dev.graft.graph;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Shape and indexing ops of {@link GraphOps}: reshapes, transposes, slices, padding, concatenation,
 * broadcasting, (un)squeezing, ranges and fills, gathers and scatter-adds. Package-private: its
 * public methods are {@link Graph}'s.
 */
abstract class ShapeOps extends ElementwiseOps {
  // ---------------------------------------------------------------- shapes

  @Override
  public Tensor reshape(Tensor x, Object... dims) {
    List<Dim> out = new ArrayList<>();
    int infer = -1;
    Dim known = Dim.of(1);
    for (Object d : dims) {
      if (d instanceof Number n && n.longValue() == -1) {
        if (infer >= 0) {
          throw new IllegalArgumentException(
              "Reshape: more than one -1 in " + Arrays.toString(dims));
        }
        infer = out.size();
        out.add(null);
      } else {
        Dim dim = Shape.with(d).dim(0);
        known = known.times(dim);
        out.add(dim);
      }
    }
    Dim total = x.shape().numel();
    if (infer >= 0) {
      Dim rest = total.dividedBy(known);
      if (rest == null) {
        throw new IllegalArgumentException(
            "Reshape: cannot reshape " + x.shape() + " to " + Arrays.toString(dims));
      }
      out.set(infer, rest);
    } else if (!known.equals(total)) {
      throw new IllegalArgumentException(
          "Reshape: cannot reshape "
              + x.shape()
              + " ("
              + total
              + " elements) to "
              + Shape.of(out)
              + " ("
              + known
              + " elements)");
    }
    Shape shape = Shape.of(out);
    return op("Reshape", Map.of("shape", shape), x.dtype(), shape, x);
  }

  @Override
  public Tensor transpose(Tensor x, int... perm) {
    if (perm.length != x.rank()
        || Arrays.stream(perm).sorted().distinct().count() != x.rank()
        || Arrays.stream(perm).anyMatch(p -> p < 0 || p >= x.rank())) {
      throw new IllegalArgumentException(
          "Transpose: "
              + Arrays.toString(perm)
              + " is not a permutation of the axes of "
              + x.shape());
    }
    List<Dim> out = new ArrayList<>();
    for (int p : perm) {
      out.add(x.shape().dim(p));
    }
    return op(
        "Transpose",
        Map.of("perm", Arrays.stream(perm).asLongStream().toArray()),
        x.dtype(),
        Shape.of(out),
        x);
  }

  @Override
  public Tensor transposeLast2(Tensor x) {
    int[] perm = new int[x.rank()];
    for (int i = 0; i < perm.length; i++) {
      perm[i] = i;
    }
    perm[perm.length - 1] = perm.length - 2;
    perm[perm.length - 2] = perm.length - 1;
    return transpose(x, perm);
  }

  @Override
  public Tensor slice(Tensor x, int axis, long start, long end) {
    int ax = x.shape().axis("Slice", axis);
    Dim d = x.shape().dim(ax);
    if (!d.isFixed() || start < 0 || end > d.size() || start >= end) {
      throw new IllegalArgumentException(
          "Slice: range ["
              + start
              + ", "
              + end
              + ") on axis "
              + axis
              + " is not inside "
              + x.shape()
              + " (slices need a fixed axis size)");
    }
    List<Dim> out = new ArrayList<>(x.shape().dims());
    out.set(ax, Dim.of(end - start));
    return op(
        "Slice",
        Map.of("axis", (long) ax, "start", start, "end", end),
        x.dtype(),
        Shape.of(out),
        x);
  }

  @Override
  public Tensor pad(Tensor x, int axis, long before, long after) {
    int ax = x.shape().axis("Pad", axis);
    if (before < 0 || after < 0) {
      throw new IllegalArgumentException(
          "Pad: amounts must be >= 0, got " + before + " and " + after);
    }
    List<Dim> out = new ArrayList<>(x.shape().dims());
    Dim d = out.get(ax);
    if (!d.isFixed() && before + after > 0) {
      throw new IllegalArgumentException(
          "Pad: axis " + axis + " of " + x.shape() + " must have a fixed size");
    }
    out.set(ax, d.isFixed() ? Dim.of(d.size() + before + after) : d);
    return op(
        "Pad",
        Map.of("axis", (long) ax, "before", before, "after", after),
        x.dtype(),
        Shape.of(out),
        x);
  }

  @Override
  public Tensor concat(int axis, Tensor... xs) {
    if (xs.length == 0) {
      throw new IllegalArgumentException("Concat: needs at least one tensor");
    }
    Shape first = xs[0].shape();
    int ax = first.axis("Concat", axis);
    long total = 0;
    boolean fixed = true;
    for (Tensor x : xs) {
      sameDType("Concat", xs[0], x);
      boolean ok = x.rank() == first.rank();
      for (int i = 0; ok && i < first.rank(); i++) {
        ok = i == ax || x.shape().dim(i).equals(first.dim(i));
      }
      if (!ok) {
        throw new IllegalArgumentException(
            "Concat: cannot concatenate " + first + " and " + x.shape() + " on axis " + axis);
      }
      fixed &= x.shape().dim(ax).isFixed();
      total += fixed ? x.shape().dim(ax).size() : 0;
    }
    List<Dim> out = new ArrayList<>(first.dims());
    // A concatenation of symbolic sizes gets a fresh symbol, bound when the graph runs.
    out.set(ax, fixed ? Dim.of(total) : freshDim("concat"));
    return op("Concat", Map.of("axis", (long) ax), xs[0].dtype(), Shape.of(out), xs);
  }

  @Override
  public Tensor expand(Tensor x, Shape shape) {
    if (!shape.equals(Shape.broadcast(x.shape(), shape))) {
      throw new IllegalArgumentException("Expand: cannot expand " + x.shape() + " to " + shape);
    }
    return op("Expand", Map.of("shape", shape), x.dtype(), shape, x);
  }

  @Override
  public Tensor squeeze(Tensor x, int... axes) {
    long[] ax = normaliseAxes("Squeeze", x.shape(), axes);
    List<Dim> out = new ArrayList<>();
    for (int i = 0; i < x.rank(); i++) {
      final int axis = i;
      if (Arrays.stream(ax).anyMatch(a -> a == axis)) {
        if (!x.shape().dim(i).equals(Dim.of(1))) {
          throw new IllegalArgumentException(
              "Squeeze: axis " + i + " of " + x.shape() + " is not 1");
        }
      } else {
        out.add(x.shape().dim(i));
      }
    }
    return op("Squeeze", Map.of("axes", ax), x.dtype(), Shape.of(out), x);
  }

  @Override
  public Tensor unsqueeze(Tensor x, int... axes) {
    int rank = x.rank() + axes.length;
    long[] ax = normaliseAxes("Unsqueeze", Shape.of(new long[rank]), axes);
    if (ax.length != axes.length) {
      throw new IllegalArgumentException("Unsqueeze: repeated axes " + Arrays.toString(axes));
    }
    List<Dim> out = new ArrayList<>();
    int j = 0;
    for (int i = 0; i < rank; i++) {
      final int axis = i;
      out.add(Arrays.stream(ax).anyMatch(a -> a == axis) ? Dim.of(1) : x.shape().dim(j++));
    }
    return op("Unsqueeze", Map.of("axes", ax), x.dtype(), Shape.of(out), x);
  }

  @Override
  public Tensor range(Dim n) {
    return op("Range", Map.of("n", n), DType.INT64, Shape.with(n));
  }

  @Override
  public Tensor fill(Shape shape, DType dtype, double value) {
    return op("ConstantOfShape", Map.of("shape", shape, "value", value), dtype, shape);
  }

  @Override
  public Tensor size(Dim d, DType dtype) {
    if (d.isFixed()) {
      return scalar(d.size(), dtype);
    }
    return op("DimSize", Map.of("dim", d), dtype, Shape.scalar());
  }

  // ---------------------------------------------------------------- indexing

  @Override
  public Tensor gather(Tensor data, Tensor indices, int axis) {
    requireIndex("Gather", indices);
    int ax = data.shape().axis("Gather", axis);
    List<Dim> out = new ArrayList<>(data.shape().dims().subList(0, ax));
    out.addAll(indices.shape().dims());
    out.addAll(data.shape().dims().subList(ax + 1, data.rank()));
    return op("Gather", Map.of("axis", (long) ax), data.dtype(), Shape.of(out), data, indices);
  }

  @Override
  public Tensor gatherElements(Tensor data, Tensor indices, int axis) {
    requireIndex("GatherElements", indices);
    int ax = data.shape().axis("GatherElements", axis);
    if (indices.rank() != data.rank()) {
      throw new IllegalArgumentException(
          "GatherElements: indices "
              + indices.shape()
              + " and data "
              + data.shape()
              + " need the same rank");
    }
    return op(
        "GatherElements", Map.of("axis", (long) ax), data.dtype(), indices.shape(), data, indices);
  }

  @Override
  public Tensor scatterNdAdd(Tensor data, Tensor indices, Tensor updates) {
    requireIndex("ScatterND", indices);
    sameDType("ScatterND", data, updates);
    Dim kd = indices.shape().dim(-1);
    if (!kd.isFixed() || kd.size() > data.rank()) {
      throw new IllegalArgumentException(
          "ScatterND: last axis of indices "
              + indices.shape()
              + " must be fixed and at most the rank of data "
              + data.shape());
    }
    List<Dim> want = new ArrayList<>(indices.shape().dims().subList(0, indices.rank() - 1));
    want.addAll(data.shape().dims().subList((int) kd.size(), data.rank()));
    if (!Shape.of(want).equals(updates.shape())) {
      throw new IllegalArgumentException(
          "ScatterND: updates "
              + updates.shape()
              + " must have shape "
              + Shape.of(want)
              + " for data "
              + data.shape()
              + " and indices "
              + indices.shape());
    }
    return op("ScatterND", Map.of(), data.dtype(), data.shape(), data, indices, updates);
  }

  @Override
  public Tensor scatterElementsAdd(Tensor data, Tensor indices, Tensor updates, int axis) {
    requireIndex("ScatterElements", indices);
    sameDType("ScatterElements", data, updates);
    int ax = data.shape().axis("ScatterElements", axis);
    if (!indices.shape().equals(updates.shape()) || indices.rank() != data.rank()) {
      throw new IllegalArgumentException(
          "ScatterElements: indices "
              + indices.shape()
              + " and updates "
              + updates.shape()
              + " need equal shapes of the rank of data "
              + data.shape());
    }
    return op(
        "ScatterElements",
        Map.of("axis", (long) ax),
        data.dtype(),
        data.shape(),
        data,
        indices,
        updates);
  }
}
