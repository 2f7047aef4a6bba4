package dev.graft.graph;

import org.osgi.annotation.versioning.ProviderType;

/**
 * The op-building view of a {@link Graph}: every op and constant, and nothing else. A method's
 * rewrites and objectives receive it, so they can add ops but cannot declare inputs, parameters or
 * outputs, rewire uses, change what trains or lower the graph; the platform keeps those.
 *
 * <p>Every op checks dtypes and shapes when it is called and throws {@link
 * IllegalArgumentException} naming the op and the offending shapes; a tensor of another graph is
 * rejected. A tensor's dtype and (possibly symbolic) shape are {@link Tensor#dtype()} and {@link
 * Tensor#shape()}; {@link #size} reads a dimension at run time. Primitives lower one-to-one to ONNX
 * ops (a few, such as {@link #gelu}, {@link #silu}, {@link #layerNorm} and {@link #rmsNorm}, to a
 * fixed small group) and have a backward rule; composites ({@link #crossEntropy}, {@link #rope},
 * {@link #dropout}, {@link #nf4Dequantize}, ...) are built from primitives and differentiated
 * through them. {@link #stopGradient} passes a value and blocks its gradient.
 */
@ProviderType
public interface GraphOps {
  /** The 16 NF4 code values (bitsandbytes {@code get_4bit_type("nf4")}), index = 4-bit code. */
  double[] NF4_CODE = {
    -1.0,
    -0.6961928009986877,
    -0.5250730514526367,
    -0.39491748809814453,
    -0.28444138169288635,
    -0.18477343022823334,
    -0.09105003625154495,
    0.0,
    0.07958029955625534,
    0.16093020141124725,
    0.24611230194568634,
    0.33791524171829224,
    0.44070982933044434,
    0.5626170039176941,
    0.7229568362236023,
    1.0
  };

  /** NF4 block size (bitsandbytes default). */
  int NF4_BLOCK = 64;

  /** Blocks per double-quantisation group of absmax values. */
  int NF4_NESTED_BLOCK = 256;

  // ---------------------------------------------------------------- constants

  /** A constant with inline data (keep these small; large weights are parameters). */
  Tensor constant(NdArray value);

  /** A scalar constant. */
  Tensor scalar(double value, DType dtype);

  // ---------------------------------------------------------------- elementwise

  /** {@code -x}. */
  Tensor neg(Tensor x);

  /** {@code sqrt(x)}. */
  Tensor sqrt(Tensor x);

  /** {@code 1 / sqrt(x)}. */
  Tensor rsqrt(Tensor x);

  /** {@code 1 / x}. */
  Tensor reciprocal(Tensor x);

  /** {@code e^x}. */
  Tensor exp(Tensor x);

  /** Natural logarithm. */
  Tensor log(Tensor x);

  /** Hyperbolic tangent. */
  Tensor tanh(Tensor x);

  /** {@code 1 / (1 + e^-x)}. */
  Tensor sigmoid(Tensor x);

  /** The Gauss error function (ORT 1.23 CPU has no float64 kernel for it; float32 works). */
  Tensor erf(Tensor x);

  /** {@code |x|}. */
  Tensor abs(Tensor x);

  /** The sign, -1, 0 or 1 (no gradient). */
  Tensor sign(Tensor x);

  /** Logical not of a BOOL tensor. */
  Tensor not(Tensor x);

  /** {@code a + b} with broadcasting. */
  Tensor add(Tensor a, Tensor b);

  /** {@code x + c} for a scalar of the same dtype. */
  Tensor add(Tensor x, double c);

  /** {@code a - b} with broadcasting. */
  Tensor sub(Tensor a, Tensor b);

  /** {@code a * b} with broadcasting. */
  Tensor mul(Tensor a, Tensor b);

  /** {@code x * c} for a scalar of the same dtype. */
  Tensor mul(Tensor x, double c);

  /** {@code a / b} with broadcasting (integer division truncates, as in ONNX). */
  Tensor div(Tensor a, Tensor b);

  /** {@code a ^ b} with broadcasting. */
  Tensor pow(Tensor a, Tensor b);

  /** {@code x ^ p} for a scalar exponent. */
  Tensor pow(Tensor x, double p);

  /** Elementwise maximum with broadcasting. */
  Tensor max(Tensor a, Tensor b);

  /** Elementwise minimum with broadcasting. */
  Tensor min(Tensor a, Tensor b);

  /** Integer modulus with the sign of the divisor (ONNX {@code Mod}, fmod=0). */
  Tensor mod(Tensor a, Tensor b);

  /** {@code a == b} as BOOL. */
  Tensor equal(Tensor a, Tensor b);

  /** {@code a < b} as BOOL. */
  Tensor less(Tensor a, Tensor b);

  /** {@code a > b} as BOOL. */
  Tensor greater(Tensor a, Tensor b);

