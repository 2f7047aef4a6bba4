package dev.graft.api.adapt;

import dev.graft.api.quant.FourBit;
import dev.graft.graph.Tensor;

/**
 * A base weight that the checkpoint stores 4-bit quantised ({@code graft:quantize}'s layout), as
 * frozen graph tensors that the platform feeds from the checkpoint in their stored types: a method
 * computes the weight from them inside the step ({@link FourBit.Quantised#dequantise()} says how)
 * instead of reading it as floats.
 *
 * @param type the 4-bit data type
 * @param n elements of the weight
 * @param offset the mean absmax subtracted before its quantisation; 0 unless double-quantised
 * @param packed UINT8 (ceil(n / 2)), two codes a byte, high nibble first
 * @param absmax FLOAT32 (blocks); null when double-quantised
 * @param absmaxCodes UINT8 (blocks); null unless double-quantised
 * @param nestedAbsmax FLOAT32 (ceil(blocks / 256)); null unless double-quantised
 */
public record QuantisedWeight(
    FourBit.Type type,
    int n,
    float offset,
    Tensor packed,
    Tensor absmax,
    Tensor absmaxCodes,
    Tensor nestedAbsmax) {
  /** Whether the block scales are themselves quantised (double quantisation). */
  public boolean nested() {
    return absmaxCodes != null;
  }

  /** How many blocks of {@value FourBit#BLOCK} the weight has. */
  public int blocks() {
    return (n + FourBit.BLOCK - 1) / FourBit.BLOCK;
  }
}
