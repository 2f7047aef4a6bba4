package dev.graft.model.impl;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.model.impl.AddedVocabulary.AddedToken;
import dev.graft.model.impl.TokenizerImpl.Affixes;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/** Reads a tokenizer from a Hugging Face folder. */
public final class TokenizerLoader {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String[] SPECIAL_NAMES = {
    "bos_token", "eos_token", "pad_token", "unk_token"
  };

  private TokenizerLoader() {}

  /**
   * Loads {@code tokenizer.json}, or GPT-2's {@code vocab.json} + {@code merges.txt}, with the
   * special tokens and BOS/EOS flags of {@code tokenizer_config.json} when present.
   */
  public static TokenizerImpl load(Path folder) throws IOException {
    JsonNode config = readJson(folder.resolve("tokenizer_config.json"));
    JsonNode specialMap = readJson(folder.resolve("special_tokens_map.json"));
    Path tokenizerJson = folder.resolve("tokenizer.json");
    if (Files.exists(tokenizerJson)) {
      return fromTokenizerJson(tokenizerJson, config, specialMap);
    }
    Path vocab = folder.resolve("vocab.json");
    Path merges = folder.resolve("merges.txt");
    if (Files.exists(vocab) && Files.exists(merges)) {
      return fromVocabAndMerges(vocab, merges, config, specialMap);
    }
    throw new IllegalArgumentException(
        folder + ": holds neither tokenizer.json nor vocab.json with merges.txt.");
  }

  private static JsonNode readJson(Path file) throws IOException {
    if (!Files.exists(file)) {
      return null;
    }
    try {
      return JSON.readTree(file.toFile());
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException(
          file.getFileName() + ": is not valid JSON (" + e.getOriginalMessage() + ").");
    }
  }

  private static TokenizerImpl fromTokenizerJson(Path path, JsonNode config, JsonNode specialMap)
      throws IOException {
    String file = path.getFileName().toString();
    JsonNode root = readJson(path);
    JsonNode model = root.path("model");
    String type = model.path("type").asText();
    if (!type.equals("BPE")) {
      throw Normalizers.unsupported(file, "model", type, "BPE");
    }
    for (String affix : new String[] {"continuing_subword_prefix", "end_of_word_suffix"}) {
      if (!model.path(affix).asText("").isEmpty()) {
        throw new IllegalArgumentException(
            file + ": BPE " + affix + " " + model.get(affix) + " is not supported.");
      }
    }
    JsonNode vocabNode = model.path("vocab");
    if (!vocabNode.isObject() || vocabNode.isEmpty()) {
      throw new IllegalArgumentException(
          file + ": model.vocab must be a non-empty object of token to id; export it again.");
    }
    // Ids index arrays: each must lie within a bound that the file's own size justifies.
    long limit = 4L * vocabNode.size() + 65_536;
    Map<String, Integer> vocab = new HashMap<>(vocabNode.size() * 2);
    vocabNode
        .fields()
        .forEachRemaining(
            kv -> vocab.put(kv.getKey(), id(file, kv.getKey(), kv.getValue(), limit)));
    JsonNode mergesNode = model.path("merges");
    List<String[]> merges = new ArrayList<>(mergesNode.size());
    for (JsonNode m : mergesNode) {
      if (m.isArray() && (m.size() != 2 || !m.get(0).isTextual() || !m.get(1).isTextual())) {
        throw new IllegalArgumentException(
            file + ": merge " + m + " is not a pair of two token strings; export it again.");
      }
      merges.add(
          m.isArray()
              ? new String[] {m.get(0).asText(), m.get(1).asText()}
              : pair(m.asText(), file));
    }
    JsonNode unk = model.get("unk_token");
    Bpe bpe =
        new Bpe(
            vocab,
            merges,
            merges.size(),
            unk == null || unk.isNull() ? null : unk.asText(),
            model.path("byte_fallback").asBoolean(false),
            model.path("fuse_unk").asBoolean(false),
            model.path("ignore_merges").asBoolean(false),
            file);
    List<AddedToken> added = new ArrayList<>();
    for (JsonNode t : root.path("added_tokens")) {
      added.add(
          new AddedToken(
              id(file, t.path("content").asText(), t.path("id"), limit),
              t.path("content").asText(),
              t.path("special").asBoolean(false),
              t.path("lstrip").asBoolean(false),
              t.path("rstrip").asBoolean(false),
              t.path("single_word").asBoolean(false)));
    }
    var normalizer = Normalizers.from(root.get("normalizer"), file);
    var pre = PreTokenizers.from(root.get("pre_tokenizer"), file);
    var decoder = Decoders.from(root.get("decoder"), file);
    Map<String, Integer> ids = new HashMap<>(vocab);
    added.forEach(t -> ids.put(t.content(), t.id()));
    Affixes affixes = postProcessor(root.get("post_processor"), file);
    String[] names = specialTokens(config, specialMap);
    if (names[3] == null && unk != null && !unk.isNull()) {
      names[3] = unk.asText();
    }
    affixes = llamaFlags(config, names, ids, affixes);
    return new TokenizerImpl(bpe, added, normalizer, pre, decoder, affixes, idsOf(names, ids));
  }

