package dev.graft.method.ptuning;

import dev.graft.api.adapt.Init;
import dev.graft.graph.DType;
import dev.graft.graph.GraphOps;
import dev.graft.graph.Shape;
import dev.graft.graph.Tensor;
import dev.graft.method.prompt.spi.Encoder;

/**
 * PEFT's {@code PromptEncoder}, parameters named as its module ({@code
 * prompt_encoder.embedding.weight}, {@code prompt_encoder.mlp_head.0.weight}, {@code
 * prompt_encoder.lstm_head.weight_ih_l0_reverse}, …). E = {@code Embedding(n, d)}, N(0, 1); h =
 * {@code encoder_hidden_size}:
 *
 * <pre>
 * MLP:  Linear(d, h) → ReLU → Linear(h, h) → ReLU → Linear(h, d)                      applied to E
 * LSTM: LSTM(d, h, layers, dropout, bidirectional) → Linear(2h, 2h) → ReLU → Linear(2h, d)
 * </pre>
 *
 * The LSTM runs over the n virtual tokens as one sequence, both directions from zero states, each
 * layer's output the concatenation [forward | backward] per token, dropout between layers (torch's
 * {@code nn.LSTM}).
 */
record PromptEncoder(PTuningConfig config, int tokenDim) implements Encoder {
  static final String OWNER = "prompt_encoder";
  static final String EMBEDDING = OWNER + ".embedding.weight";

  @Override
  public Tensor build(Builder b) {
    int n = config.virtualTokens();
    long h = config.hiddenSize(tokenDim);
    Tensor e = b.parameter("embedding.weight", new long[] {n, tokenDim}, Init.normal(1.0));
    if (!config.lstm()) {
      Tensor x = relu(b.graph(), Encoder.linear(b, "mlp_head.0", e, tokenDim, h)); // (n, h)
      x = relu(b.graph(), Encoder.linear(b, "mlp_head.2", x, h, h)); // (n, h)
      return Encoder.linear(b, "mlp_head.4", x, h, tokenDim); // (n, d)
    }
    Tensor x = e; // (n, d)
    for (int layer = 0; layer < config.layers(); layer++) {
      if (layer > 0) {
        x = b.dropout(x, config.dropout());
      }
      x = bidirectional(b, x, layer, h); // (n, 2h)
    }
    x = relu(b.graph(), Encoder.linear(b, "mlp_head.0", x, 2 * h, 2 * h)); // (n, 2h)
    return Encoder.linear(b, "mlp_head.2", x, 2 * h, tokenDim); // (n, d)
  }

  /** One bidirectional LSTM layer over the rows of {@code x} (n, in): (n, 2h). */
  private Tensor bidirectional(Builder b, Tensor x, int layer, long h) {
    Tensor forward = direction(b, x, "_l" + layer, h, false); // (n, h)
    Tensor backward = direction(b, x, "_l" + layer + "_reverse", h, true); // (n, h)
    return b.graph().concat(1, forward, backward);
  }

  /**
   * One direction of one layer, torch's {@code weight_ih}, {@code weight_hh}, {@code bias_ih},
   * {@code bias_hh}, each uniform on ±1/√h: the hidden state of every row, in row order.
   */
  private Tensor direction(Builder b, Tensor x, String suffix, long h, boolean reverse) {
    GraphOps g = b.graph();
    long in = x.shape().dim(1).size();
    Init uniform = Encoder.uniform(1 / Math.sqrt(h));
    Tensor wIh = b.parameter("lstm_head.weight_ih" + suffix, new long[] {4 * h, in}, uniform);
    Tensor wHh = b.parameter("lstm_head.weight_hh" + suffix, new long[] {4 * h, h}, uniform);
    Tensor bIh = b.parameter("lstm_head.bias_ih" + suffix, new long[] {4 * h}, uniform);
    Tensor bHh = b.parameter("lstm_head.bias_hh" + suffix, new long[] {4 * h}, uniform);
    Tensor bias = g.add(bIh, bHh); // (4h)
    int n = (int) x.shape().dim(0).size();
    Tensor hidden = g.fill(Shape.of(1, h), DType.FLOAT32, 0); // (1, h)
    Tensor cell = hidden;
    Tensor[] out = new Tensor[n];
    for (int step = 0; step < n; step++) {
      int t = reverse ? n - 1 - step : step;
      Tensor[] hc = g.lstmCell(g.slice(x, 0, t, t + 1), hidden, cell, wIh, wHh, bias); // (1, h)
      hidden = hc[0];
      cell = hc[1];
      out[t] = hidden;
    }
    return g.concat(0, out); // (n, h)
  }

  private static Tensor relu(GraphOps g, Tensor x) {
    return g.max(x, g.scalar(0, x.dtype()));
  }
}
