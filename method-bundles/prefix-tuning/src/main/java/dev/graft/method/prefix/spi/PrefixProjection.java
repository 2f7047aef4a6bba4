package dev.graft.method.prefix.spi;

import dev.graft.api.adapt.Init;
import dev.graft.graph.Tensor;
import dev.graft.method.prompt.spi.Encoder;

/**
 * PEFT's {@code PrefixEncoder} with {@code prefix_projection}: {@code Embedding(n, token_dim) →
 * Linear(token_dim, h) → Tanh → Linear(h, width)}, parameters named as PEFT's module ({@code
 * prefix_encoder.embedding.weight}, {@code prefix_encoder.transform.0.weight}, …).
 */
record PrefixProjection(int virtualTokens, int tokenDim, int hidden, long width)
    implements Encoder {
  static final String OWNER = "prefix_encoder";
  static final String EMBEDDING = OWNER + ".embedding.weight";

  @Override
  public Tensor build(Builder b) {
    Tensor embedding =
        b.parameter(
            "embedding.weight",
            new long[] {virtualTokens, tokenDim},
            Init.normal(1.0)); // nn.Embedding's N(0, 1)
    Tensor h =
        b.graph().tanh(Encoder.linear(b, "transform.0", embedding, tokenDim, hidden)); // (n, h)
    return Encoder.linear(b, "transform.2", h, hidden, width); // (n, width)
  }
}
