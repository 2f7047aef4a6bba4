package dev.graft.api.quant;

import java.util.Arrays;

/**
 * bitsandbytes' blockwise 4-bit quantisation, as its reference ("default") backend computes it
 * (bitsandbytes/backends/default/ops.py {@code quantize_4bit}, {@code quantize_blockwise}), so that
 * the codes and scales equal bitsandbytes' bit for bit:
 *
 * <pre>
 * flatten W row-major; blocks of 64 (the last one shorter when n is not a multiple of 64)
 * absmax[b] = max |w| over block b                       (float32)
 * scaled    = clamp(w · (1 / absmax[b]), −1, 1)          (float32 reciprocal, then product)
 * code      = argmin_i |scaled − CODE[i]|, first i on ties; NaN (a block of zeros: 0 · ∞) → 0
 * packed    = (code[2k] &lt;&lt; 4) | code[2k+1]; an odd n gets one more code, of scaled = 0
 * </pre>
 *
 * Double quantisation ({@code compress_statistics}): {@code offset = mean(absmax)}; {@code absmax −
 * offset} is quantised the same way to 8 bits with the signed dynamic map, in blocks of 256 with a
 * float32 absmax each. Dequantisation: {@code w = CODE[code] · absmax[b]}, with {@code absmax[b] =
 * DYNAMIC[absmaxCode[b]] · nestedAbsmax[b / 256] + offset}. A block of zeros dequantises to zeros.
 */
public final class FourBit {
  private FourBit() {}

  /** Elements per block of the 4-bit codes (bitsandbytes' default blocksize). */
  public static final int BLOCK = 64;

  /** Blocks per group of the double-quantised absmax values. */
  public static final int NESTED_BLOCK = 256;

  /** The 4-bit data types: the 16 values a code stands for, index = code. */
  public enum Type {
    /** NormalFloat4 (bitsandbytes {@code get_4bit_type("nf4")}). */
    NF4(
        new float[] {
          -1.0f,
          -0.6961928009986877f,
          -0.5250730514526367f,
          -0.39491748809814453f,
          -0.28444138169288635f,
          -0.18477343022823334f,
          -0.09105003625154495f,
          0.0f,
          0.07958029955625534f,
          0.16093020141124725f,
          0.24611230194568634f,
          0.33791524171829224f,
          0.44070982933044434f,
          0.5626170039176941f,
          0.7229568362236023f,
          1.0f
        }),
    /** FP4, 1 sign, 2 exponent and 1 mantissa bit, divided by its largest value 12. */
    FP4(fp4());

    private final float[] code;

    Type(float[] code) {
      this.code = code;
    }

    /** The 16 values, index = code. */
    public float[] code() {
      return code.clone();
    }

    /** bitsandbytes' name: {@code nf4} or {@code fp4}. */
    public String label() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }

