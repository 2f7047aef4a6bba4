package dev.graft.method.prompt.spi;

import dev.graft.api.adapt.Adaptation;
import dev.graft.api.adapt.AdapterWriter;
import dev.graft.api.adapt.Init;
import dev.graft.graph.DType;
import dev.graft.graph.Graph;
import dev.graft.graph.GraphOps;
import dev.graft.graph.Interpreter;
import dev.graft.graph.NdArray;
import dev.graft.graph.Shape;
import dev.graft.graph.Tensor;
import java.util.HashMap;
import java.util.Map;

/**
 * A reparameterising encoder (prefix tuning's MLP, P-tuning's MLP or LSTM): a small network whose
 * output is the table of virtual tokens or prefixes. It exists while training; the saved adapter
 * holds its output, as PEFT saves it. One {@link #build} serves both: {@link #train} puts it into
 * the training graph, {@link #fold} evaluates it on the trained values with the reference
 * interpreter, so the saved table is computed by the same equations that trained it.
 */
@FunctionalInterface
public interface Encoder {
  /** What an encoder is built with. */
  interface Builder {
    /** The ops. */
    GraphOps graph();

    /**
     * One of the encoder's parameters, named as in PEFT's module ({@code embedding.weight}, {@code
     * mlp_head.0.weight}, …), with its initialisation when training starts.
     */
    Tensor parameter(String name, long[] shape, Init init);

    /** Dropout with probability {@code p} while training; the identity when folding. */
    Tensor dropout(Tensor x, double p);
  }

  /**
   * Builds the encoder.
   *
   * @return the table, (n, width)
   */
  Tensor build(Builder builder);

  /** Builds the encoder into the training graph, its parameters trainable under {@code owner}. */
  default Tensor train(Adaptation adaptation, String owner) {
    return build(
        new Builder() {
          @Override
          public GraphOps graph() {
            return adaptation.graph();
          }

          @Override
          public Tensor parameter(String name, long[] shape, Init init) {
            return adaptation.parameter(owner, name, shape, init, true);
          }

          @Override
          public Tensor dropout(Tensor x, double p) {
            return adaptation.dropout(x, p);
          }
        });
  }

  /**
   * The encoder's output for the trained values of its parameters (those under {@code owner}),
   * evaluated in double precision by {@link Interpreter}, without dropout.
   *
   * @return (n, width), row-major
   */
  default float[] fold(AdapterWriter writer, String owner) {
    Graph graph = new Graph();
    Map<String, NdArray> feeds = new HashMap<>();
    Tensor table =
        build(
            new Builder() {
              @Override
              public GraphOps graph() {
                return graph;
              }

              @Override
              public Tensor parameter(String name, long[] shape, Init init) {
                String full = owner + "." + name;
                float[] values = writer.values(full);
                double[] data = new double[values.length];
                for (int i = 0; i < data.length; i++) {
                  data[i] = values[i];
                }
                feeds.put(full, NdArray.of(DType.FLOAT32, shape, data));
                return graph.parameter(full, DType.FLOAT32, Shape.of(shape), false);
              }

              @Override
              public Tensor dropout(Tensor x, double p) {
                return x;
              }
            });
    graph.output("table", table);
    double[] out = Interpreter.run(graph, feeds).get("table").data();
    float[] folded = new float[out.length];
    for (int i = 0; i < out.length; i++) {
      folded[i] = (float) out[i];
    }
    return folded;
  }

  /**
   * PyTorch's {@code nn.Linear(in, out)} applied to {@code x}: weight (out, in) Kaiming-uniform
   * with a = √5, bias (out) uniform on ±1/√in, both declared as {@code module.weight} and {@code
   * module.bias}.
   *
   * @param x (…, in)
   * @return (…, out)
   */
  static Tensor linear(Builder b, String module, Tensor x, long in, long out) {
    Tensor w =
        b.parameter(module + ".weight", new long[] {out, in}, Init.kaimingUniform(Math.sqrt(5)));
    Tensor bias = b.parameter(module + ".bias", new long[] {out}, uniform(1 / Math.sqrt(in)));
    return b.graph().linear(x, w, bias);
  }

  /** Uniform on ±{@code bound} (nn.Linear's bias; every LSTM tensor with bound 1/√hidden). */
  static Init uniform(double bound) {
    return (values, shape, random) -> {
      for (int i = 0; i < values.length; i++) {
        values[i] = (float) ((random.nextDouble() * 2 - 1) * bound);
      }
    };
  }
}
