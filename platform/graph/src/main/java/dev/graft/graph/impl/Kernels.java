package dev.graft.graph.impl;

import dev.graft.graph.DType;
import dev.graft.graph.Dim;
import dev.graft.graph.NdArray;
import dev.graft.graph.Node;
import dev.graft.graph.Shape;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.DoubleBinaryOperator;
import java.util.function.DoubleUnaryOperator;

/**
 * Reference kernels: each primitive op evaluated in double precision on row-major arrays, written
 * for clarity rather than speed. They follow ONNX semantics (numpy broadcasting, integer division
 * truncating toward zero, Mod with the divisor's sign, Gather accepting negative indices, Cast to
 * an integer type wrapping modulo 2^bits). Integer arithmetic does not wrap: its results are exact
 * doubles.
 */
public final class Kernels {
  private Kernels() {}

  /**
   * Evaluates {@code node} on concrete inputs; symbolic sizes in attributes resolve via {@code
   * bindings}.
   */
  public static NdArray evaluate(Node node, List<NdArray> in, Map<String, Long> bindings) {
    DType out = node.output().dtype();
    NdArray a = in.isEmpty() ? null : in.get(0);
    NdArray b = in.size() > 1 ? in.get(1) : null;
    return switch (node.op()) {
      case "Constant" -> (NdArray) node.attr("value");
      case "StopGradient", "After" -> a;
      case "Neg" -> map(a, v -> -v);
      case "Sqrt" -> map(a, Math::sqrt);
      case "Reciprocal" -> map(a, v -> 1 / v);
      case "Exp" -> map(a, Math::exp);
      case "Log" -> map(a, Math::log);
      case "Tanh" -> map(a, Math::tanh);
      case "Sigmoid" -> map(a, v -> 1 / (1 + Math.exp(-v)));
      case "Erf" -> map(a, Kernels::erf);
      case "Gelu" ->
          map(a, node.attr("approximate").equals("tanh") ? Kernels::geluTanh : Kernels::geluErf);
      case "Silu" -> map(a, v -> v / (1 + Math.exp(-v)));
      case "Abs" -> map(a, Math::abs);
      case "Sign" -> map(a, Math::signum);
      case "Not" -> map(a, v -> v == 0 ? 1 : 0);
      case "Clip" ->
          map(a, v -> Math.min(Math.max(v, node.doubleAttr("min")), node.doubleAttr("max")));
      case "Cast" ->
          NdArray.of(out, a.shape(), Arrays.stream(a.data()).map(v -> cast(v, out)).toArray());
      case "Add" -> zip(out, a, b, Double::sum);
      case "Sub" -> zip(out, a, b, (x, y) -> x - y);
      case "Mul" -> zip(out, a, b, (x, y) -> x * y);
      case "Div" -> zip(out, a, b, out.isFloating() ? (x, y) -> x / y : (x, y) -> truncate(x / y));
      case "Pow" -> zip(out, a, b, Math::pow);
      case "Max" -> zip(out, a, b, Math::max);
      case "Min" -> zip(out, a, b, Math::min);
      case "Mod" -> zip(out, a, b, (x, y) -> x - y * Math.floor(x / y));
      case "Equal" -> zip(out, a, b, (x, y) -> x == y ? 1 : 0);
      case "Less" -> zip(out, a, b, (x, y) -> x < y ? 1 : 0);
      case "Greater" -> zip(out, a, b, (x, y) -> x > y ? 1 : 0);
      case "And" -> zip(out, a, b, (x, y) -> x != 0 && y != 0 ? 1 : 0);
      case "Where" -> where(in.get(0), in.get(1), in.get(2));
      case "ReduceSum" -> reduce(node, a, false);
      case "ReduceMax" -> reduce(node, a, true);
      case "LayerNormalization" ->
          normalise(a, b, in.size() > 2 ? in.get(2) : null, node.doubleAttr("epsilon"), true);
      case "RMSNormalization" -> normalise(a, b, null, node.doubleAttr("epsilon"), false);
      case "Softmax" -> softmax(a, (int) node.longAttr("axis"), false);
      case "LogSoftmax" -> softmax(a, (int) node.longAttr("axis"), true);
      case "MatMul" -> matmul(a, b);
      case "Gemm" -> gemm(node, in);
      case "Gather" -> gather(a, b, (int) node.longAttr("axis"));
      case "GatherElements" -> gatherElements(a, b, (int) node.longAttr("axis"));
      case "ScatterND" -> scatterNd(a, b, in.get(2));
      case "ScatterElements" -> scatterElements(a, b, in.get(2), (int) node.longAttr("axis"));
      case "Reshape" ->
          NdArray.of(a.dtype(), resolve((Shape) node.attr("shape"), bindings), a.data());
      case "Squeeze", "Unsqueeze" ->
          NdArray.of(a.dtype(), resolve(node.output().shape(), bindings), a.data());
      case "Transpose" -> transpose(a, node.longsAttr("perm"));
      case "Slice" ->
          slice(a, (int) node.longAttr("axis"), node.longAttr("start"), node.longAttr("end"));
      case "Pad" ->
          pad(a, (int) node.longAttr("axis"), node.longAttr("before"), node.longAttr("after"));
      case "Concat" -> concat(in, (int) node.longAttr("axis"));
      case "Expand" -> expand(a, resolve((Shape) node.attr("shape"), bindings));
      case "Range" -> range(((Dim) node.attr("n")).evaluate(bindings));
      case "ConstantOfShape" ->
          fill(out, resolve((Shape) node.attr("shape"), bindings), node.doubleAttr("value"));
      case "DimSize" -> NdArray.scalar(out, ((Dim) node.attr("dim")).evaluate(bindings));
      default ->
          throw new IllegalArgumentException(
              "The reference interpreter has no kernel for " + node.op());
    };
  }

