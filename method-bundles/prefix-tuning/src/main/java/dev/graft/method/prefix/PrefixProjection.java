package dev.graft.method.prefix;

import dev.graft.api.adapt.Adaptation;
import dev.graft.api.adapt.AdapterWriter;
import dev.graft.api.adapt.Init;
import dev.graft.graph.GraphOps;
import dev.graft.graph.Tensor;

/**
 * PEFT's {@code PrefixEncoder} with {@code prefix_projection}: {@code Embedding(n, token_dim) →
 * Linear(token_dim, h) → Tanh → Linear(h, width)}, parameters named as PEFT's module ({@code
 * prefix_encoder.embedding.weight}, {@code prefix_encoder.transform.0.weight}, …). Only training
 * builds it; the saved adapter holds its output, as PEFT's does.
 */
final class PrefixProjection {
  static final String OWNER = "prefix_encoder";
  static final String EMBEDDING = OWNER + ".embedding.weight";
  static final String W1 = OWNER + ".transform.0.weight";
  static final String B1 = OWNER + ".transform.0.bias";
  static final String W2 = OWNER + ".transform.2.weight";
  static final String B2 = OWNER + ".transform.2.bias";

  private PrefixProjection() {}

  /**
   * Declares the encoder's parameters and returns its output.
   *
   * @return (n, width): the prefix table
   */
  static Tensor build(Adaptation a, int n, int tokenDim, int hidden, long width) {
    Tensor embedding =
        a.parameter(OWNER, "embedding.weight", new long[] {n, tokenDim}, Init.normal(1.0), true);
    Tensor w1 = linearWeight(a, "transform.0", hidden, tokenDim);
    Tensor b1 = linearBias(a, "transform.0", hidden, tokenDim);
    Tensor w2 = linearWeight(a, "transform.2", width, hidden);
    Tensor b2 = linearBias(a, "transform.2", width, hidden);
    GraphOps g = a.graph();
    Tensor h = g.tanh(g.linear(embedding, w1, b1)); // (n, hidden)
    return g.linear(h, w2, b2); // (n, width)
  }

  /** nn.Linear's weight (out, in): Kaiming-uniform with a = √5. */
  private static Tensor linearWeight(Adaptation a, String module, long out, long in) {
    return a.parameter(
        OWNER, module + ".weight", new long[] {out, in}, Init.kaimingUniform(Math.sqrt(5)), true);
  }

  /** nn.Linear's bias: uniform on ±1/√in. */
  private static Tensor linearBias(Adaptation a, String module, long out, long in) {
    double bound = 1 / Math.sqrt(in);
    Init uniform =
        (values, shape, random) -> {
          for (int i = 0; i < values.length; i++) {
            values[i] = (float) ((random.nextDouble() * 2 - 1) * bound);
          }
        };
    return a.parameter(OWNER, module + ".bias", new long[] {out}, uniform, true);
  }

  /**
   * The encoder's output computed on the host from the trained parameters.
   *
   * @return (n, width), row-major
   */
  static float[] fold(AdapterWriter w) {
    float[] embedding = w.values(EMBEDDING); // (n, tokenDim)
    float[] w1 = w.values(W1); // (hidden, tokenDim)
    float[] b1 = w.values(B1); // (hidden)
    float[] w2 = w.values(W2); // (width, hidden)
    float[] b2 = w.values(B2); // (width)
    int tokenDim = (int) w.shape(EMBEDDING)[1];
    int n = embedding.length / tokenDim;
    int hidden = b1.length;
    int width = b2.length;
    float[] out = new float[n * width];
    double[] h = new double[hidden];
    for (int r = 0; r < n; r++) {
      for (int j = 0; j < hidden; j++) {
        double sum = b1[j];
        for (int k = 0; k < tokenDim; k++) {
          sum += (double) embedding[r * tokenDim + k] * w1[j * tokenDim + k];
        }
        h[j] = Math.tanh(sum);
      }
      for (int o = 0; o < width; o++) {
        double sum = b2[o];
        for (int j = 0; j < hidden; j++) {
          sum += h[j] * w2[o * hidden + j];
        }
        out[r * width + o] = (float) sum;
      }
    }
    return out;
  }
}
