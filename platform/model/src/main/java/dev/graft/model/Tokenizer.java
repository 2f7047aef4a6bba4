package dev.graft.model;

import dev.graft.model.impl.TokenizerImpl;
import dev.graft.model.impl.TokenizerLoader;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * A Hugging Face tokenizer: byte-level BPE (GPT-2, Llama 3, Qwen2/3) or SentencePiece-style BPE
 * with byte fallback (Llama 2), read from {@code tokenizer.json} (or GPT-2's {@code vocab.json} +
 * {@code merges.txt}) and {@code tokenizer_config.json}. Encoding matches the Rust {@code
 * tokenizers} library id for id; {@code decode(encode(s)) == s} for ordinary text. Thread-safe.
 */
public final class Tokenizer {

  private final TokenizerImpl impl;

  private Tokenizer(TokenizerImpl impl) {
    this.impl = impl;
  }

  /**
   * Loads the tokenizer of a model folder.
   *
   * @throws IllegalArgumentException when a file is malformed or uses an unsupported model,
   *     normalizer, pre-tokenizer, decoder or post-processor (one sentence naming file and type)
   */
  public static Tokenizer load(Path folder) throws IOException {
    return new Tokenizer(TokenizerLoader.load(folder));
  }

  /**
   * Token ids of {@code text}. With {@code addSpecialTokens}, the special tokens the tokenizer's
   * post-processor (or {@code add_bos_token}/{@code add_eos_token}) asks for surround them. Special
   * tokens written in the text (e.g. {@code <|im_start|>}) become their ids.
   */
  public int[] encode(String text, boolean addSpecialTokens) {
    return impl.encode(text, addSpecialTokens);
  }

  /** The text of {@code ids}, leaving out special tokens when {@code skipSpecialTokens}. */
  public String decode(int[] ids, boolean skipSpecialTokens) {
    return impl.decode(ids, skipSpecialTokens);
  }

  /** Number of token ids, added tokens included ({@code len(tokenizer)} in transformers). */
  public int vocabSize() {
    return impl.vocabSize();
  }

  /** The id of a token (vocabulary or added token). */
  public OptionalInt tokenToId(String token) {
    return of(impl.id(token));
  }

  /** The token of an id. */
  public Optional<String> idToToken(int id) {
    return Optional.ofNullable(impl.token(id));
  }

  /** Whether an id is a special token (left out by {@code decode(ids, true)}). */
  public boolean isSpecial(int id) {
    return impl.isSpecial(id);
  }

  /** Beginning-of-sequence token id. */
  public OptionalInt bosId() {
    return of(impl.specialId(0));
  }

  /** End-of-sequence token id (tokenizer_config.json's {@code eos_token}). */
  public OptionalInt eosId() {
    return of(impl.specialId(1));
  }

  /** Padding token id. */
  public OptionalInt padId() {
    return of(impl.specialId(2));
  }

  /** Unknown token id. */
  public OptionalInt unkId() {
    return of(impl.specialId(3));
  }

  private static OptionalInt of(int id) {
    return id < 0 ? OptionalInt.empty() : OptionalInt.of(id);
  }
}