  // ---------------------------------------------------------------- helpers

  static long[] resolve(Shape s, Map<String, Long> bindings) {
    return s.evaluate(bindings);
  }

  private static int numel(long[] shape) {
    long n = 1;
    for (long s : shape) {
      n *= s;
    }
    return Math.toIntExact(n);
  }

  private static int[] strides(long[] shape) {
    int[] st = new int[shape.length];
    int s = 1;
    for (int i = shape.length - 1; i >= 0; i--) {
      st[i] = s;
      s *= (int) shape[i];
    }
    return st;
  }

  /**
   * For each flat index of {@code out}, the flat index of the broadcast input of shape {@code in}.
   */
  private static int[] broadcastIndex(long[] out, long[] in) {
    int[] inStrides = strides(in);
    int offset = out.length - in.length;
    int n = numel(out);
    int[] map = new int[n];
    int[] coord = new int[out.length];
    for (int i = 0; i < n; i++) {
      int src = 0;
      for (int d = offset; d < out.length; d++) {
        if (in[d - offset] != 1) {
          src += coord[d] * inStrides[d - offset];
        }
      }
      map[i] = src;
      for (int d = out.length - 1; d >= 0; d--) {
        if (++coord[d] < out[d]) {
          break;
        }
        coord[d] = 0;
      }
    }
    return map;
  }

  private static long[] broadcastShape(long[] a, long[] b) {
    int rank = Math.max(a.length, b.length);
    long[] out = new long[rank];
    for (int i = 0; i < rank; i++) {
      long da = i - (rank - a.length) >= 0 ? a[i - (rank - a.length)] : 1;
      long db = i - (rank - b.length) >= 0 ? b[i - (rank - b.length)] : 1;
      if (da != db && da != 1 && db != 1) {
        throw new IllegalArgumentException(
            "Cannot broadcast " + Arrays.toString(a) + " with " + Arrays.toString(b));
      }
      out[i] = da == 1 ? db : da;
    }
    return out;
  }

  private static NdArray map(NdArray a, DoubleUnaryOperator f) {
    return NdArray.of(a.dtype(), a.shape(), Arrays.stream(a.data()).map(f).toArray());
  }

