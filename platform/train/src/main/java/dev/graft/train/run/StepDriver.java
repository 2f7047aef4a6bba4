package dev.graft.train.run;

import dev.graft.api.adapt.StepContext;
import dev.graft.api.backend.HostTensor;
import dev.graft.api.backend.Session;
import dev.graft.graph.DType;
import dev.graft.graph.Tensor;
import dev.graft.train.adapt.GraphAdaptation;
import dev.graft.train.data.Batches;
import dev.graft.train.data.RowLayout;
import dev.graft.train.job.Run.StepResult;
import dev.graft.train.step.Schedule;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Runs the optimizer steps of one phase on a {@link StepProgram}: feeds each micro-batch with the
 * step's learning rates and its share of the step's learned tokens (pairs, for a pairwise
 * objective), so that the accumulated gradient is that of the mean over the whole effective batch,
 * fetches the loss (and what hooks read on the steps they run), and calls the methods' step hooks
 * at their cadence, and once more when the phase ends.
 *
 * <p>With {@code skip_nonfinite_steps} the program leaves a step whose loss or gradient is not
 * finite unapplied; the driver counts it and does not advance the optimizer step count t for it, up
 * to the limit, after which such a step is reported as non-finite and not skipped.
 */
final class StepDriver {
  private final String phase;
  private final StepProgram program;
  private final ReferencePass reference;
  private final Batches batches;
  private final Schedule schedule;
  private final int accumulation;
  private final long seed;
  private final long totalSteps;
  private final boolean fetchGradNorm;
  private final boolean checksFinite;
  private final int skipLimit;

  /** Steps of this phase skipped so far as non-finite; t = steps made - skipped. */
  private long skipped;

  /**
   * @param phase the phase's name as hooks see it
   * @param reference the reference pass of an objective that needs one, or null
   * @param totalSteps optimizer steps the phase makes
   * @param skipLimit how many non-finite steps may be skipped ({@code skip_nonfinite_steps})
   */
  StepDriver(
      String phase,
      StepProgram program,
      ReferencePass reference,
      Batches batches,
      Schedule schedule,
      int accumulation,
      long seed,
      long totalSteps,
      int skipLimit) {
    this.phase = phase;
    this.program = program;
    this.reference = reference;
    this.batches = batches;
    this.schedule = schedule;
    this.accumulation = accumulation;
    this.seed = seed;
    this.totalSteps = totalSteps;
    this.fetchGradNorm = program.step().graph().outputs().containsKey("grad_norm");
    this.checksFinite = program.step().graph().outputs().containsKey("finite");
    this.skipLimit = skipLimit;
  }

  /** Steps skipped so far as non-finite, for a checkpoint. */
  long skipped() {
    return skipped;
  }

  /** Restores the count of skipped steps from a checkpoint. */
  void skipped(long count) {
    this.skipped = count;
  }

  /** Makes optimizer step {@code index} (from 0) of the phase, then runs the hooks due. */
  StepResult step(long index) {
    double lossSum = 0;
    long tokens = 0;
    double gradNorm = Double.NaN;
    double lr = schedule.at(index);
    GraphAdaptation adaptation = program.adaptation();
    boolean end = index + 1 == totalSteps;
    boolean hooksDue = adaptation.hooks().stream().anyMatch(h -> due(h, index + 1, end));
    Map<String, HostTensor> fetched = Map.of();
    String nonFinite = "";
    List<String> metricNames = program.metricNames();
    double[] metricSums = new double[metricNames.size()];
    Batches.Batch[] micros = new Batches.Batch[accumulation];
    long units = 0;
    for (int micro = 0; micro < accumulation; micro++) {
      micros[micro] = batches.batch(index * accumulation + micro);
      units += units(micros[micro]);
    }
    for (int micro = 0; micro < accumulation; micro++) {
      long batch = index * accumulation + micro;
      Batches.Batch b = micros[micro];
      // The micro-batch's share of the step: its gradient, loss and metrics weigh this much.
      double share = (double) units(b) / units;
      Map<String, HostTensor> feeds = new LinkedHashMap<>(b.feeds());
      if (reference != null) {
        feeds.put(Objectives.REFERENCE, reference.sums(batch, b));
      }
      feeds.put("step", HostTensor.ofFloats(new long[0], index + 1 - skipped));
      program
          .groupScale()
          .forEach(
              (group, scale) ->
                  feeds.put("lr." + group, HostTensor.ofFloats(new long[0], (float) (lr * scale))));
      if (accumulation > 1) {
        ByteBuffer flag = ByteBuffer.allocateDirect(1).order(ByteOrder.LITTLE_ENDIAN);
        flag.put(0, (byte) (micro == accumulation - 1 ? 1 : 0));
        feeds.put("apply", new HostTensor(DType.BOOL, new long[0], flag));
        feeds.put("micro_weight", HostTensor.ofFloats(new long[0], (float) share));
      }
      if (adaptation.usesDropout()) {
        feeds.put(
            GraphAdaptation.DROPOUT_SEED,
            HostTensor.ofLongs(new long[0], seed * 1_000_003L + index * accumulation + micro));
      }
      boolean last = micro == accumulation - 1;
      Set<String> fetch = new HashSet<>();
      fetch.add("loss");
      for (int m = 0; m < metricSums.length; m++) {
        fetch.add(StepProgram.METRIC + m);
      }
      if (fetchGradNorm && last) {
        fetch.add("grad_norm");
      }
      if (checksFinite && last) {
        fetch.add("finite");
      }
      if (hooksDue && last) {
        fetch.addAll(adaptation.outputs().keySet());
        adaptation.exposedGradients().forEach(p -> fetch.add("grad." + p));
      }
      Map<String, HostTensor> out = program.session().run(feeds, fetch);
      float loss = out.get("loss").floats()[0];
      lossSum += share * loss;
      if (nonFinite.isEmpty() && !Float.isFinite(loss)) {
        nonFinite = "loss became " + loss;
      }
      for (int m = 0; m < metricSums.length; m++) {
        metricSums[m] += share * out.get(StepProgram.METRIC + m).floats()[0];
      }
      if (out.containsKey("grad_norm")) {
        gradNorm = out.get("grad_norm").floats()[0];
        if (nonFinite.isEmpty() && !Double.isFinite(gradNorm)) {
          nonFinite = "gradient norm became " + gradNorm;
        }
      }
      if (last) {
        fetched = out;
      }
      tokens += b.tokens();
    }
    // The program left the update unapplied exactly when it says the step was not finite.
    boolean unapplied = checksFinite && fetched.get("finite").data().get(0) == 0;
    if (unapplied && nonFinite.isEmpty()) {
      nonFinite = "gradient became non-finite";
    }
    boolean skip = unapplied && skipped < skipLimit;
    if (skip) {
      skipped++;
    }
    if (hooksDue && (!skip || end)) {
      Context context = new Context(index + 1, end, fetched);
      for (GraphAdaptation.Hook h : adaptation.hooks()) {
        if (due(h, index + 1, end)) {
          h.hook().afterStep(context);
        }
      }
    }
    Map<String, Double> metrics = new LinkedHashMap<>();
    for (int m = 0; m < metricSums.length; m++) {
      metrics.put(metricNames.get(m), metricSums[m]);
    }
    return new StepResult(lossSum, lr, gradNorm, tokens, nonFinite, skip, metrics);
  }