  /** Logical and of two BOOL tensors. */
  Tensor and(Tensor a, Tensor b);

  /** {@code cond ? a : b} with broadcasting of all three. */
  Tensor where(Tensor cond, Tensor a, Tensor b);

  /** Clamps {@code x} into {@code [lo, hi]}. */
  Tensor clip(Tensor x, double lo, double hi);

  /**
   * Converts to another dtype. Float to integer truncates toward zero; a value outside an integer
   * type's range wraps modulo 2^bits as in C (INT32 300 cast to UINT8 is 44, to INT8 it is 44, and
   * 200 cast to INT8 is -56); anything non-zero cast to BOOL is true. The gradient is cast back.
   */
  Tensor cast(Tensor x, DType to);

  /**
   * {@code x} in the forward pass and a constant to differentiation: no gradient flows back through
   * it (torch's {@code detach()}). For a term that must be computed but not trained through, such
   * as DoRA's weight norm or Delta-LoRA's update of the frozen weight: the gradient of {@code x *
   * stopGradient(x)} is {@code stopGradient(x)}, not {@code 2x}. It lowers to an ONNX Identity.
   */
  Tensor stopGradient(Tensor x);

  /**
   * {@code value}, computed no earlier than {@code dependency} (a floating-point tensor of any
   * shape) is: the one way to order work in a graph whose ops run as soon as their inputs are
   * ready. Ops over frozen tensors alone would run once, when the session opens, and keep their
   * result for good (ONNX Runtime folds them into constants); {@code after} makes them run at each
   * step, where they are needed, and free their result after its last use. No gradient flows to
   * {@code dependency}. In the backward of a product ({@code Gemm}, {@code MatMul}) that reads a
   * frozen operand computed through {@code after}, differentiation computes that operand again
   * after the product's incoming gradient (see {@link Graph#recompute}), so the forward's value is
   * not kept alive until the backward: QLoRA's dequantised weights exist one layer at a time. It
   * lowers to {@code Where(IsNaN(first element of dependency), value, value)}, a copy of value.
   *
   * @throws IllegalArgumentException if {@code dependency} is not floating-point
   */
  Tensor after(Tensor value, Tensor dependency);

  // ---------------------------------------------------------------- shapes and indexing

  /**
   * Reshape to {@code dims} (each a {@link Dim}, a symbol name or a size; at most one {@code -1},
   * which is inferred). The element counts must agree, symbolically where dims are symbolic.
   */
  Tensor reshape(Tensor x, Object... dims);

  /** Permutes axes: output axis {@code i} is input axis {@code perm[i]}. */
  Tensor transpose(Tensor x, int... perm);

  /** Swaps the last two axes. */
  Tensor transposeLast2(Tensor x);

  /** Elements {@code [start, end)} along {@code axis}, which must have a fixed size. */
  Tensor slice(Tensor x, int axis, long start, long end);

  /** Zero padding: {@code before} zeros ahead of and {@code after} zeros behind {@code axis}. */
  Tensor pad(Tensor x, int axis, long before, long after);

  /** Concatenation along {@code axis}; other axes must agree. */
  Tensor concat(int axis, Tensor... xs);

  /** Broadcasts {@code x} to {@code shape}. */
  Tensor expand(Tensor x, Shape shape);

  /** Removes the given axes, each of size 1. */
  Tensor squeeze(Tensor x, int... axes);

  /** Inserts axes of size 1 at the given positions of the output. */
  Tensor unsqueeze(Tensor x, int... axes);

  /** The INT64 vector {@code [0, 1, ..., n-1]}. */
  Tensor range(Dim n);

  /** A tensor of {@code shape} filled with {@code value} (ONNX ConstantOfShape). */
  Tensor fill(Shape shape, DType dtype, double value);

  /** A scalar holding the run-time size of a (possibly symbolic) dimension. */
  Tensor size(Dim d, DType dtype);

  /**
   * ONNX Gather: picks slices of {@code data} along {@code axis} (an embedding lookup at axis 0).
   */
  Tensor gather(Tensor data, Tensor indices, int axis);

  /** ONNX GatherElements: {@code out[i][j] = data[indices[i][j]][j]} for axis 0 (and likewise). */
  Tensor gatherElements(Tensor data, Tensor indices, int axis);

  /**
   * ONNX ScatterND with {@code reduction="add"}: adds each update slice into {@code data} at its
   * index tuple; repeated indices accumulate. {@code indices} has shape (..., k), {@code updates}
   * (..., data[k:]). The gradient of an embedding {@link #gather}.
   */
  Tensor scatterNdAdd(Tensor data, Tensor indices, Tensor updates);

  /**
   * ONNX ScatterElements with {@code reduction="add"}: the adjoint of {@link #gatherElements};
   * {@code indices} and {@code updates} share a shape.
   */
  Tensor scatterElementsAdd(Tensor data, Tensor indices, Tensor updates, int axis);

