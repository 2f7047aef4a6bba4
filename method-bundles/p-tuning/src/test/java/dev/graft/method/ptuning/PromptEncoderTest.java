package dev.graft.method.ptuning;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.graft.api.Options;
import dev.graft.api.adapt.AdapterWriter;
import dev.graft.model.SafetensorsReader;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * P-tuning's prompt encoders against torch: {@code tools/p_tuning_encoder_reference.py} builds
 * PEFT's {@code PromptEncoder} modules from torch's {@code nn.Linear} and {@code nn.LSTM} (5
 * virtual tokens of width 6, hidden width 4, 2 LSTM layers), and stores their parameters under
 * PEFT's names with the encoder outputs. Folding the same parameters gives the same table.
 */
class PromptEncoderTest {
  private static final Path FIXTURE = Path.of("src/test/resources/encoder-reference.safetensors");

  @Test
  void theMlpEncoderComputesWhatTorchsModulesCompute() throws Exception {
    assertFoldsToTorchsOutput("MLP");
  }

  @Test
  void theBidirectionalLstmEncoderComputesWhatTorchsModulesCompute() throws Exception {
    assertFoldsToTorchsOutput("LSTM");
  }

  private static void assertFoldsToTorchsOutput(String type) throws Exception {
    PTuningConfig config =
        PTuningConfig.of(
            Options.parse(
                PTuningMethod.INFO,
                Map.of(
                    "num_virtual_tokens", "5",
                    "encoder_reparameterization_type", type,
                    "encoder_hidden_size", "4",
                    "encoder_num_layers", "2")));
    try (SafetensorsReader torch = SafetensorsReader.open(FIXTURE)) {
      float[] folded = new PromptEncoder(config, 6).fold(writer(torch, type), PromptEncoder.OWNER);
      float[] expected = torch.floats(type + ".expected"); // (5, 6)
      double error = 0;
      for (int i = 0; i < expected.length; i++) {
        error = Math.max(error, Math.abs(expected[i] - folded[i]));
      }
      assertEquals(expected.length, folded.length);
      assertEquals(0, error, 1e-6, "max abs difference from torch");
    }
  }

  /** The fixture's parameters of one encoder type, under their PEFT names. */
  private static AdapterWriter writer(SafetensorsReader torch, String type) {
    return new AdapterWriter() {
      @Override
      public List<String> tensors() {
        return List.of();
      }

      @Override
      public List<String> trainables() {
        return List.of();
      }

      @Override
      public long[] shape(String parameter) {
        return torch.info(type + "." + parameter).shape();
      }

      @Override
      public float[] values(String parameter) {
        return torch.floats(type + "." + parameter);
      }

      @Override
      public void write(String name, long[] shape, float[] values) {
        throw new UnsupportedOperationException();
      }
    };
  }
}