  /** A token id: an integer from 0 to {@code limit} − 1. */
  private static int id(String file, String token, JsonNode id, long limit) {
    if (!id.canConvertToExactIntegral()
        || !id.canConvertToLong()
        || id.asLong() < 0
        || id.asLong() >= limit) {
      throw new IllegalArgumentException(
          file
              + ": token \""
              + token
              + "\" has id "
              + id
              + ", not an integer from 0 to "
              + (limit - 1)
              + "; the file is damaged: export it again.");
    }
    return id.asInt();
  }

  private static String[] pair(String merge, String file) {
    int space = merge.indexOf(' ');
    if (space <= 0 || space != merge.lastIndexOf(' ') || space == merge.length() - 1) {
      throw new IllegalArgumentException(
          file + ": merge \"" + merge + "\" is not two tokens separated by one space.");
    }
    return new String[] {merge.substring(0, space), merge.substring(space + 1)};
  }

  /** GPT-2's original files: byte-level BPE, no post-processor, {@code <|endoftext|>} special. */
  private static TokenizerImpl fromVocabAndMerges(
      Path vocabPath, Path mergesPath, JsonNode config, JsonNode specialMap) throws IOException {
    String vocabFile = vocabPath.getFileName().toString();
    Map<String, Integer> vocab = new HashMap<>();
    JsonNode vocabNode = readJson(vocabPath);
    vocabNode.fields().forEachRemaining(kv -> vocab.put(kv.getKey(), kv.getValue().asInt()));
    List<String[]> merges = new ArrayList<>();
    String mergesFile = mergesPath.getFileName().toString();
    for (String line : Files.readAllLines(mergesPath)) {
      if (!line.isBlank() && !line.startsWith("#version")) {
        merges.add(pair(line.strip(), mergesFile));
      }
    }
    Bpe bpe = new Bpe(vocab, merges, merges.size(), null, false, false, false, mergesFile);
    List<AddedToken> added = new ArrayList<>();
    JsonNode decoderNode = config == null ? null : config.get("added_tokens_decoder");
    if (decoderNode != null && decoderNode.isObject()) {
      for (Iterator<Map.Entry<String, JsonNode>> it = decoderNode.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> kv = it.next();
        JsonNode t = kv.getValue();
        added.add(
            new AddedToken(
                Integer.parseInt(kv.getKey()),
                t.path("content").asText(),
                t.path("special").asBoolean(false),
                t.path("lstrip").asBoolean(false),
                t.path("rstrip").asBoolean(false),
                t.path("single_word").asBoolean(false)));
      }
    } else {
      Integer eot = vocab.get("<|endoftext|>");
      if (eot == null) {
        throw new IllegalArgumentException(vocabFile + ": has no \"<|endoftext|>\" token.");
      }
      added.add(new AddedToken(eot, "<|endoftext|>", true, false, false, false));
    }
    String[] names = specialTokens(config, specialMap);
    for (int i : new int[] {0, 1, 3}) {
      if (names[i] == null && config == null) {
        names[i] = "<|endoftext|>";
      }
    }
    Map<String, Integer> ids = new HashMap<>(vocab);
    added.forEach(t -> ids.put(t.content(), t.id()));
    return new TokenizerImpl(
        bpe,
        added,
        null,
        PreTokenizers.byteLevel(false, true),
        Decoders.from(JSON.createObjectNode().put("type", "ByteLevel"), vocabFile),
        Affixes.NONE,
        idsOf(names, ids));
  }

