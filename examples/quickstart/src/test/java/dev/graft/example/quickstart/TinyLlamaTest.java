package dev.graft.example.quickstart;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.graft.model.ModelConfig;
import dev.graft.model.SafetensorsReader;
import dev.graft.model.Tokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TinyLlamaTest {
  @TempDir Path dir;

  @Test
  void theFolderIsAModelWhoseCheckpointFitsItsConfig() throws Exception {
    long parameters = TinyLlama.write(dir, 1);
    ModelConfig config = ModelConfig.read(dir);
    try (SafetensorsReader weights = SafetensorsReader.open(dir)) {
      config.check(weights);
      long total = 0;
      for (String name : weights.names()) {
        total += weights.floats(name).length;
      }
      assertEquals(parameters, total);
    }
    assertEquals(TinyLlama.VOCAB.size(), config.vocabSize());
    assertEquals(java.util.List.of(2), config.eosTokenIds());
  }

  @Test
  void theTokenizerHasOneTokenPerCharacterAfterBos() throws Exception {
    TinyLlama.write(dir, 1);
    Tokenizer tokenizer = Tokenizer.load(dir);
    String text = "Q: What colour is a blorp?\nA: green";
    int[] ids = tokenizer.encode(text, true);
    assertEquals(text.length() + 1, ids.length);
    assertEquals(tokenizer.bosId().getAsInt(), ids[0]);
    assertEquals(TinyLlama.VOCAB.indexOf("Q"), ids[1]);
    assertEquals(text, tokenizer.decode(ids, true));
    assertEquals(2, tokenizer.eosId().getAsInt());
    assertArrayEquals(new int[] {0}, tokenizer.encode("é", false));
  }

  @Test
  void theSameSeedWritesTheSameWeights() throws Exception {
    TinyLlama.write(dir.resolve("a"), 5);
    TinyLlama.write(dir.resolve("b"), 5);
    assertEquals(
        -1, Files.mismatch(dir.resolve("a/model.safetensors"), dir.resolve("b/model.safetensors")));
  }
}
