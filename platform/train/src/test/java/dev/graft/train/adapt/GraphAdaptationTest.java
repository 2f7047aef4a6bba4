package dev.graft.train.adapt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.graft.api.adapt.SampleFormat;
import dev.graft.graph.DType;
import java.util.List;
import org.junit.jupiter.api.Test;

class GraphAdaptationTest {
  @Test
  void twoMethodsThatBothFormatSamplesAreAClearError() {
    GraphAdaptation adaptation = new GraphAdaptation(null, true, DType.FLOAT32);
    SampleFormat format = (sample, context) -> List.of();
    adaptation.adapting("instruction-tuning");
    adaptation.sampleFormat(format);
    adaptation.adapting("dpo");
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> adaptation.sampleFormat(format));
    assertEquals(
        "Methods instruction-tuning and dpo both set how samples are formatted; combine at most"
            + " one of them.",
        e.getMessage());
    assertSame(format, adaptation.sampleFormat());
    assertEquals("instruction-tuning", adaptation.sampleFormatOwner());
  }
}