    /**
     * The type of bitsandbytes' name.
     *
     * @throws IllegalArgumentException for a name that is neither {@code nf4} nor {@code fp4}
     */
    public static Type of(String label) {
      for (Type t : values()) {
        if (t.label().equals(label)) {
          return t;
        }
      }
      throw new IllegalArgumentException("Unknown 4-bit type \"" + label + "\"; use nf4 or fp4.");
    }
  }

  private static float[] fp4() {
    float[] v = {0, 0.0625f, 8, 12, 4, 6, 2, 3, -0f, -0.0625f, -8, -12, -4, -6, -2, -3};
    for (int i = 0; i < v.length; i++) {
      v[i] /= 12f;
    }
    return v;
  }

  /**
   * A quantised weight.
   *
   * @param type the 4-bit data type
   * @param n elements of the weight
   * @param packed ceil(n / 2) bytes, two codes each, high nibble first
   * @param absmax ceil(n / 64) float32 scales; null when {@code nested}
   * @param absmaxCodes ceil(n / 64) 8-bit codes of {@code absmax − offset}; null unless nested
   * @param nestedAbsmax ceil(ceil(n / 64) / 256) float32 scales of the codes; null unless nested
   * @param offset the mean absmax subtracted before its quantisation; 0 unless nested
   */
  public record Quantised(
      Type type,
      int n,
      byte[] packed,
      float[] absmax,
      byte[] absmaxCodes,
      float[] nestedAbsmax,
      float offset) {
    /** Whether the absmax values are themselves quantised (double quantisation). */
    public boolean nested() {
      return absmaxCodes != null;
    }

    /** How many blocks of 64 the weight has. */
    public int blocks() {
      return FourBit.blocks(n, BLOCK);
    }

    /** The per-block scales, dequantised when nested. */
    public float[] scales() {
      if (!nested()) {
        return absmax.clone();
      }
      float[] dynamic = DYNAMIC;
      float[] s = new float[absmaxCodes.length];
      for (int b = 0; b < s.length; b++) {
        s[b] = dynamic[absmaxCodes[b] & 0xff] * nestedAbsmax[b / NESTED_BLOCK] + offset;
      }
      return s;
    }

    /** The weight's values again: {@code CODE[code] · scale of its block}, row-major. */
    public float[] dequantise() {
      float[] code = type.code;
      float[] scales = scales();
      float[] w = new float[n];
      for (int i = 0; i < n; i++) {
        int b = packed[i / 2] & 0xff;
        int c = i % 2 == 0 ? b >>> 4 : b & 0xf;
        w[i] = code[c] * scales[i / BLOCK];
      }
      return w;
    }

    /** Bytes held for this weight: codes, scales and their codes. */
    public long bytes() {
      return packed.length
          + (nested() ? absmaxCodes.length + 4L * nestedAbsmax.length + 4 : 4L * absmax.length);
    }
  }

  private static final float[] DYNAMIC = dynamicMap();

  /** bitsandbytes' signed dynamic 8-bit map ({@code create_dynamic_map()}), 256 values sorted. */
  public static float[] dynamic() {
    return DYNAMIC.clone();
  }

  /**
   * Quantises {@code w} (row-major, any shape) as bitsandbytes' {@code quantize_4bit(w,
   * blocksize=64, compress_statistics=doubleQuant, quant_type=type)}.
   *
   * @throws IllegalArgumentException for an empty or non-finite weight
   */
  public static Quantised quantise(float[] w, Type type, boolean doubleQuant) {
    if (w.length == 0) {
      throw new IllegalArgumentException("Cannot quantise an empty weight.");
    }
    for (float v : w) {
      if (!Float.isFinite(v)) {
        throw new IllegalArgumentException(
            "Cannot quantise a weight holding " + v + "; check the checkpoint.");
      }
    }
    int n = w.length;
    float[] absmax = absmax(w, BLOCK);
    // An odd n gets one more code, of scaled value 0 (bitsandbytes pads the scaled values).
    byte[] codes = codes(w, absmax, BLOCK, type.code, (n + 1) / 2 * 2);
    byte[] packed = new byte[(n + 1) / 2];
    for (int k = 0; k < packed.length; k++) {
      packed[k] = (byte) ((codes[2 * k] << 4) | codes[2 * k + 1]);
    }
    if (!doubleQuant) {
      return new Quantised(type, n, packed, absmax, null, null, 0f);
    }
    float offset = mean(absmax);
    float[] centred = new float[absmax.length];
    for (int b = 0; b < centred.length; b++) {
      centred[b] = absmax[b] - offset;
    }
    float[] nested = absmax(centred, NESTED_BLOCK);
    byte[] absmaxCodes = codes(centred, nested, NESTED_BLOCK, DYNAMIC, centred.length);
    return new Quantised(type, n, packed, null, absmaxCodes, nested, offset);
  }

  private static int blocks(int n, int block) {
    return (n + block - 1) / block;
  }

  /** max |x| of each block of {@code block} elements; the last may be shorter. */
  private static float[] absmax(float[] x, int block) {
    float[] m = new float[blocks(x.length, block)];
    for (int i = 0; i < x.length; i++) {
      m[i / block] = Math.max(m[i / block], Math.abs(x[i]));
    }
    return m;
  }

  /**
   * The nearest code of each {@code clamp(x · (1/absmax), −1, 1)}, {@code count} codes (those past
   * x's end are of 0).
   */
  private static byte[] codes(float[] x, float[] absmax, int block, float[] code, int count) {
    byte[] out = new byte[count];
    for (int i = 0; i < count; i++) {
      float scaled = 0f;
      if (i < x.length) {
        float inverse = 1f / absmax[i / block];
        scaled = Math.min(1f, Math.max(-1f, x[i] * inverse));
        if (Float.isNaN(x[i] * inverse)) {
          scaled = Float.NaN; // torch.clamp keeps NaN (0 · ∞ in a block of zeros)
        }
      }
      out[i] = (byte) nearest(scaled, code);
    }
    return out;
  }

  /** torch.argmin(|v − code|): the first index of the smallest distance; NaN → 0. */
  private static int nearest(float v, float[] code) {
    if (Float.isNaN(v)) {
      return 0;
    }
    int best = 0;
    float bestDistance = Math.abs(v - code[0]);
    for (int i = 1; i < code.length; i++) {
      float d = Math.abs(v - code[i]);
      if (d < bestDistance) {
        best = i;
        bestDistance = d;
      }
    }
    return best;
  }

  /**
   * The float32 mean, summed in double and rounded once (torch sums float32 in a tree; the two
   * agree to the last bit or one unit in it).
   */
  private static float mean(float[] x) {
    double sum = 0;
    for (float v : x) {
      sum += v;
    }
    return (float) (sum / x.length);
  }

  /**
   * {@code create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8)}: for i in 0..6 the
   * midpoints of {@code linspace(0.1, 1, 2^i + 1)} times ±10^(i−6), then 0 and 1, sorted; float32
   * arithmetic as torch does it (linspace from both ends, as torch's CPU kernel).
   */
  private static float[] dynamicMap() {
    float[] data = new float[256];
    int k = 0;
    for (int i = 0; i < 7; i++) {
      int items = (1 << i) + 1;
      float[] bounds = linspace(0.1f, 1f, items);
      float scale = (float) Math.pow(10, i - 6);
      for (int sign : new int[] {1, -1}) {
        for (int j = 0; j + 1 < items; j++) {
          float mean = (bounds[j] + bounds[j + 1]) / 2f;
          data[k++] = (sign * scale) * mean;
        }
      }
    }
    data[k++] = 0f;
    data[k] = 1f;
    Arrays.sort(data);
    return data;
  }

  /** torch.linspace in float32 on the CPU: the first half from start, the second from end. */
  private static float[] linspace(float start, float end, int steps) {
    float[] v = new float[steps];
    float step = (end - start) / (steps - 1);
    int half = steps / 2;
    for (int i = 0; i < steps; i++) {
      v[i] = i < half ? start + step * i : end - step * (steps - i - 1);
    }
    return v;
  }
}