  private static NdArray zip(DType out, NdArray a, NdArray b, DoubleBinaryOperator f) {
    long[] shape = broadcastShape(a.shape(), b.shape());
    int[] ia = broadcastIndex(shape, a.shape());
    int[] ib = broadcastIndex(shape, b.shape());
    double[] x = a.data();
    double[] y = b.data();
    double[] r = new double[ia.length];
    for (int i = 0; i < r.length; i++) {
      r[i] = f.applyAsDouble(x[ia[i]], y[ib[i]]);
    }
    return NdArray.of(out, shape, r);
  }

  private static NdArray where(NdArray c, NdArray a, NdArray b) {
    long[] shape = broadcastShape(c.shape(), broadcastShape(a.shape(), b.shape()));
    int[] ic = broadcastIndex(shape, c.shape());
    int[] ia = broadcastIndex(shape, a.shape());
    int[] ib = broadcastIndex(shape, b.shape());
    double[] cv = c.data();
    double[] av = a.data();
    double[] bv = b.data();
    double[] r = new double[ic.length];
    for (int i = 0; i < r.length; i++) {
      r[i] = cv[ic[i]] != 0 ? av[ia[i]] : bv[ib[i]];
    }
    return NdArray.of(a.dtype(), shape, r);
  }

  private static double truncate(double v) {
    return v < 0 ? Math.ceil(v) : Math.floor(v);
  }

  private static double cast(double v, DType to) {
    return switch (to) {
      case BOOL -> v != 0 ? 1 : 0;
      case INT64 -> truncate(v);
      // C's conversions: truncate toward zero, then wrap into the type's range
      case INT32 -> (int) (long) truncate(v);
      case UINT8 -> (long) truncate(v) & 0xFF;
      case INT8 -> (byte) (long) truncate(v);
      default -> v;
    };
  }

  /**
   * erf: its Taylor series below |x| = 2.5 (at most ~3 digits lost to cancellation), and beyond
   * that the continued fraction {@code erfc(x) = e^(-x^2) / sqrt(pi) / (x + (1/2) / (x + 1 / (x +
   * (3/2) / (x + ...))))}, evaluated backward.
   */
  static double erf(double x) {
    double ax = Math.abs(x);
    if (ax < 2.5) {
      double term = ax;
      double sum = ax;
      for (int n = 1; Math.abs(term) > 1e-18 * sum; n++) {
        term *= -ax * ax / n;
        sum += term / (2 * n + 1);
      }
      return Math.signum(x) * 2 / Math.sqrt(Math.PI) * sum;
    }
    double t = ax;
    for (int n = 120; n >= 1; n--) {
      t = ax + n / 2.0 / t;
    }
    return Math.signum(x) * (1 - Math.exp(-ax * ax) / (Math.sqrt(Math.PI) * t));
  }