  // ---------------------------------------------------------------- neural-network ops

  /** Sum over {@code axes}. */
  Tensor reduceSum(Tensor x, boolean keepDims, int... axes);

  /** Maximum over {@code axes}. */
  Tensor reduceMax(Tensor x, boolean keepDims, int... axes);

  /** Mean over {@code axes}: the sum divided by the (possibly symbolic) element count. */
  Tensor reduceMean(Tensor x, boolean keepDims, int... axes);

  /** Softmax along {@code axis}. */
  Tensor softmax(Tensor x, int axis);

  /** Log-softmax along {@code axis}. */
  Tensor logSoftmax(Tensor x, int axis);

  /**
   * Layer normalisation over the last axis, one {@code LayerNormalization} op: {@code (x - mean) /
   * sqrt(var + eps) * gamma + beta}, with the biased variance (as torch.nn.LayerNorm). {@code
   * gamma} and {@code beta} have the shape of x's last axis, which must be fixed; {@code beta} may
   * be null.
   *
   * <p>Float32 lowers to ONNX's {@code LayerNormalization} (opset 17), one kernel (ONNX Runtime's
   * CPU kernel computes the variance as {@code mean(x^2) - mean^2}, which loses precision where a
   * row's mean is large against its spread); other dtypes get standard ops (ONNX's epsilon
   * attribute is a float32, which would move float64 results by 1e-14). The backward reads only
   * {@code x} and {@code gamma}, nothing of the forward's results: it recomputes the mean and
   * {@code 1/sqrt(var + eps)} from x, so the forward keeps no intermediate alive for it.
   */
  Tensor layerNorm(Tensor x, Tensor gamma, Tensor beta, double eps);

  /**
   * RMS normalisation over the last axis (Llama, Mistral, Qwen2), one {@code RMSNormalization} op
   * (ONNX's name from opset 23): {@code x / sqrt(mean(x^2) + eps) * gamma}. {@code gamma} has the
   * shape of x's last axis, which must be fixed.
   *
   * <p>Float32 lowers to standard opset-17 ops in the form that ONNX Runtime's
   * SimplifiedLayerNormFusion turns into one {@code SimplifiedLayerNormalization} kernel; other
   * dtypes get standard ops that it leaves alone (the fused op would take its epsilon as a float32,
   * or as 1e-5 for a float64 constant). The backward reads only {@code x} and {@code gamma}, so the
   * forward keeps no intermediate alive for it.
   */
  Tensor rmsNorm(Tensor x, Tensor gamma, double eps);

  /**
   * GELU, one {@code Gelu} op. With {@code tanhApproximation} (GPT-2's {@code gelu_new}, torch's
   * {@code approximate="tanh"}): {@code 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))}; otherwise
   * exact: {@code 0.5 x (1 + erf(x / sqrt 2))}. Its attribute {@code approximate} is {@code "tanh"}
   * or {@code "none"}, as in ONNX opset 20.
   *
   * <p>The lowering emits standard opset-17 ops in the forms that ONNX Runtime fuses into one
   * kernel on float32 ({@code FastGelu}, {@code Gelu}); float64 gets {@code x sigmoid(x (2k + 2kc
   * x^2))} for the tanh form ({@code k = sqrt(2/pi)}, {@code c = 0.044715}; {@code 0.5 (1 + tanh z)
   * = sigmoid(2z)}). The backward reads only {@code x} and recomputes what it needs from it, so the
   * forward keeps no intermediate alive for it.
   */
  Tensor gelu(Tensor x, boolean tanhApproximation);

  /**
   * SiLU / swish, one {@code Silu} op: {@code x * sigmoid(x)}. It lowers to Sigmoid and Mul (which
   * ONNX Runtime fuses on float32); the backward reads only {@code x}, so the forward keeps no
   * sigmoid alive for it.
   */
  Tensor silu(Tensor x);

  /**
   * Matrix product of the last two axes with numpy broadcasting of the leading (batch) axes. Both
   * operands need rank at least 2.
   */
  Tensor matmul(Tensor a, Tensor b);

  /**
   * ONNX Gemm on 2-D operands: {@code op(a) op(b) + c}, where {@code op} transposes when asked and
   * {@code c} (nullable) broadcasts to the result.
   */
  Tensor gemm(Tensor a, Tensor b, Tensor c, boolean transA, boolean transB);

  /**
   * A linear layer {@code x W^T + b} with {@code W} in torch's (out, in) layout and {@code b} (out)
   * or null. Leading axes of {@code x} are flattened into one so that the product is one Gemm with
   * {@code transB=1}: forward and backward then both read W as stored (no transposed copy).
   */
  Tensor linear(Tensor x, Tensor w, Tensor b);

