package dev.graft.method.qlora;

import dev.graft.api.adapt.Adaptation;
import dev.graft.api.adapt.LinearSite;
import dev.graft.api.adapt.QuantisedWeight;
import dev.graft.api.backend.HostTensor;
import dev.graft.api.quant.FourBit;
import dev.graft.graph.DType;
import dev.graft.graph.GraphOps;
import dev.graft.graph.NdArray;
import dev.graft.graph.Tensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * One quantised linear weight in the graph: its codes and scales as frozen tensors (packed UINT8,
 * never INT64 indices) that the method declares from its own quantisation or the platform feeds
 * from a 4-bit checkpoint, and the float32 weight computed from them inside the step:
 *
 * <pre>
 * code   = unpackNibbles(after(packed, x))                      INT32 (2·ceil(n/2))
 * absmax = DYNAMIC[after(absmaxCodes, x)] · after(nested, x)[b / 256] + offset   (blocks)
 *          (or after(absmax, x) without double quantisation)
 * W      = (CODE[code] padded to blocks·64, as (blocks, 64)) · absmax[:, None], first n, W's shape
 * </pre>
 *
 * Every frozen tensor enters through {@link GraphOps#after} on the layer's input x, so W is
 * computed at each step just before the layer runs (not folded into a float32 constant when the
 * session opens), and the backward computes it again after the layer's incoming gradient rather
 * than keeping it alive from the forward.
 */
final class Dequantised {
  private Dequantised() {}

  /**
   * Declares {@code q}'s tensors under {@code site.module()}: {@code weight.codes}, and {@code
   * weight.absmax} or {@code weight.absmax_codes} and {@code weight.nested_absmax}.
   */
  static QuantisedWeight declare(Adaptation adaptation, LinearSite site, FourBit.Quantised q) {
    String owner = site.module();
    Tensor packed =
        adaptation.frozen(owner, "weight.codes", bytes(new long[] {q.packed().length}, q.packed()));
    if (!q.nested()) {
      return new QuantisedWeight(
          q.type(),
          q.n(),
          0f,
          packed,
          adaptation.frozen(
              owner, "weight.absmax", HostTensor.ofFloats(new long[] {q.blocks()}, q.absmax())),
          null,
          null);
    }
    return new QuantisedWeight(
        q.type(),
        q.n(),
        q.offset(),
        packed,
        null,
        adaptation.frozen(
            owner, "weight.absmax_codes", bytes(new long[] {q.blocks()}, q.absmaxCodes())),
        adaptation.frozen(
            owner,
            "weight.nested_absmax",
            HostTensor.ofFloats(new long[] {q.nestedAbsmax().length}, q.nestedAbsmax())));
  }

  /**
   * W computed from {@code q}'s tensors after {@code x}.
   *
   * @param shape W's shape as the graph holds it ((out, in), or (in, out) for a Conv1D)
   */
  static Tensor weight(GraphOps g, QuantisedWeight q, long[] shape, Tensor x) {
    Tensor absmax =
        q.nested()
            ? nestedAbsmax(
                g,
                g.after(q.absmaxCodes(), x),
                g.after(q.nestedAbsmax(), x),
                q.offset(),
                q.blocks())
            : g.reshape(g.after(q.absmax(), x), (long) q.blocks()); // (blocks)
    long bytes = (q.n() + 1) / 2;
    // (2·ceil(n/2)), INT32; a checkpoint stores the bytes as (ceil(n/2), 1)
    Tensor codes = g.unpackNibbles(g.reshape(g.after(q.packed(), x), bytes));
    Tensor values = g.gather(g.constant(floats(q.type().code())), codes, 0); // (2·ceil(n/2))
    long padded = (long) q.blocks() * FourBit.BLOCK;
    long unpacked = 2L * bytes;
    if (unpacked < padded) {
      values = g.pad(values, 0, 0, padded - unpacked); // (blocks·64)
    }
    Tensor w = g.mul(g.reshape(values, q.blocks(), FourBit.BLOCK), g.unsqueeze(absmax, 1));
    w = g.reshape(w, padded); // (blocks·64)
    if (padded > q.n()) {
      w = g.slice(w, 0, 0, q.n()); // (n)
    }
    Object[] dims = new Object[shape.length];
    for (int i = 0; i < shape.length; i++) {
      dims[i] = shape[i];
    }
    return g.reshape(w, dims); // W's shape
  }

  /**
   * absmax[b] = DYNAMIC[codes[b]] · nested[b / 256] + offset, as bitsandbytes' {@code
   * dequantize_blockwise}: the codes' values padded to whole groups of 256, scaled per group.
   */
  private static Tensor nestedAbsmax(
      GraphOps g, Tensor codes, Tensor nested, float offset, int blocks) {
    Tensor q =
        g.gather(g.constant(floats(FourBit.dynamic())), g.cast(codes, DType.INT32), 0); // (blocks)
    int groups = (blocks + FourBit.NESTED_BLOCK - 1) / FourBit.NESTED_BLOCK;
    long padded = (long) groups * FourBit.NESTED_BLOCK;
    if (padded > blocks) {
      q = g.pad(q, 0, 0, padded - blocks); // (groups·256)
    }
    Tensor scaled =
        g.mul(g.reshape(q, groups, FourBit.NESTED_BLOCK), g.unsqueeze(nested, 1)); // (groups, 256)
    Tensor flat = g.reshape(scaled, padded); // (groups·256)
    if (padded > blocks) {
      flat = g.slice(flat, 0, 0, blocks); // (blocks)
    }
    return g.add(flat, g.scalar(offset, DType.FLOAT32));
  }

  private static NdArray floats(float[] v) {
    double[] d = new double[v.length];
    for (int i = 0; i < v.length; i++) {
      d[i] = v[i];
    }
    return NdArray.of(DType.FLOAT32, new long[] {v.length}, d);
  }

  private static HostTensor bytes(long[] shape, byte[] values) {
    ByteBuffer b = ByteBuffer.allocateDirect(values.length).order(ByteOrder.nativeOrder());
    b.put(values).flip();
    return new HostTensor(DType.UINT8, shape, b);
  }
}
