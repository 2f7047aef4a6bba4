package dev.graft.conformance;

import dev.graft.api.FineTuningMethod;
import dev.graft.api.MethodFamily;
import dev.graft.api.MethodInfo;
import dev.graft.api.OptionDescriptor;
import dev.graft.api.OptionType;
import dev.graft.api.Options;
import dev.graft.api.adapt.Adaptation;
import dev.graft.api.adapt.Init;
import dev.graft.api.adapt.InsertionPoint;
import dev.graft.api.adapt.MethodInstance;
import dev.graft.graph.GraphOps;
import dev.graft.graph.Tensor;
import java.util.List;
import java.util.Map;

/**
 * A test-only method with no PEFT type: a bottleneck module inserted after every block's MLP
 * through {@link Adaptation#insert}, {@code h + up(silu(down(h)))} with down (m, d) and up (d, m),
 * up zero so that the model starts unchanged. It writes no {@code peft_type}, so its adapter takes
 * Graft's layout.
 */
final class BottleneckMethod implements FineTuningMethod {
  static final String NAME = "test-bottleneck";

  private static final MethodInfo INFO =
      new MethodInfo(
          NAME,
          "Test bottleneck",
          MethodFamily.ADAPTER,
          null,
          List.of(OptionDescriptor.of("size", OptionType.INT, "4", "bottleneck width m")));

  @Override
  public MethodInfo info() {
    return INFO;
  }

  @Override
  public MethodInstance create(Options options) {
    int m = options.getInt("size");
    return new MethodInstance() {
      @Override
      public void adapt(Adaptation adaptation) {
        int d = adaptation.model().hiddenSize();
        GraphOps g = adaptation.graph();
        for (int layer = 0; layer < adaptation.model().layers(); layer++) {
          String owner = "model.layers." + layer + ".mlp_adapter";
          Tensor down =
              adaptation.parameter(owner, "down.weight", new long[] {m, d}, Init.normal(0.1), true);
          Tensor up =
              adaptation.parameter(owner, "up.weight", new long[] {d, m}, Init.zeros(), true);
          adaptation.insert(
              InsertionPoint.AFTER_MLP,
              layer,
              h -> g.add(h, g.linear(g.silu(g.linear(h, down, null)), up, null))); // (B, T, d)
        }
      }

      @Override
      public Map<String, Object> adapterConfig() {
        return Map.of("graft_test_bottleneck_size", m);
      }
    };
  }
}
