package dev.graft.graph;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Composite ops of {@link GraphOps}, built from primitives and differentiated through them:
 * transformer pieces (RoPE, masks, dropout), losses, an LSTM cell and 4-bit dequantisation.
 * Package-private: its public methods are {@link Graph}'s.
 */
abstract class CompositeOps extends NnOps {
  // ---------------------------------------------------------------- transformer pieces and losses

  @Override
  public Tensor rope(Tensor x, Tensor cos, Tensor sin) {
    long hs = x.shape().dim(-1).size();
    if (hs % 2 != 0) {
      throw new IllegalArgumentException("RoPE: head size must be even, got " + x.shape());
    }
    Tensor x1 = slice(x, -1, 0, hs / 2); // (..., T, hs/2)
    Tensor x2 = slice(x, -1, hs / 2, hs); // (..., T, hs/2)
    Tensor rotated = concat(-1, neg(x2), x1); // (..., T, hs)
    return add(mul(x, cos), mul(rotated, sin));
  }

  @Override
  public Tensor causalMask(Dim t) {
    Tensor r = range(t); // (T)
    Tensor rows = unsqueeze(r, 1); // (T, 1)
    Tensor cols = unsqueeze(r, 0); // (1, T)
    return not(greater(cols, rows)); // (T, T)
  }

  @Override
  public Tensor paddingMask(Tensor attentionMask) {
    Tensor keep = not(equal(attentionMask, scalar(0, attentionMask.dtype()))); // (B, T)
    return unsqueeze(keep, 1, 2); // (B, 1, 1, T)
  }

  @Override
  public Tensor maskedFill(Tensor x, Tensor keep, double value) {
    return where(keep, x, scalar(value, x.dtype()));
  }

  @Override
  public Tensor dropout(Tensor x, double p, Tensor seed) {
    requireDType("Dropout", seed, DType.INT64);
    if (p < 0 || p >= 1) {
      throw new IllegalArgumentException("Dropout: probability must be in [0, 1), got " + p);
    }
    long prime = 67_108_859L; // 2^26 - 5, so h*h < 2^52
    Tensor bigP = scalar(prime, DType.INT64);
    Tensor i = mod(range(x.shape().numel()), bigP); // (numel)
    Tensor s = mod(seed, bigP);
    Tensor h =
        mod(
            add(
                add(mul(i, scalar(40_503, DType.INT64)), mul(s, scalar(19_349_663, DType.INT64))),
                scalar(12_345, DType.INT64)),
            bigP);
    h = mod(add(mul(h, h), scalar(1_013_904_223, DType.INT64)), bigP);
    h = mod(add(mul(h, h), scalar(22_695_477, DType.INT64)), bigP);
    Tensor u = div(cast(h, x.dtype()), scalar(prime, x.dtype())); // uniform in [0, 1)
    Tensor keep = cast(not(less(u, scalar(p, x.dtype()))), x.dtype());
    Tensor mask = reshape(mul(keep, 1 / (1 - p)), x.shape().dims().toArray()); // x.shape
    return mul(x, mask);
  }

  @Override
  public Tensor crossEntropy(Tensor logits, Tensor targets, long ignoreIndex) {
    requireDType("CrossEntropy", targets, DType.INT64);
    if (logits.rank() != 2
        || targets.rank() != 1
        || !logits.shape().dim(0).equals(targets.shape().dim(0))) {
      throw new IllegalArgumentException(
          "CrossEntropy: needs logits (N, V) and targets (N), got "
              + logits.shape()
              + " and "
              + targets.shape());
    }
    Tensor logp = logSoftmax(logits, 1); // (N, V)
    Tensor valid = not(equal(targets, scalar(ignoreIndex, DType.INT64))); // (N)
    Tensor safe = where(valid, targets, scalar(0, DType.INT64)); // (N)
    Tensor picked = squeeze(gatherElements(logp, unsqueeze(safe, 1), 1), 1); // (N)
    Tensor weight = cast(valid, logits.dtype()); // (N)
    Tensor total = neg(reduceSum(mul(picked, weight), false, 0));
    Tensor count = max(reduceSum(weight, false, 0), scalar(1, logits.dtype()));
    return div(total, count);
  }