  /** bos, eos, pad, unk token strings from tokenizer_config.json, then special_tokens_map.json. */
  private static String[] specialTokens(JsonNode config, JsonNode specialMap) {
    String[] names = new String[4];
    for (int i = 0; i < 4; i++) {
      for (JsonNode source : new JsonNode[] {config, specialMap}) {
        JsonNode n = source == null ? null : source.get(SPECIAL_NAMES[i]);
        if (names[i] == null && n != null && !n.isNull()) {
          names[i] = n.isObject() ? n.path("content").asText() : n.asText();
        }
      }
    }
    return names;
  }

  private static int[] idsOf(String[] names, Map<String, Integer> ids) {
    int[] out = new int[4];
    for (int i = 0; i < 4; i++) {
      Integer id = names[i] == null ? null : ids.get(names[i]);
      out[i] = id == null ? -1 : id;
    }
    return out;
  }

  /**
   * Transformers' Llama tokenizers rebuild the post-processor from {@code add_bos_token} and {@code
   * add_eos_token}, so for them those flags decide.
   */
  private static Affixes llamaFlags(
      JsonNode config, String[] names, Map<String, Integer> ids, Affixes affixes) {
    if (config == null
        || !config.path("tokenizer_class").asText().startsWith("Llama")
        || !(config.has("add_bos_token") || config.has("add_eos_token"))) {
      return affixes;
    }
    boolean bos = config.path("add_bos_token").asBoolean(true) && ids.containsKey(names[0]);
    boolean eos = config.path("add_eos_token").asBoolean(false) && ids.containsKey(names[1]);
    return new Affixes(
        bos ? new int[] {ids.get(names[0])} : new int[0],
        eos ? new int[] {ids.get(names[1])} : new int[0]);
  }

  /** The special tokens a post-processor adds around a single sequence. */
  private static Affixes postProcessor(JsonNode node, String file) {
    if (node == null || node.isNull()) {
      return Affixes.NONE;
    }
    String type = node.path("type").asText();
    switch (type) {
      case "ByteLevel":
        return Affixes.NONE;
      case "TemplateProcessing":
        {
          IntList prefix = new IntList(2);
          IntList suffix = new IntList(2);
          boolean seenSequence = false;
          for (JsonNode item : node.path("single")) {
            if (item.has("Sequence")) {
              seenSequence = true;
              continue;
            }
            String name = item.path("SpecialToken").path("id").asText();
            JsonNode special = node.path("special_tokens").path(name);
            if (special.isMissingNode()) {
              throw new IllegalArgumentException(
                  file
                      + ": post_processor uses special token \""
                      + name
                      + "\" without defining it.");
            }
            for (JsonNode id : special.path("ids")) {
              (seenSequence ? suffix : prefix).add(id.asInt());
            }
          }
          return new Affixes(prefix.toArray(), suffix.toArray());
        }
      case "RobertaProcessing":
      case "BertProcessing":
        return new Affixes(
            new int[] {node.path("cls").get(1).asInt()},
            new int[] {node.path("sep").get(1).asInt()});
      case "Sequence":
        {
          IntList prefix = new IntList(2);
          IntList suffix = new IntList(2);
          List<Affixes> inner = new ArrayList<>();
          node.path("processors").forEach(p -> inner.add(postProcessor(p, file)));
          for (int i = inner.size() - 1; i >= 0; i--) {
            prefix.addAll(inner.get(i).prefix());
          }
          inner.forEach(a -> suffix.addAll(a.suffix()));
          return new Affixes(prefix.toArray(), suffix.toArray());
        }
      default:
        throw Normalizers.unsupported(
            file,
            "post_processor",
            type,
            "TemplateProcessing, ByteLevel, RobertaProcessing, BertProcessing, Sequence");
    }
  }
}
