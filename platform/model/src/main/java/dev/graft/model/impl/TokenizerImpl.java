package dev.graft.model.impl;

import dev.graft.model.impl.AddedVocabulary.AddedToken;
import dev.graft.model.impl.AddedVocabulary.Segment;
import dev.graft.model.impl.PreTokenizers.PreTokenizer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;

/**
 * The tokenization pipeline of Hugging Face {@code tokenizers}: added tokens are cut out, the rest
 * is normalized, pre-tokenized and run through BPE; special tokens are added around the result;
 * decoding maps ids to tokens and runs the decoder chain.
 */
public final class TokenizerImpl {

  /** Ids a post-processor puts around a single sequence. */
  record Affixes(int[] prefix, int[] suffix) {
    static final Affixes NONE = new Affixes(new int[0], new int[0]);
  }

  private final Bpe model;
  private final AddedVocabulary added;
  private final Map<Integer, AddedToken> addedById;
  private final Map<String, Integer> addedByContent;
  private final UnaryOperator<String> normalizer;
  private final PreTokenizer preTokenizer;
  private final UnaryOperator<List<String>> decoder;
  private final Affixes affixes;
  private final int[] specialIds; // bos, eos, pad, unk; -1 when unset

  TokenizerImpl(
      Bpe model,
      List<AddedToken> addedTokens,
      UnaryOperator<String> normalizer,
      PreTokenizer preTokenizer,
      UnaryOperator<List<String>> decoder,
      Affixes affixes,
      int[] specialIds) {
    this.model = model;
    this.added = new AddedVocabulary(addedTokens);
    this.addedById = new java.util.HashMap<>();
    this.addedByContent = new java.util.HashMap<>();
    for (AddedToken t : addedTokens) {
      addedById.put(t.id(), t);
      addedByContent.put(t.content(), t.id());
    }
    this.normalizer = normalizer;
    this.preTokenizer = preTokenizer;
    this.decoder = decoder;
    this.affixes = affixes;
    this.specialIds = specialIds.clone();
  }

  /** Token ids of {@code text}, with the post-processor's special tokens when asked. */
  public int[] encode(String text, boolean addSpecialTokens) {
    IntList out = new IntList(text.length() / 3 + 4);
    if (addSpecialTokens) {
      out.addAll(affixes.prefix());
    }
    for (Segment s : added.split(text)) {
      if (s.id() >= 0) {
        out.add(s.id());
        continue;
      }
      String normalized = normalizer == null ? s.text() : normalizer.apply(s.text());
      List<String> words =
          preTokenizer == null
              ? List.of(normalized)
              : PreTokenizers.apply(preTokenizer, List.of(normalized), s.atStart());
      for (String w : words) {
        if (!w.isEmpty()) {
          model.encode(w, out);
        }
      }
    }
    if (addSpecialTokens) {
      out.addAll(affixes.suffix());
    }
    return out.toArray();
  }

  /** Text of {@code ids}; special added tokens are left out when asked. Unknown ids are skipped. */
  public String decode(int[] ids, boolean skipSpecialTokens) {
    List<String> tokens = new ArrayList<>(ids.length);
    for (int id : ids) {
      AddedToken a = addedById.get(id);
      if (a != null && a.special() && skipSpecialTokens) {
        continue;
      }
      String t = a != null ? a.content() : model.token(id);
      if (t != null) {
        tokens.add(t);
      }
    }
    List<String> parts = decoder == null ? tokens : decoder.apply(tokens);
    return String.join("", parts);
  }

  /** Number of ids: the model vocabulary and the added tokens beyond it. */
  public int vocabSize() {
    int max = model.vocabSize() - 1;
    for (int id : addedById.keySet()) {
      max = Math.max(max, id);
    }
    return max + 1;
  }

  /** The token of an id, or null. */
  public String token(int id) {
    AddedToken a = addedById.get(id);
    return a != null ? a.content() : model.token(id);
  }

  /** The id of a token, or -1. */
  public int id(String token) {
    Integer id = addedByContent.get(token);
    if (id == null) {
      id = model.id(token);
    }
    return id == null ? -1 : id;
  }

  /** Whether the id is a special added token. */
  public boolean isSpecial(int id) {
    AddedToken a = addedById.get(id);
    return a != null && a.special();
  }

  /** Special token id by index: 0 bos, 1 eos, 2 pad, 3 unk; -1 when unset. */
  public int specialId(int which) {
    return specialIds[which];
  }
}