  /**
   * GPT-2's Conv1D: {@code x W + b} with {@code W} stored (in, out) and {@code b} (out) or null, as
   * one Gemm with {@code transB=0} on {@code x} flattened to 2-D, so that the backward's {@code dy
   * W^T} reads W as stored too (a MatMul would leave ONNX Runtime a folded Wᵀ copy to keep).
   */
  Tensor conv1d(Tensor x, Tensor w, Tensor b);

  // ---------------------------------------------------------------- composites

  /**
   * Rotary position embedding in the rotate-half form (Llama, GPT-NeoX): {@code x cos + rot(x) sin}
   * with {@code rot([x1, x2]) = [-x2, x1]} over the last axis. {@code x} is (..., T, hs); {@code
   * cos} and {@code sin} broadcast to it, typically (T, hs) tables precomputed in Java. The
   * backward is the same rotation with {@code -sin}; autodiff derives it from these primitives.
   */
  Tensor rope(Tensor x, Tensor cos, Tensor sin);

  /** A BOOL (T, T) mask, true where key position {@code j <= } query position {@code i}. */
  Tensor causalMask(Dim t);

  /** From an attention mask (B, T) of 1 (keep) and 0 (pad), a BOOL (B, 1, 1, T) key mask. */
  Tensor paddingMask(Tensor attentionMask);

  /** {@code keep ? x : value}; use a large negative value (not -inf) before a softmax. */
  Tensor maskedFill(Tensor x, Tensor keep, double value);

  /**
   * Inverted dropout with a mask derived from an INT64 scalar {@code seed} by an integer hash of
   * (element index, seed). The same seed gives the same mask on every run and every backend, and
   * the backward reuses the forward mask tensor. Each round keeps values below 2^53 so that float64
   * reference arithmetic is exact: {@code h = (i*A + seed*B + C) mod P}, then twice {@code h = (h*h
   * + D) mod P}, {@code keep = h/P >= p}. (RandomUniformLike would differ between runs.)
   */
  Tensor dropout(Tensor x, double p, Tensor seed);

  /**
   * Mean cross-entropy of {@code logits} (N, V) against INT64 {@code targets} (N), skipping targets
   * equal to {@code ignoreIndex} (the mean is over the kept ones; 0 if none are kept). Emitted as
   * LogSoftmax + GatherElements + masked ReduceSum rather than SoftmaxCrossEntropyLoss, which
   * inference builds of ONNX Runtime cannot differentiate.
   */
  Tensor crossEntropy(Tensor logits, Tensor targets, long ignoreIndex);

  /** Mean squared error over all elements. */
  Tensor mseLoss(Tensor prediction, Tensor target);

  /**
   * One LSTM step (PyTorch gate order i, f, g, o): {@code gates = x W_ih^T + h W_hh^T + b} (B, 4H),
   * {@code c' = sigmoid(f) c + sigmoid(i) tanh(g)}, {@code h' = sigmoid(o) tanh(c')}. Returns {h',
   * c'}.
   */
  Tensor[] lstmCell(Tensor x, Tensor h, Tensor c, Tensor wIh, Tensor wHh, Tensor bias);

  /**
   * The 4-bit codes packed two to a byte, high nibble first (bitsandbytes' layout): UINT8 (..., k)
   * to INT32 (..., 2k), each in [0, 16), ready to index a codebook with {@link #gather}. Standard
   * opset-17 ops only: Cast to INT32, then {@code hi = b / 16} and {@code lo = b - 16 hi} (BitShift
   * has no CUDA kernel, and ONNX Runtime's CPU Div has no uint8 kernel).
   */
  Tensor unpackNibbles(Tensor packed);

  /**
   * Dequantises a bitsandbytes NF4 weight with double-quantised scales into a tensor of {@code
   * shape} and the dtype of {@code nestedAbsmax}:
   *
   * <pre>
   * code[k]   = packed byte k/2, high nibble first
   * absmax[b] = nestedCode[absmaxCodes[b]] * nestedAbsmax[b / 256] + offset
   * w[k]      = NF4_CODE[code[k]] * absmax[k / 64]
   * </pre>
   *
   * Only standard ops: {@link #unpackNibbles}, then Gather on the codebooks.
   *
   * @param packed UINT8 (n/2), two codes per byte
   * @param absmaxCodes UINT8 (n/64), 8-bit codes of {@code absmax - offset}
   * @param nestedCode float (256), the signed dynamic 8-bit code map
   * @param nestedAbsmax float (ceil(n/64/256)), scale per group of 256 blocks
   * @param offset float scalar, the mean absmax subtracted before quantising
   */
  Tensor nf4Dequantize(
      Tensor packed,
      Tensor absmaxCodes,
      Tensor nestedCode,
      Tensor nestedAbsmax,
      Tensor offset,
      Shape shape);
}
