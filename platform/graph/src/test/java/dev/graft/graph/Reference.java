package dev.graft.graph;

/**
 * Plain-Java computations that graph results are checked against, written without the graph
 * library: a two-layer tanh MLP with MSE loss (forward and backward by hand), one scalar AdamW
 * update as {@code torch.optim.AdamW} computes it, and a blockwise 4-bit dequantisation.
 */
public final class Reference {
  /** MLP batch size. */
  public static final int N = 4;

  /** MLP input width. */
  public static final int IN = 3;

  /** MLP hidden width. */
  public static final int HID = 5;

  /** MLP output width. */
  public static final int OUT = 2;

  /** The MLP as a graph: inputs x (N, IN), y (N, OUT); trainables w1, b1, w2, b2. */
  public record MlpGraph(Graph g, Tensor loss, Tensor w1, Tensor b1, Tensor w2, Tensor b2) {}

  /** {@code loss = mse(tanh(x W1ᵀ + b1) W2ᵀ + b2, y)} as a graph. */
  public static MlpGraph mlpGraph(DType f) {
    Graph g = new Graph();
    Tensor x = g.input("x", f, Shape.of(N, IN));
    Tensor y = g.input("y", f, Shape.of(N, OUT));
    Tensor w1 = g.parameter("w1", f, Shape.of(HID, IN), true);
    Tensor b1 = g.parameter("b1", f, Shape.of(HID), true);
    Tensor w2 = g.parameter("w2", f, Shape.of(OUT, HID), true);
    Tensor b2 = g.parameter("b2", f, Shape.of(OUT), true);
    Tensor h = g.tanh(g.linear(x, w1, b1));
    Tensor loss = g.mseLoss(g.linear(h, w2, b2), y);
    return new MlpGraph(g, loss, w1, b1, w2, b2);
  }

  /** The MLP's loss and its gradients, row-major like the parameters. */
  public record Mlp(double loss, double[] gw1, double[] gb1, double[] gw2, double[] gb2) {}

  /** Forward and backward of {@link #mlpGraph} with loops. */
  public static Mlp mlp(
      double[] x, double[] y, double[] w1, double[] b1, double[] w2, double[] b2) {
    double[] h = new double[N * HID];
    double[] out = new double[N * OUT];
    double loss = 0;
    for (int n = 0; n < N; n++) {
      for (int j = 0; j < HID; j++) {
        double z = b1[j];
        for (int i = 0; i < IN; i++) {
          z += x[n * IN + i] * w1[j * IN + i];
        }
        h[n * HID + j] = Math.tanh(z);
      }
      for (int k = 0; k < OUT; k++) {
        double o = b2[k];
        for (int j = 0; j < HID; j++) {
          o += h[n * HID + j] * w2[k * HID + j];
        }
        out[n * OUT + k] = o;
        loss += (o - y[n * OUT + k]) * (o - y[n * OUT + k]) / (N * OUT);
      }
    }
    double[] gw1 = new double[HID * IN];
    double[] gb1 = new double[HID];
    double[] gw2 = new double[OUT * HID];
    double[] gb2 = new double[OUT];
    for (int n = 0; n < N; n++) {
      double[] dh = new double[HID];
      for (int k = 0; k < OUT; k++) {
        double dout = 2 * (out[n * OUT + k] - y[n * OUT + k]) / (N * OUT);
        gb2[k] += dout;
        for (int j = 0; j < HID; j++) {
          gw2[k * HID + j] += dout * h[n * HID + j];
          dh[j] += dout * w2[k * HID + j];
        }
      }
      for (int j = 0; j < HID; j++) {
        double dz = dh[j] * (1 - h[n * HID + j] * h[n * HID + j]);
        gb1[j] += dz;
        for (int i = 0; i < IN; i++) {
          gw1[j * IN + i] += dz * x[n * IN + i];
        }
      }
    }
    return new Mlp(loss, gw1, gb1, gw2, gb2);
  }

  /**
   * One AdamW update of one scalar with betas (0.9, 0.999) and eps 1e-8, as {@code
   * torch.optim.AdamW} computes it.
   *
   * @return the new {p, m, v}
   */
  public static double[] adamw(
      double p, double grad, double m, double v, int t, double lr, double wd) {
    double b1 = 0.9;
    double b2 = 0.999;
    p *= 1 - lr * wd;
    m = b1 * m + (1 - b1) * grad;
    v = b2 * v + (1 - b2) * grad * grad;
    double denom = Math.sqrt(v) / Math.sqrt(1 - Math.pow(b2, t)) + 1e-8;
    p -= lr / (1 - Math.pow(b1, t)) * m / denom;
    return new double[] {p, m, v};
  }

  /**
   * {@code table[code] · scales[k / block]} for the k-th 4-bit code of {@code packed} (byte values,
   * two codes per byte, high nibble first).
   */
  public static double[] dequantise4bit(
      double[] packed, double[] table, double[] scales, int block) {
    double[] w = new double[2 * packed.length];
    for (int k = 0; k < w.length; k++) {
      int b = (int) packed[k / 2];
      int code = k % 2 == 0 ? b >> 4 : b & 0xF;
      w[k] = table[code] * scales[k / block];
    }
    return w;
  }

  private Reference() {}
}
