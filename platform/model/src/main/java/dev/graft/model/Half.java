package dev.graft.model;

/**
 * IEEE 754 binary16 and bfloat16 conversions (Java 17 has no {@code Float.float16ToFloat}); float
 * to the 16-bit formats rounds to nearest even.
 */
final class Half {

  private Half() {}

  static float toFloat(short h) {
    int bits = h & 0xffff;
    int sign = (bits & 0x8000) << 16;
    int exp = (bits >>> 10) & 0x1f;
    int mant = bits & 0x3ff;
    if (exp == 0x1f) { // Inf or NaN
      return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
    }
    if (exp == 0) {
      // zero or subnormal: mant * 2^-24
      float v = mant * 0x1p-24f;
      return sign == 0 ? v : -v;
    }
    return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
  }

  static float bfloat16ToFloat(short b) {
    return Float.intBitsToFloat((b & 0xffff) << 16);
  }

  static short fromFloat(float f) {
    int bits = Float.floatToRawIntBits(f);
    int sign = (bits >>> 16) & 0x8000;
    int exp = (bits >>> 23) & 0xff;
    int mant = bits & 0x7fffff;
    if (exp == 0xff) { // Inf stays Inf, NaN stays a quiet NaN
      return (short) (sign | 0x7c00 | (mant != 0 ? 0x200 : 0));
    }
    int e = exp - 127 + 15;
    if (e >= 0x1f) { // beyond 65504: Inf
      return (short) (sign | 0x7c00);
    }
    int half;
    int rest;
    int mid;
    if (e <= 0) {
      if (e < -10) { // below half the smallest subnormal: zero
        return (short) sign;
      }
      // subnormal: (mant | 2^23) * 2^(exp-150) = half * 2^-24, so half = m >> (14 - e)
      int m = mant | 0x800000;
      int shift = 14 - e;
      half = m >>> shift;
      rest = m & ((1 << shift) - 1);
      mid = 1 << (shift - 1);
    } else {
      half = (e << 10) | (mant >>> 13);
      rest = mant & 0x1fff;
      mid = 0x1000;
    }
    // Round to nearest even; a carry out of the mantissa correctly bumps the exponent (up to Inf).
    if (rest > mid || (rest == mid && (half & 1) == 1)) {
      half++;
    }
    return (short) (sign | half);
  }

  static short toBfloat16(float f) {
    if (Float.isNaN(f)) {
      return (short) 0x7fc0;
    }
    int bits = Float.floatToRawIntBits(f);
    // Round to nearest even on the 16 bits that are dropped.
    return (short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16);
  }
}
