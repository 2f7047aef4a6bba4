package dev.graft.graph;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * One dimension of a {@link Shape}: a fixed size such as {@code 768}, a named symbol such as {@code
 * batch}, or a product of a factor and symbols such as {@code batch*seq} (what flattening leading
 * dimensions produces). Symbols are bound to sizes when a graph runs.
 */
public final class Dim {
  private final long factor;
  private final List<String> symbols;

  private Dim(long factor, List<String> symbols) {
    this.factor = factor;
    this.symbols = symbols;
  }

  /** A fixed size. */
  public static Dim of(long size) {
    if (size < 0) {
      throw new IllegalArgumentException("Dimension size must be >= 0, got " + size);
    }
    return new Dim(size, List.of());
  }

  /** A named symbolic size, e.g. {@code "batch"} or {@code "seq"}. */
  public static Dim of(String symbol) {
    if (symbol == null || !symbol.matches("[A-Za-z_][A-Za-z0-9_]*")) {
      throw new IllegalArgumentException(
          "Dimension symbol must be an identifier such as \"batch\", got \"" + symbol + "\"");
    }
    return new Dim(1, List.of(symbol));
  }

  /** Whether this dimension has a size known when the graph is built. */
  public boolean isFixed() {
    return symbols.isEmpty();
  }

  /** The fixed size; throws {@link IllegalStateException} for a symbolic dimension. */
  public long size() {
    if (!isFixed()) {
      throw new IllegalStateException("Dimension " + this + " is symbolic");
    }
    return factor;
  }

  /** The constant factor (the size itself for a fixed dimension). */
  public long factor() {
    return factor;
  }

  /** The symbols multiplied into this dimension, sorted; empty for a fixed dimension. */
  public List<String> symbols() {
    return symbols;
  }

  /** The product of this dimension and another. */
  public Dim times(Dim other) {
    List<String> all = new ArrayList<>(symbols);
    all.addAll(other.symbols);
    Collections.sort(all);
    return new Dim(factor * other.factor, List.copyOf(all));
  }

  /** The exact quotient of this dimension by another, or {@code null} if it is not exact. */
  public Dim dividedBy(Dim other) {
    if (other.factor == 0 || factor % other.factor != 0) {
      return null;
    }
    List<String> rest = new ArrayList<>(symbols);
    for (String s : other.symbols) {
      if (!rest.remove(s)) {
        return null;
      }
    }
    return new Dim(factor / other.factor, List.copyOf(rest));
  }

  /** The size under the given symbol bindings; throws if a symbol is unbound. */
  public long evaluate(Map<String, Long> bindings) {
    long v = factor;
    for (String s : symbols) {
      Long b = bindings.get(s);
      if (b == null) {
        throw new IllegalArgumentException(
            "Symbol \""
                + s
                + "\" is not bound; feed an input that has it. Bound: "
                + bindings.keySet());
      }
      v *= b;
    }
    return v;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Dim d && d.factor == factor && d.symbols.equals(symbols);
  }

  @Override
  public int hashCode() {
    return Long.hashCode(factor) * 31 + symbols.hashCode();
  }

  /** {@code 768}, {@code batch}, {@code batch*seq} or {@code 3*batch}. */
  @Override
  public String toString() {
    if (isFixed()) {
      return Long.toString(factor);
    }
    String s = String.join("*", symbols);
    return factor == 1 ? s : factor + "*" + s;
  }
}
