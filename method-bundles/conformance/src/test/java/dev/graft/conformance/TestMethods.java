package dev.graft.conformance;

import dev.graft.api.FineTuningMethod;
import dev.graft.api.MethodRegistry;
import dev.graft.api.OptionDescriptor;
import dev.graft.api.OptionType;
import dev.graft.api.Options;
import dev.graft.api.adapt.Adaptation;
import dev.graft.api.adapt.Init;
import dev.graft.api.adapt.LinearSite;
import dev.graft.api.adapt.LogProbs;
import dev.graft.api.adapt.Objective;
import dev.graft.api.adapt.TargetSpec;
import dev.graft.graph.GraphOps;
import dev.graft.graph.Tensor;
import dev.graft.method.lora.LoraMethod;
import dev.graft.train.registry.FixedMethodRegistry;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * Methods that exist only to test the platform's rows, inputs and objectives (not shipped): a
 * DPO-style sigmoid loss with the reference pass, and a per-task bias fed by a per-sample task id.
 */
final class TestMethods {
  private TestMethods() {}

  /** Test method {@code dpo-test}: option {@code beta}. */
  static final String DPO = "dpo-test";

  /** Test method {@code task-bias-test}: option {@code tasks}; reads column {@code task_id}. */
  static final String TASK_BIAS = "task-bias-test";

  /**
   * Test method {@code poison-test}: reads column {@code poison} and turns the last MLP output of
   * every token of a sample with {@code "poison": 1} into NaN, so that a chosen batch goes bad.
   */
  static final String POISON = "poison-test";

  /** The name of the task bias table, (tasks, hidden). */
  static final String TASK_TABLE = "task_bias.weight";

  /** LoRA and the test methods. */
  static final MethodRegistry REGISTRY =
      new FixedMethodRegistry(
          List.of(
              new LoraMethod(),
              method(
                  DPO,
                  OptionDescriptor.of("beta", OptionType.FLOAT, "0.1", "DPO's β"),
                  o -> a -> a.objective(new SigmoidDpo(o.getDouble("beta")))),
              method(
                  TASK_BIAS,
                  OptionDescriptor.of("tasks", OptionType.INT, "4", "task ids 0 … tasks − 1"),
                  o -> a -> taskBias(a, o.getInt("tasks"))),
              new TestMethod(POISON, TestMethods::poison)));

  /**
   * DPO's loss with TRL's defaults ({@code loss_type="sigmoid"}): h = (log πθ(y_w) − log
   * π_ref(y_w)) − (log πθ(y_l) − log π_ref(y_l)), L = mean −log σ(β·h), over the pairs of rows (2i
   * chosen, 2i+1 rejected).
   */
  record SigmoidDpo(double beta) implements Objective {
    @Override
    public boolean pairwise() {
      return true;
    }

    @Override
    public boolean needsReference() {
      return true;
    }

    @Override
    public Tensor loss(GraphOps g, LogProbs logProbs) {
      Tensor ratio = g.sub(logProbs.sums(), logProbs.referenceSums()); // (B)
      Tensor h = g.sub(logProbs.chosen(ratio), logProbs.rejected(ratio)); // (P)
      return g.reduceMean(g.neg(g.log(g.sigmoid(g.mul(h, beta)))), false, 0);
    }
  }

  /**
   * Adds row {@code task_id} of a trainable (tasks, hidden) table, zero at the start, to the last
   * block's MLP output, token by token.
   */
  private static void taskBias(Adaptation a, int tasks) {
    Tensor ids = a.input("task_id"); // (B, T)
    List<LinearSite> downs = a.linears(TargetSpec.parse(List.of("down_proj")));
    LinearSite last = downs.get(downs.size() - 1);
    Tensor table =
        a.parameter("", TASK_TABLE, new long[] {tasks, last.outFeatures()}, Init.zeros(), true);
    a.rewriteLinear(last, (g, input, base, site) -> g.add(base, g.gather(table, ids, 0)));
  }

  /** Adds 0 / (1 − poison) to the last down projection: 0 where poison is 0, NaN where it is 1. */
  private static void poison(Adaptation a) {
    Tensor poison = a.input("poison"); // (B, T)
    List<LinearSite> downs = a.linears(TargetSpec.parse(List.of("down_proj")));
    a.rewriteLinear(
        downs.get(downs.size() - 1),
        (g, input, base, site) -> {
          Tensor p = g.unsqueeze(g.cast(poison, base.dtype()), 2); // (B, T, 1)
          Tensor zero = g.scalar(0, base.dtype());
          return g.add(base, g.div(zero, g.sub(g.scalar(1, base.dtype()), p)));
        });
  }

  private static FineTuningMethod method(
      String name, OptionDescriptor option, Function<Options, Consumer<Adaptation>> adapt) {
    return new TestMethod(name, List.of(option), adapt, (c, builds) -> {}, Map.of());
  }
}