  /**
   * GELU, tanh form: {@code 0.5 x (1 + tanh(z))} with {@code z = sqrt(2/pi) (x + 0.044715 x^3)},
   * evaluated as {@code x / (1 + e^(-2z))} (the same value, without the cancellation of {@code 1 +
   * tanh z} for negative x).
   */
  static double geluTanh(double x) {
    double z = Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x);
    return x / (1 + Math.exp(-2 * z));
  }

  /** GELU, exact: {@code 0.5 x (1 + erf(x / sqrt 2))}. */
  static double geluErf(double x) {
    return 0.5 * x * (1 + erf(x / Math.sqrt(2)));
  }

  // ---------------------------------------------------------------- reductions

  private static NdArray reduce(Node node, NdArray a, boolean max) {
    long[] axes = node.longsAttr("axes");
    boolean keep = node.longAttr("keepdims") == 1;
    long[] shape = a.shape();
    long[] kept = shape.clone();
    for (long ax : axes) {
      kept[(int) ax] = 1;
    }
    int[] map = broadcastIndex(shape, kept);
    double[] r = new double[numel(kept)];
    if (max) {
      Arrays.fill(r, Double.NEGATIVE_INFINITY);
    }
    double[] x = a.data();
    for (int i = 0; i < x.length; i++) {
      r[map[i]] = max ? Math.max(r[map[i]], x[i]) : r[map[i]] + x[i];
    }
    long[] outShape = keep ? kept : removeAxes(shape, axes);
    return NdArray.of(a.dtype(), outShape, r);
  }

  private static long[] removeAxes(long[] shape, long[] axes) {
    return java.util.stream.IntStream.range(0, shape.length)
        .filter(i -> Arrays.stream(axes).noneMatch(x -> x == i))
        .mapToLong(i -> shape[i])
        .toArray();
  }

  /**
   * Layer normalisation ({@code centre}) or RMS normalisation over the last axis, row by row:
   * {@code (x - mean) r gamma + beta} with {@code r = 1 / sqrt(mean((x - mean)^2) + eps)}, where
   * {@code mean} is 0 without centring and {@code beta} may be null.
   */
  private static NdArray normalise(
      NdArray x, NdArray gamma, NdArray beta, double eps, boolean centre) {
    long[] shape = x.shape();
    int d = (int) shape[shape.length - 1];
    double[] v = x.data();
    double[] out = new double[v.length];
    for (int row = 0; row < v.length; row += d) {
      double mean = 0;
      if (centre) {
        for (int j = 0; j < d; j++) {
          mean += v[row + j];
        }
        mean /= d;
      }
      double squares = 0;
      for (int j = 0; j < d; j++) {
        double c = v[row + j] - mean;
        squares += c * c;
      }
      double r = 1 / Math.sqrt(squares / d + eps);
      for (int j = 0; j < d; j++) {
        double y = (v[row + j] - mean) * r * gamma.get(j);
        out[row + j] = beta == null ? y : y + beta.get(j);
      }
    }
    return NdArray.of(x.dtype(), shape, out);
  }

  private static NdArray softmax(NdArray a, int axis, boolean log) {
    long[] shape = a.shape();
    int n = (int) shape[axis];
    int inner = strides(shape)[axis];
    int outer = a.size() / (n * inner);
    double[] x = a.data();
    double[] r = new double[x.length];
    for (int o = 0; o < outer; o++) {
      for (int in = 0; in < inner; in++) {
        int base = o * n * inner + in;
        double mx = Double.NEGATIVE_INFINITY;
        for (int k = 0; k < n; k++) {
          mx = Math.max(mx, x[base + k * inner]);
        }
        double sum = 0;
        for (int k = 0; k < n; k++) {
          sum += Math.exp(x[base + k * inner] - mx);
        }
        for (int k = 0; k < n; k++) {
          double z = x[base + k * inner] - mx;
          r[base + k * inner] = log ? z - Math.log(sum) : Math.exp(z) / sum;
        }
      }
    }
    return NdArray.of(a.dtype(), shape, r);
  }

  // ---------------------------------------------------------------- linear algebra

  private static NdArray matmul(NdArray a, NdArray b) {
    long[] sa = a.shape();
    long[] sb = b.shape();
    int m = (int) sa[sa.length - 2];
    int k = (int) sa[sa.length - 1];
    int n = (int) sb[sb.length - 1];
    long[] batchA = Arrays.copyOf(sa, sa.length - 2);
    long[] batchB = Arrays.copyOf(sb, sb.length - 2);
    long[] batch = broadcastShape(batchA, batchB);
    int[] ia = broadcastIndex(batch, batchA);
    int[] ib = broadcastIndex(batch, batchB);
    double[] x = a.data();
    double[] y = b.data();
    double[] r = new double[ia.length * m * n];
    for (int t = 0; t < ia.length; t++) {
      int offA = ia[t] * m * k;
      int offB = ib[t] * k * n;
      int offR = t * m * n;
      for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
          double s = 0;
          for (int p = 0; p < k; p++) {
            s += x[offA + i * k + p] * y[offB + p * n + j];
          }
          r[offR + i * n + j] = s;
        }
      }
    }
    long[] out = Arrays.copyOf(batch, batch.length + 2);
    out[batch.length] = m;
    out[batch.length + 1] = n;
    return NdArray.of(a.dtype(), out, r);
  }

  private static NdArray gemm(Node node, List<NdArray> in) {
    NdArray a = in.get(0);
    NdArray b = in.get(1);
    if (node.longAttr("transA") == 1) {
      a = transpose(a, new long[] {1, 0});
    }
    if (node.longAttr("transB") == 1) {
      b = transpose(b, new long[] {1, 0});
    }
    NdArray y = matmul(a, b);
    return in.size() == 3 ? zip(y.dtype(), y, in.get(2), Double::sum) : y;
  }

  // ---------------------------------------------------------------- indexing

  private static NdArray gather(NdArray data, NdArray indices, int axis) {
    long[] ds = data.shape();
    int outer = 1;
    for (int i = 0; i < axis; i++) {
      outer *= (int) ds[i];
    }
    int n = (int) ds[axis];
    int inner = strides(ds)[axis];
    double[] x = data.data();
    double[] idx = indices.data();
    double[] r = new double[outer * idx.length * inner];
    for (int o = 0; o < outer; o++) {
      for (int j = 0; j < idx.length; j++) {
        int row = checkIndex((long) idx[j], n, "Gather");
        System.arraycopy(x, (o * n + row) * inner, r, (o * idx.length + j) * inner, inner);
      }
    }
    long[] out = new long[ds.length - 1 + indices.shape().length];
    System.arraycopy(ds, 0, out, 0, axis);
    System.arraycopy(indices.shape(), 0, out, axis, indices.shape().length);
    System.arraycopy(ds, axis + 1, out, axis + indices.shape().length, ds.length - axis - 1);
    return NdArray.of(data.dtype(), out, r);
  }

  private static int checkIndex(long i, int n, String op) {
    long j = i < 0 ? i + n : i;
    if (j < 0 || j >= n) {
      throw new IllegalArgumentException(op + ": index " + i + " is out of range for size " + n);
    }
    return (int) j;
  }

  /**
   * Flat position in {@code shape} of the coordinates of {@code flat} in {@code idxShape} with one
   * axis replaced.
   */
  private static int elementOffset(
      int flat, long[] idxShape, long[] shape, int axis, int replaced) {
    int[] st = strides(shape);
    int[] ist = strides(idxShape);
    int off = 0;
    for (int d = 0; d < shape.length; d++) {
      int c = (flat / ist[d]) % (int) idxShape[d];
      off += (d == axis ? replaced : c) * st[d];
    }
    return off;
  }

  private static NdArray gatherElements(NdArray data, NdArray indices, int axis) {
    double[] x = data.data();
    double[] idx = indices.data();
    long[] ds = data.shape();
    double[] r = new double[idx.length];
    for (int i = 0; i < idx.length; i++) {
      int j = checkIndex((long) idx[i], (int) ds[axis], "GatherElements");
      r[i] = x[elementOffset(i, indices.shape(), ds, axis, j)];
    }
    return NdArray.of(data.dtype(), indices.shape(), r);
  }

  private static NdArray scatterElements(NdArray data, NdArray indices, NdArray updates, int axis) {
    double[] r = data.data();
    double[] idx = indices.data();
    double[] u = updates.data();
    long[] ds = data.shape();
    for (int i = 0; i < idx.length; i++) {
      int j = checkIndex((long) idx[i], (int) ds[axis], "ScatterElements");
      r[elementOffset(i, indices.shape(), ds, axis, j)] += u[i];
    }
    return NdArray.of(data.dtype(), ds, r);
  }

  private static NdArray scatterNd(NdArray data, NdArray indices, NdArray updates) {
    long[] ds = data.shape();
    long[] is = indices.shape();
    int k = (int) is[is.length - 1];
    int[] st = strides(ds);
    int slice = k == ds.length ? 1 : st[k - 1];
    double[] r = data.data();
    double[] idx = indices.data();
    double[] u = updates.data();
    for (int t = 0; t < idx.length / k; t++) {
      int off = 0;
      for (int d = 0; d < k; d++) {
        off += checkIndex((long) idx[t * k + d], (int) ds[d], "ScatterND") * st[d];
      }
      for (int e = 0; e < slice; e++) {
        r[off + e] += u[t * slice + e];
      }
    }
    return NdArray.of(data.dtype(), ds, r);
  }

  // ---------------------------------------------------------------- data movement

  private static NdArray transpose(NdArray a, long[] perm) {
    long[] s = a.shape();
    long[] out = new long[s.length];
    for (int i = 0; i < s.length; i++) {
      out[i] = s[(int) perm[i]];
    }
    int[] inSt = strides(s);
    int[] outSt = strides(out);
    double[] x = a.data();
    double[] r = new double[x.length];
    for (int i = 0; i < r.length; i++) {
      int src = 0;
      for (int d = 0; d < out.length; d++) {
        src += ((i / outSt[d]) % (int) out[d]) * inSt[(int) perm[d]];
      }
      r[i] = x[src];
    }
    return NdArray.of(a.dtype(), out, r);
  }

  private static NdArray slice(NdArray a, int axis, long start, long end) {
    long[] s = a.shape();
    long[] out = s.clone();
    out[axis] = end - start;
    int inner = strides(s)[axis];
    int outer = a.size() / ((int) s[axis] * inner);
    int len = (int) (end - start) * inner;
    double[] x = a.data();
    double[] r = new double[outer * len];
    for (int o = 0; o < outer; o++) {
      System.arraycopy(x, (o * (int) s[axis] + (int) start) * inner, r, o * len, len);
    }
    return NdArray.of(a.dtype(), out, r);
  }

  private static NdArray pad(NdArray a, int axis, long before, long after) {
    long[] s = a.shape();
    long[] out = s.clone();
    out[axis] = s[axis] + before + after;
    int inner = strides(s)[axis];
    int outer = a.size() / Math.max(1, (int) s[axis] * inner);
    int len = (int) s[axis] * inner;
    double[] x = a.data();
    double[] r = new double[numel(out)];
    for (int o = 0; o < outer; o++) {
      System.arraycopy(x, o * len, r, o * (int) out[axis] * inner + (int) before * inner, len);
    }
    return NdArray.of(a.dtype(), out, r);
  }

  private static NdArray concat(List<NdArray> in, int axis) {
    long[] out = in.get(0).shape();
    out[axis] = in.stream().mapToLong(t -> t.shape()[axis]).sum();
    int inner = strides(out)[axis];
    int outer = numel(out) / ((int) out[axis] * inner);
    double[] r = new double[numel(out)];
    int pos = 0;
    for (NdArray t : in) {
      int len = (int) t.shape()[axis] * inner;
      double[] x = t.data();
      for (int o = 0; o < outer; o++) {
        System.arraycopy(x, o * len, r, o * (int) out[axis] * inner + pos, len);
      }
      pos += len;
    }
    return NdArray.of(in.get(0).dtype(), out, r);
  }

  private static NdArray expand(NdArray a, long[] shape) {
    long[] out = broadcastShape(a.shape(), shape);
    int[] map = broadcastIndex(out, a.shape());
    double[] x = a.data();
    double[] r = new double[map.length];
    for (int i = 0; i < r.length; i++) {
      r[i] = x[map[i]];
    }
    return NdArray.of(a.dtype(), out, r);
  }

  private static NdArray range(long n) {
    double[] r = new double[Math.toIntExact(n)];
    Arrays.setAll(r, i -> i);
    return NdArray.of(DType.INT64, new long[] {n}, r);
  }

  private static NdArray fill(DType dtype, long[] shape, double value) {
    double[] r = new double[numel(shape)];
    Arrays.fill(r, value);
    return NdArray.of(dtype, shape, r);
  }
}
