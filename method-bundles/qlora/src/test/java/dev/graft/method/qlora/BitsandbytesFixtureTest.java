package dev.graft.method.qlora;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.api.quant.FourBit;
import java.io.InputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The quantiser against {@code bnb4bit.json}, written by {@code tools/qlora_fixture.py}
 * (bitsandbytes' reference backend reimplemented in torch) for 203 values with a block of zeros, an
 * outlier and a partial last block: codes and scales equal, values within float32 rounding.
 */
class BitsandbytesFixtureTest {
  private static JsonNode fixture() throws Exception {
    try (InputStream in = BitsandbytesFixtureTest.class.getResourceAsStream("/bnb4bit.json")) {
      return new ObjectMapper().readTree(in);
    }
  }

  static float[] floats(JsonNode array) {
    float[] v = new float[array.size()];
    for (int i = 0; i < v.length; i++) {
      v[i] = (float) array.get(i).asDouble();
    }
    return v;
  }

  private static byte[] bytes(JsonNode array) {
    byte[] v = new byte[array.size()];
    for (int i = 0; i < v.length; i++) {
      v[i] = (byte) array.get(i).asInt();
    }
    return v;
  }

  @ParameterizedTest
  @ValueSource(strings = {"nf4", "fp4"})
  void codesAndScalesEqualBitsandbytes(String type) throws Exception {
    JsonNode f = fixture();
    JsonNode c = f.get("cases").get(type);
    float[] w = floats(f.get("weight"));
    FourBit.Type t = FourBit.Type.valueOf(type.toUpperCase(java.util.Locale.ROOT));
    FourBit.Quantised plain = FourBit.quantise(w, t, false);
    assertArrayEquals(bytes(c.get("packed")), plain.packed());
    assertArrayEquals(floats(c.get("absmax")), plain.absmax());
    assertArrayEquals(floats(c.get("dequantised")), plain.dequantise(), 1e-6f);
    FourBit.Quantised nested = FourBit.quantise(w, t, true);
    assertArrayEquals(bytes(c.get("packed")), nested.packed());
    assertEquals((float) c.get("offset").asDouble(), nested.offset(), 1e-6f);
    assertArrayEquals(bytes(c.get("absmax_codes")), nested.absmaxCodes());
    assertArrayEquals(floats(c.get("nested_absmax")), nested.nestedAbsmax(), 1e-6f);
    assertArrayEquals(floats(c.get("dequantised_double")), nested.dequantise(), 1e-6f);
  }

  /**
   * Within one unit in the last place: torch's float32 linspace rounds its vectorised lanes
   * otherwise than its scalar tail (and by CPU), and Graft computes every point as the scalar path
   * does.
   */
  @Test
  void theEightBitDynamicMapEqualsBitsandbytesWithinOneUlp() throws Exception {
    assertArrayEquals(floats(fixture().get("dynamic_map")), FourBit.dynamic(), 1.2e-7f);
  }
}