  @Override
  public Tensor mseLoss(Tensor prediction, Tensor target) {
    Tensor d = sub(prediction, target);
    int[] all = new int[d.rank()];
    Arrays.setAll(all, i -> i);
    return reduceMean(mul(d, d), false, all);
  }

  @Override
  public Tensor[] lstmCell(Tensor x, Tensor h, Tensor c, Tensor wIh, Tensor wHh, Tensor bias) {
    Tensor gates = add(linear(x, wIh, bias), linear(h, wHh, null)); // (B, 4H)
    long hidden = h.shape().dim(-1).size();
    Tensor i = sigmoid(slice(gates, -1, 0, hidden));
    Tensor f = sigmoid(slice(gates, -1, hidden, 2 * hidden));
    Tensor g = tanh(slice(gates, -1, 2 * hidden, 3 * hidden));
    Tensor o = sigmoid(slice(gates, -1, 3 * hidden, 4 * hidden));
    Tensor cNext = add(mul(f, c), mul(i, g));
    return new Tensor[] {mul(o, tanh(cNext)), cNext};
  }

  // ---------------------------------------------------------------- quantised weights

  @Override
  public Tensor unpackNibbles(Tensor packed) {
    requireDType("UnpackNibbles", packed, DType.UINT8);
    if (packed.rank() == 0) {
      throw new IllegalArgumentException(
          "UnpackNibbles: needs at least one axis of packed bytes, got a scalar " + packed);
    }
    Tensor bytes = cast(packed, DType.INT32); // (..., k)
    Tensor sixteen = scalar(16, DType.INT32);
    Tensor hi = div(bytes, sixteen); // (..., k)
    Tensor lo = sub(bytes, mul(hi, sixteen)); // (..., k)
    Tensor pairs = concat(-1, unsqueeze(hi, -1), unsqueeze(lo, -1)); // (..., k, 2)
    List<Dim> dims = new ArrayList<>(packed.shape().dims());
    dims.set(dims.size() - 1, dims.get(dims.size() - 1).times(Dim.of(2)));
    return reshape(pairs, dims.toArray()); // (..., 2k)
  }

  @Override
  public Tensor nf4Dequantize(
      Tensor packed,
      Tensor absmaxCodes,
      Tensor nestedCode,
      Tensor nestedAbsmax,
      Tensor offset,
      Shape shape) {
    long n = shape.numel().size();
    if (n % NF4_BLOCK != 0) {
      throw new IllegalArgumentException(
          "NF4: weight " + shape + " has " + n + " elements, not a multiple of " + NF4_BLOCK);
    }
    long blocks = n / NF4_BLOCK;
    requireDType("NF4", packed, DType.UINT8);
    requireDType("NF4", absmaxCodes, DType.UINT8);
    if (!packed.shape().equals(Shape.of(new long[] {n / 2}))
        || !absmaxCodes.shape().equals(Shape.of(new long[] {blocks}))) {
      throw new IllegalArgumentException(
          "NF4: weight "
              + shape
              + " needs packed ["
              + n / 2
              + "] and absmax codes ["
              + blocks
              + "], got "
              + packed.shape()
              + " and "
              + absmaxCodes.shape());
    }
    DType f = nestedAbsmax.dtype();
    Tensor codes = unpackNibbles(packed); // (n), INT32
    NdArray book = NdArray.of(f, new long[] {16}, NF4_CODE);
    Tensor values = gather(constant(book), codes, 0); // (n)
    Tensor scaleCodes = gather(nestedCode, cast(absmaxCodes, DType.INT64), 0); // (blocks)
    Tensor group = div(range(Dim.of(blocks)), scalar(NF4_NESTED_BLOCK, DType.INT64)); // (blocks)
    Tensor absmax = add(mul(scaleCodes, gather(nestedAbsmax, group, 0)), offset); // (blocks)
    Tensor w = mul(reshape(values, blocks, NF4_BLOCK), unsqueeze(absmax, 1)); // (blocks, 64)
    return reshape(w, shape.dims().toArray()); // shape
  }
}
