package dev.graft.graph;

import java.util.Map;

/**
 * Elementwise ops of {@link GraphOps}: arithmetic with numpy broadcasting, comparisons and logic,
 * casts and {@link #stopGradient}. Package-private: its public methods are {@link Graph}'s.
 */
abstract class ElementwiseOps extends GraphCore {
  // ---------------------------------------------------------------- unary

  @Override
  public Tensor neg(Tensor x) {
    return unaryFloat("Neg", x);
  }

  @Override
  public Tensor sqrt(Tensor x) {
    return unaryFloat("Sqrt", x);
  }

  @Override
  public Tensor rsqrt(Tensor x) {
    return reciprocal(sqrt(x));
  }

  @Override
  public Tensor reciprocal(Tensor x) {
    return unaryFloat("Reciprocal", x);
  }

  @Override
  public Tensor exp(Tensor x) {
    return unaryFloat("Exp", x);
  }

  @Override
  public Tensor log(Tensor x) {
    return unaryFloat("Log", x);
  }

  @Override
  public Tensor tanh(Tensor x) {
    return unaryFloat("Tanh", x);
  }

  @Override
  public Tensor sigmoid(Tensor x) {
    return unaryFloat("Sigmoid", x);
  }

  @Override
  public Tensor erf(Tensor x) {
    return unaryFloat("Erf", x);
  }

  @Override
  public Tensor abs(Tensor x) {
    return op("Abs", Map.of(), x.dtype(), x.shape(), x);
  }

  @Override
  public Tensor sign(Tensor x) {
    return op("Sign", Map.of(), x.dtype(), x.shape(), x);
  }

  @Override
  public Tensor not(Tensor x) {
    requireDType("Not", x, DType.BOOL);
    return op("Not", Map.of(), DType.BOOL, x.shape(), x);
  }

  // ---------------------------------------------------------------- binary, comparisons and logic

  @Override
  public Tensor add(Tensor a, Tensor b) {
    return binary("Add", a, b);
  }

  @Override
  public Tensor add(Tensor x, double c) {
    return add(x, scalar(c, x.dtype()));
  }

  @Override
  public Tensor sub(Tensor a, Tensor b) {
    return binary("Sub", a, b);
  }

  @Override
  public Tensor mul(Tensor a, Tensor b) {
    return binary("Mul", a, b);
  }

  @Override
  public Tensor mul(Tensor x, double c) {
    return mul(x, scalar(c, x.dtype()));
  }

  @Override
  public Tensor div(Tensor a, Tensor b) {
    return binary("Div", a, b);
  }

  @Override
  public Tensor pow(Tensor a, Tensor b) {
    requireFloat("Pow", a);
    return binary("Pow", a, b);
  }

  @Override
  public Tensor pow(Tensor x, double p) {
    return pow(x, scalar(p, x.dtype()));
  }

  @Override
  public Tensor max(Tensor a, Tensor b) {
    return binary("Max", a, b);
  }

  @Override
  public Tensor min(Tensor a, Tensor b) {
    return binary("Min", a, b);
  }

  @Override
  public Tensor mod(Tensor a, Tensor b) {
    if (a.dtype().isFloating()) {
      throw new IllegalArgumentException("Mod: needs an integer dtype, got " + a.dtype());
    }
    return binary("Mod", a, b);
  }

  @Override
  public Tensor equal(Tensor a, Tensor b) {
    return compare("Equal", a, b);
  }

  @Override
  public Tensor less(Tensor a, Tensor b) {
    return compare("Less", a, b);
  }

  @Override
  public Tensor greater(Tensor a, Tensor b) {
    return compare("Greater", a, b);
  }

  @Override
  public Tensor and(Tensor a, Tensor b) {
    requireDType("And", a, DType.BOOL);
    return binary("And", a, b);
  }

  @Override
  public Tensor where(Tensor cond, Tensor a, Tensor b) {
    requireDType("Where", cond, DType.BOOL);
    sameDType("Where", a, b);
    Shape ab = broadcastOrThrow("Where", a.shape(), b.shape());
    Shape out = broadcastOrThrow("Where", cond.shape(), ab);
    return op("Where", Map.of(), a.dtype(), out, cond, a, b);
  }

  @Override
  public Tensor clip(Tensor x, double lo, double hi) {
    requireFloat("Clip", x);
    if (lo > hi) {
      throw new IllegalArgumentException("Clip: min " + lo + " is greater than max " + hi);
    }
    return op("Clip", Map.of("min", lo, "max", hi), x.dtype(), x.shape(), x);
  }

  @Override
  public Tensor cast(Tensor x, DType to) {
    return op("Cast", Map.of("to", to), to, x.shape(), x);
  }

  @Override
  public Tensor stopGradient(Tensor x) {
    return op("StopGradient", Map.of(), x.dtype(), x.shape(), x);
  }

  @Override
  public Tensor after(Tensor value, Tensor dependency) {
    requireFloat("After", dependency);
    return op("After", Map.of(), value.dtype(), value.shape(), value, dependency);
  }

  // ---------------------------------------------------------------- shared by the op classes

  /** An op of one floating-point input whose result has the input's dtype and shape. */
  final Tensor unaryFloat(String op, Tensor x) {
    requireFloat(op, x);
    return op(op, Map.of(), x.dtype(), x.shape(), x);
  }

  private Tensor binary(String op, Tensor a, Tensor b) {
    sameDType(op, a, b);
    return op(op, Map.of(), a.dtype(), broadcastOrThrow(op, a.shape(), b.shape()), a, b);
  }

  private Tensor compare(String op, Tensor a, Tensor b) {
    sameDType(op, a, b);
    return op(op, Map.of(), DType.BOOL, broadcastOrThrow(op, a.shape(), b.shape()), a, b);
  }
}
