package dev.graft.conformance;

import dev.graft.api.FineTuningMethod;
import dev.graft.api.MethodFamily;
import dev.graft.api.MethodInfo;
import dev.graft.api.OptionDescriptor;
import dev.graft.api.Options;
import dev.graft.api.adapt.Adaptation;
import dev.graft.api.adapt.Calibration;
import dev.graft.api.adapt.Init;
import dev.graft.api.adapt.LinearSite;
import dev.graft.api.adapt.MethodInstance;
import dev.graft.api.adapt.TargetSpec;
import dev.graft.graph.Tensor;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * A method written in a test to prove one site of the SPI: a name, its options, what its {@code
 * adapt} does for given options, what its {@code calibrate} does (with the number of graph builds
 * so far) and its {@code adapter_config.json} fields. Not a shipped bundle.
 */
record TestMethod(
    String name,
    List<OptionDescriptor> options,
    Function<Options, Consumer<Adaptation>> adapt,
    BiConsumer<Calibration, Integer> calibrate,
    Map<String, Object> config)
    implements FineTuningMethod {

  /** A method without options whose adapter says it is PEFT's LoRA. */
  TestMethod(String name, Consumer<Adaptation> adapt) {
    this(name, adapt, (c, builds) -> {});
  }

  /** As {@link #TestMethod(String, Consumer)}, with a calibration. */
  TestMethod(String name, Consumer<Adaptation> adapt, BiConsumer<Calibration, Integer> calibrate) {
    this(name, List.of(), o -> adapt, calibrate, Map.of("peft_type", "LORA"));
  }

  @Override
  public MethodInfo info() {
    return new MethodInfo(name, name, MethodFamily.LOW_RANK, null, options);
  }

  @Override
  public MethodInstance create(Options options) {
    Consumer<Adaptation> body = adapt.apply(options);
    int[] builds = {0};
    return new MethodInstance() {
      @Override
      public void adapt(Adaptation adaptation) {
        body.accept(adaptation);
        builds[0]++;
      }

      @Override
      public void calibrate(Calibration calibration) {
        calibrate.accept(calibration, builds[0]);
      }

      @Override
      public Map<String, Object> adapterConfig() {
        return config;
      }
    };
  }

  /** The q_proj layers of the model. */
  static List<LinearSite> queries(Adaptation a) {
    return a.linears(TargetSpec.parse(List.of("q_proj")));
  }

  /**
   * A rank-{@code r} LoRA branch {@code base + 2·B(A x)} on {@code site} with a trainable A and B,
   * B starting at {@code b}; returns the branch output 2·B(A x).
   */
  static Tensor lora(Adaptation a, LinearSite site, int r, double b) {
    Tensor[] branch = new Tensor[1];
    Tensor aw =
        a.parameter(
            site.module(),
            "lora_A.weight",
            new long[] {r, site.inFeatures()},
            Init.kaimingUniform(Math.sqrt(5)),
            true);
    Tensor bw =
        a.parameter(
            site.module(),
            "lora_B.weight",
            new long[] {site.outFeatures(), r},
            b == 0 ? Init.zeros() : Init.normal(b),
            true);
    a.rewriteLinear(
        site,
        (g, x, base, s) -> {
          branch[0] = g.mul(g.linear(g.linear(x, aw, null), bw, null), 2.0);
          return g.add(base, branch[0]);
        });
    return branch[0]; // set by the rewrite, which rewriteLinear runs at once
  }
}
