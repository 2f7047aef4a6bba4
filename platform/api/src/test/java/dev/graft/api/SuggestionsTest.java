package dev.graft.api;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class SuggestionsTest {
  @Test
  void aTypoFindsTheClosestName() {
    assertEquals(
        Optional.of("lora"), Suggestions.nearest("lorra", List.of("dora", "lora", "qlora")));
  }

  @Test
  void aNameFarFromEverythingFindsNothing() {
    assertEquals(Optional.empty(), Suggestions.nearest("prefix", List.of("lora", "dora")));
  }

  @Test
  void theSentenceQuotesTheValueAndListsWhatExists() {
    assertEquals(
        "Unknown method \"lorra\". Installed: dora, lora. Did you mean \"lora\"? See 'graft:methods'.",
        Suggestions.unknown(
            "method", "lorra", List.of("lora", "dora"), "Installed", "See 'graft:methods'."));
    assertEquals(
        "Unknown backend \"tpu\". Known: none.",
        Suggestions.unknown("backend", "tpu", List.of(), "Known", ""));
  }

  @Test
  void editDistanceCountsInsertionsDeletionsAndSubstitutions() {
    assertEquals(0, Suggestions.distance("lora", "lora"));
    assertEquals(1, Suggestions.distance("lora", "lorra"));
    assertEquals(3, Suggestions.distance("kitten", "sitting"));
    assertEquals(1, Suggestions.distance("alpah", "alpha"));
  }
}
