package dev.graft.graph;

import dev.graft.graph.impl.OnnxLowering;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Turns a forward graph with a scalar loss into one training step: backward, optional gradient
 * accumulation and global-norm clipping, and AdamW with PyTorch semantics, all inside the graph.
 *
 * <p>Step inputs (besides the forward inputs): trainables {@code p}, moments {@code m.p} and {@code
 * v.p}, the scalar {@code step} (the optimizer step count t, from 1) and one scalar {@code
 * lr.<group>} per parameter group (so schedules live in Java). Step outputs: {@code loss}, {@code
 * next.p}, {@code next.m.p}, {@code next.v.p} (and {@code grad_norm} with clipping). Feed every
 * output of {@link #carry()} back as the input it names at the next run. All these are of the
 * trainables' dtype.
 *
 * <p>AdamW as {@code torch.optim.AdamW}: {@code p <- p (1 - lr wd)}; {@code m <- b1 m + (1 - b1)
 * g}; {@code v <- b2 v + (1 - b2) g^2}; {@code p <- p - (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 -
 * b2^t) + eps)}. Clipping as {@code torch.nn.utils.clip_grad_norm_}: {@code g <- g min(1, max_norm
 * / (||g|| + 1e-6))} with the norm over all trainables.
 *
 * <p>The graph computes the same with as few passes over parameter-sized tensors as it can: the
 * gradient's scalar factor s (the clipping factor) goes into the moment coefficients, {@code m <-
 * b1 m + ((1 - b1) s) g} and {@code v <- b2 v + ((1 - b2) s^2) g^2} (g^2 is also the square the
 * norm sums), the bias corrections into scalars as in torch's {@code step_size / denom} algebra,
 * {@code p <- p (1 - lr wd) - (lr sqrt(1 - b2^t) / (1 - b1^t)) m / (sqrt(v) + eps sqrt(1 - b2^t))},
 * and a group without weight decay skips its multiply.
 *
 * <p>Gradient accumulation over N micro-steps keeps accumulators {@code acc.p} as inputs and {@code
 * next.acc.p} as outputs, plus a BOOL scalar input {@code apply} and a scalar input {@code
 * micro_weight} w, the micro-step's share of the effective batch. Every micro-step adds the
 * gradient of {@code w · loss}; when {@code apply} is true the update uses {@code acc + w g} and
 * the accumulators reset to zero, otherwise parameters and moments pass through unchanged. The
 * caller sets {@code apply} on every N-th micro-step and advances {@code step} only then. With w
 * the micro-batch's learned tokens over those of all N (shares that sum to 1), a loss that is a
 * mean over learned tokens accumulates to the gradient of the mean over every learned token of the
 * effective batch, whatever the micro-batches' sizes (Transformers' 2024 fix); w = 1/N gives the
 * mean of the micro-steps' gradients.
 *
 * <p>With {@link Builder#skipNonFinite()} the step also outputs a BOOL scalar {@code finite}: false
 * when the loss or the (accumulated) gradient holds a NaN or an infinity, and then parameters and
 * moments pass through unchanged. The caller does not advance {@code step} after such a run.
 */
public final class TrainingStep {
  private final Graph graph;
  private final Map<String, String> carry;

  private TrainingStep(Graph graph, Map<String, String> carry) {
    this.graph = graph;
    this.carry = Collections.unmodifiableMap(carry);
  }

  /** Starts a training step for {@code loss}, a one-element tensor of {@code graph}. */
  public static Builder builder(Graph graph, Tensor loss) {
    return new Builder(graph, loss);
  }

  /** The graph, now holding forward, backward and update. */
  public Graph graph() {
    return graph;
  }

  /** Output name to the input name it must be fed back as at the next run. */
  public Map<String, String> carry() {
    return carry;
  }

  /**
   * This step as ONNX bytes that perform several steps per run inside an ONNX {@code Loop}, so that
   * the carried state stays with the runtime between steps (ONNX Runtime's Java API has no
   * IOBinding: on a GPU every run copies its inputs in and its fetched outputs out).
   *
   * <p>Names are those of {@link Graph#toOnnx()}. The carried inputs (the values of {@link
   * #carry()}) are fed once; their outputs return the state after the last step. Every other input
   * (batches, {@code step}, {@code lr.<group>}, {@code apply}, seeds) takes a new leading axis
   * {@code steps}, and row i feeds step i: fill {@code step}, {@code apply} and the learning rates
   * with each step's values, as for single runs. Every other output ({@code loss}, {@code
   * grad_norm}, ...) comes back stacked along the same axis. A run performs as many steps as the
   * stacked inputs have rows, so one model serves any count, a shorter last chunk included; the
   * rows of one run share all other sizes (batch, seq). K looped steps compute exactly what K
   * single runs compute.
   */
  public byte[] toOnnxLoop() {
    return OnnxLowering.lowerLoop(graph, carry);
  }

  /** A parameter group's AdamW scalars of this step. */
  private record Rates(Tensor stepSize, Tensor decay) {}

  /** Options of a {@link TrainingStep}; defaults are those of {@code torch.optim.AdamW}. */
  public static final class Builder {
    private final Graph graph;
    private final Tensor loss;
    private final Map<String, Double> groupDecay = new LinkedHashMap<>();
    private final Map<Tensor, String> groupOf = new LinkedHashMap<>();
    private double weightDecay = 0.01;
    private double beta1 = 0.9;
    private double beta2 = 0.999;
    private double eps = 1e-8;
    private double maxGradNorm = Double.NaN;
    private int accumulationSteps = 1;
    private boolean skipNonFinite;
    private final List<Tensor> state = new ArrayList<>();
    private final List<Tensor> exposed = new ArrayList<>();

    private Builder(Graph graph, Tensor loss) {
      this.graph = graph;
      this.loss = loss;
    }

    /**
     * A parameter group with its own weight decay and learning-rate input {@code lr.<name>}.
     * Trainables in no group form the group {@code default}.
     */
    public Builder group(String name, double weightDecay, Tensor... params) {
      if (groupDecay.containsKey(name) || name.equals("default")) {
        throw new IllegalArgumentException("Parameter group \"" + name + "\" is already defined");
      }
      groupDecay.put(name, weightDecay);
      for (Tensor p : params) {
        if (!graph.isTrainable(p)) {
          throw new IllegalArgumentException(
              p + " is not a trainable parameter; mark it trainable first");
        }
        String prev = groupOf.put(p, name);
        if (prev != null) {
          throw new IllegalArgumentException(p.name() + " is in groups " + prev + " and " + name);
        }
      }
      return this;
    }

    /** Weight decay of the {@code default} group (0.01 unless set). */
    public Builder weightDecay(double weightDecay) {
      this.weightDecay = weightDecay;
      return this;
    }

    /** Adam's moment decay rates (0.9, 0.999 unless set). */
    public Builder betas(double beta1, double beta2) {
      this.beta1 = beta1;
      this.beta2 = beta2;
      return this;
    }

    /** The denominator epsilon, added outside the square root (1e-8 unless set). */
    public Builder eps(double eps) {
      this.eps = eps;
      return this;
    }

    /** Clip the global gradient norm to {@code maxNorm} (off unless set). */
    public Builder maxGradNorm(double maxNorm) {
      if (!(maxNorm > 0)) {
        throw new IllegalArgumentException("maxGradNorm must be > 0, got " + maxNorm);
      }
      this.maxGradNorm = maxNorm;
      return this;
    }

    /** Accumulate gradients over {@code n} micro-steps before each update (1 unless set). */
    public Builder accumulationSteps(int n) {
      if (n < 1) {
        throw new IllegalArgumentException("accumulationSteps must be >= 1, got " + n);
      }
      this.accumulationSteps = n;
      return this;
    }

    /**
     * Leaves parameters and moments unchanged when the loss or the gradient is not finite, and
     * outputs {@code finite} saying whether the update was applied (off unless set: the check costs
     * a reduction over every gradient when clipping does not already make one).
     */
    public Builder skipNonFinite() {
      this.skipNonFinite = true;
      return this;
    }

    /**
     * Carries input {@code input} unchanged from run to run as output {@code next.<name>}: state
     * that is not trained but that the caller may overwrite between runs (step hooks' state).
     */
    public Builder state(Tensor input) {
      if (!graph.inputs().contains(input)) {
        throw new IllegalArgumentException(input + " is not an input of the graph");
      }
      state.add(input);
      return this;
    }

    /**
     * Outputs the gradient of trainable {@code p} as {@code grad.<name>}: the gradient the update
     * uses, summed over accumulated micro-steps by their weights and clipped (meaningful on the
     * runs that apply the update).
     */
    public Builder exposeGradient(Tensor p) {
      if (!graph.isTrainable(p)) {
        throw new IllegalArgumentException(
            p + " is not a trainable parameter; only trainables have gradients");
      }
      exposed.add(p);
      return this;
    }

    /** Appends backward and update to the graph and declares the step inputs and outputs. */
    public TrainingStep build() {
      List<Tensor> trainables = graph.trainables();
      if (trainables.isEmpty()) {
        throw new IllegalArgumentException("The graph has no trainable parameters");
      }
      DType f = trainables.get(0).dtype();
      for (Tensor p : trainables) {
        if (p.dtype() != f) {
          throw new IllegalArgumentException(
              "All trainables need one dtype; " + p + " differs from " + f);
        }
      }
      List<String> unknown = new ArrayList<>(groupDecay.keySet());
      unknown.removeAll(groupOf.values());
      if (!unknown.isEmpty()) {
        throw new IllegalArgumentException("Parameter groups without parameters: " + unknown);
      }
      Tensor apply =
          accumulationSteps > 1 ? graph.input("apply", DType.BOOL, Shape.scalar()) : null;
      // Accumulating, each micro-step's gradient is that of w · loss: backward starts from w, with
      // no pass over the parameter-sized gradients.
      Map<Tensor, Tensor> grads =
          apply == null
              ? graph.gradients(loss)
              : graph.gradients(loss, graph.input("micro_weight", f, Shape.scalar()));
      Map<String, String> carry = new LinkedHashMap<>();
      graph.output("loss", loss);
      Tensor step = graph.input("step", f, Shape.scalar());

      // The update uses s g: g the (accumulated, weighted) gradient, s the clipping factor, which
      // goes into Adam's scalar coefficients instead of a pass over g.
      Map<Tensor, Tensor> summed = new LinkedHashMap<>();
      Map<Tensor, Tensor> squares = new LinkedHashMap<>(); // g², for the norm and for v
      for (Tensor p : trainables) {
        Tensor gp = grads.get(p);
        if (gp == null) {
          continue; // the loss does not depend on p: like torch (grad None), p is not updated
        }
        if (apply != null) {
          Tensor acc = graph.input("acc." + p.name(), f, p.shape());
          gp = graph.add(acc, gp);
          declare("next.acc." + p.name(), graph.where(apply, graph.scalar(0, f), gp), acc, carry);
        }
        summed.put(p, gp);
        squares.put(p, graph.mul(gp, gp));
      }
      Tensor clipped = null; // the clipping factor, for exposed gradients
      Tensor c1 = graph.scalar(1 - beta1, f); // (1 - b1) s
      Tensor c2 = graph.scalar(1 - beta2, f); // (1 - b2) s²
      boolean clipping = !Double.isNaN(maxGradNorm) && !summed.isEmpty();
      Tensor sumSq = clipping || skipNonFinite ? sumOfSquares(squares) : null; // ||g||², scalar
      if (clipping) {
        // ||g|| over all trainables; clip = min(1, max_norm / (||g|| + 1e-6))
        Tensor norm = graph.sqrt(sumSq);
        graph.output("grad_norm", norm);
        Tensor clip =
            graph.min(
                graph.scalar(1, f), graph.div(graph.scalar(maxGradNorm, f), graph.add(norm, 1e-6)));
        c1 = graph.mul(c1, clip);
        c2 = graph.mul(c2, graph.mul(clip, clip));
        clipped = clip;
      }
      // The update is applied on the runs that apply it and, when asked, only if it is finite.
      Tensor gate = apply;
      if (skipNonFinite) {
        // x - x == 0 fails exactly for NaN and ±Inf; a NaN or Inf anywhere in loss or g reaches x.
        Tensor x = graph.reshape(graph.add(loss, sumSq == null ? loss : sumSq)); // () scalar
        Tensor finite = graph.equal(graph.sub(x, x), graph.scalar(0, f));
        graph.output("finite", finite);
        gate = gate == null ? finite : graph.and(gate, finite);
      }
      for (Tensor p : exposed) {
        Tensor gp = summed.get(p);
        graph.output(
            "grad." + p.name(),
            gp == null ? graph.mul(p, 0.0) : clipped == null ? gp : graph.mul(gp, clipped));
      }
      for (Tensor input : state) {
        declare("next." + input.name(), input, input, carry);
      }

      // AdamW in torch's step_size / denom form, its bias corrections shared by all parameters.
      Tensor bc1 =
          graph.sub(graph.scalar(1, f), graph.pow(graph.scalar(beta1, f), step)); // 1 - b1^t
      Tensor bc2Sqrt =
          graph.sqrt(graph.sub(graph.scalar(1, f), graph.pow(graph.scalar(beta2, f), step)));
      Tensor epsHat = graph.mul(bc2Sqrt, eps); // eps sqrt(1 - b2^t)
      Map<String, Rates> rates = new LinkedHashMap<>();
      for (Tensor p : trainables) {
        Tensor m = graph.input("m." + p.name(), f, p.shape());
        Tensor v = graph.input("v." + p.name(), f, p.shape());
        Tensor gp = summed.get(p);
        if (gp == null) {
          declare("next." + p.name(), p, p, carry);
          declare("next.m." + p.name(), m, m, carry);
          declare("next.v." + p.name(), v, v, carry);
          continue;
        }
        Rates r =
            rates.computeIfAbsent(
                groupOf.getOrDefault(p, "default"), k -> rates(k, f, bc1, bc2Sqrt));
        Tensor decayed = r.decay() == null ? p : graph.mul(p, r.decay()); // p (1 - lr wd)
        Tensor m2 = graph.add(graph.mul(m, beta1), graph.mul(gp, c1));
        Tensor v2 = graph.add(graph.mul(v, beta2), graph.mul(squares.get(p), c2));
        Tensor denom = graph.add(graph.sqrt(v2), epsHat);
        Tensor p2 = graph.sub(decayed, graph.mul(graph.div(m2, denom), r.stepSize()));
        if (gate != null) {
          p2 = graph.where(gate, p2, p);
          m2 = graph.where(gate, m2, m);
          v2 = graph.where(gate, v2, v);
        }
        declare("next." + p.name(), p2, p, carry);
        declare("next.m." + p.name(), m2, m, carry);
        declare("next.v." + p.name(), v2, v, carry);
      }
      return new TrainingStep(graph, carry);
    }

    /**
     * The scalars of one parameter group, from its learning-rate input {@code lr.<group>}: the step
     * size {@code lr sqrt(1 - b2^t) / (1 - b1^t)} and the decay factor {@code 1 - lr wd} (null
     * without weight decay).
     */
    private Rates rates(String group, DType f, Tensor bc1, Tensor bc2Sqrt) {
      Tensor rate = graph.input("lr." + group, f, Shape.scalar());
      double wd = groupDecay.getOrDefault(group, weightDecay);
      Tensor decay = wd == 0 ? null : graph.sub(graph.scalar(1, f), graph.mul(rate, wd));
      return new Rates(graph.div(graph.mul(rate, bc2Sqrt), bc1), decay);
    }

    /** The sum of every element of every tensor in {@code squares}, as a scalar. */
    private Tensor sumOfSquares(Map<Tensor, Tensor> squares) {
      Tensor sumSq = null;
      for (Tensor sq : squares.values()) {
        int[] all = new int[sq.rank()];
        java.util.Arrays.setAll(all, i -> i);
        Tensor s = graph.reduceSum(sq, false, all);
        sumSq = sumSq == null ? s : graph.add(sumSq, s);
      }
      return sumSq;
    }

    private void declare(String name, Tensor value, Tensor input, Map<String, String> carry) {
      graph.output(name, value);
      carry.put(name, input.name());
    }
  }
}