  /**
   * What a micro-batch's loss is a mean over, so that weighting micro-batches by it makes the
   * step's gradient that of the mean over the whole effective batch: the learned tokens, for
   * token-level losses (the default cross-entropy); the pairs, for a pairwise objective (DPO),
   * whose loss is a mean over pairs (a token-level term it adds, such as DPO's {@code sft_weight},
   * is then weighed by pairs as well).
   */
  private long units(Batches.Batch b) {
    return b.layout() == RowLayout.PAIRS ? b.rows() / 2 : b.targets();
  }

  /** Whether a hook runs after step {@code done} (from 1) of the phase. */
  private static boolean due(GraphAdaptation.Hook h, long done, boolean end) {
    return end || (h.every() > 0 && done % h.every() == 0);
  }

  /** What hooks see: the session's state, the fetched outputs and gradients of the step. */
  private final class Context implements StepContext {
    private final long done;
    private final boolean end;
    private final Map<String, HostTensor> fetched;

    Context(long done, boolean end, Map<String, HostTensor> fetched) {
      this.done = done;
      this.end = end;
      this.fetched = fetched;
    }

    @Override
    public String phase() {
      return phase;
    }

    @Override
    public long step() {
      return done;
    }

    @Override
    public long totalSteps() {
      return totalSteps;
    }

    @Override
    public boolean phaseEnd() {
      return end;
    }

    @Override
    public float[] read(String parameter) {
      Session session = program.session();
      if (program.step().carry().containsValue(parameter)) {
        return floats(parameter, session.state(parameter));
      }
      float[] declared = program.declaredValue(parameter);
      if (declared != null) {
        return declared;
      }
      if (program.model().checkpointNames().containsKey(parameter)) {
        throw new IllegalArgumentException(
            "\""
                + parameter
                + "\" is a frozen base weight, which hooks cannot read; use Adaptation.weight"
                + " when adapting.");
      }
      throw new IllegalArgumentException(
          "Step hooks can read trainables, parameters methods declared and state; \""
              + parameter
              + "\" is none of them (tensors declared with Adaptation.frozen stay with the"
              + " backend).");
    }

    @Override
    public void write(String parameter, float[] values) {
      if (!program.step().carry().containsValue(parameter)) {
        throw new IllegalArgumentException(
            "\""
                + parameter
                + "\" is frozen; a hook can write trainables and tensors declared with"
                + " Adaptation.state.");
      }
      Tensor t = program.step().graph().tensor(parameter);
      if (t.dtype() != DType.FLOAT32) {
        throw new IllegalArgumentException(
            "\"" + parameter + "\" is " + t.dtype() + "; write float32 tensors only.");
      }
      program.session().setState(parameter, HostTensor.ofFloats(t.shape().sizes(), values));
    }

    @Override
    public float[] output(String name) {
      if (!program.adaptation().outputs().containsKey(name)) {
        throw new IllegalArgumentException(
            "No output \""
                + name
                + "\" was declared; declared: "
                + program.adaptation().outputs().keySet()
                + ".");
      }
      return floats(name, fetched.get(name));
    }

    @Override
    public float[] gradient(String parameter) {
      if (!program.adaptation().exposedGradients().contains(parameter)) {
        throw new IllegalArgumentException(
            "The gradient of \""
                + parameter
                + "\" was not exposed; call Adaptation.exposeGradient when adapting.");
      }
      return floats(parameter, fetched.get("grad." + parameter));
    }

    private float[] floats(String name, HostTensor t) {
      if (t.dtype() != DType.FLOAT32) {
        throw new IllegalArgumentException(
            "\"" + name + "\" is " + t.dtype() + "; hooks read float32 tensors only.");
      }
      return t.floats();
    }
  }
}
