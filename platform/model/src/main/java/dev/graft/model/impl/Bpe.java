package dev.graft.model.impl;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Byte-pair encoding as Hugging Face {@code tokenizers} does it: a word starts as one symbol per
 * character (or per byte, {@code <0xNN>}, with byte fallback), then the adjacent pair with the
 * lowest merge rank is merged, leftmost first, until no pair has a merge. Results are cached per
 * word.
 */
public final class Bpe {

  private static final int CACHE_LIMIT = 50_000;
  private static final int CACHEABLE_LENGTH = 256;

  private final Map<String, Integer> vocab;
  private final String[] tokens;
  private final LongLongMap merges;
  private final int unkId;
  private final boolean byteFallback;
  private final boolean fuseUnk;
  private final boolean ignoreMerges;
  private final int[] byteIds;
  private final Map<String, int[]> cache = new ConcurrentHashMap<>();

  /**
   * Builds the model from a vocabulary (token → id) and merges in rank order, each {left, right};
   * {@code unkToken} may be null, {@code source} names the file in errors.
   */
  Bpe(
      Map<String, Integer> vocab,
      Iterable<String[]> merges,
      int mergeCount,
      String unkToken,
      boolean byteFallback,
      boolean fuseUnk,
      boolean ignoreMerges,
      String source) {
    this.vocab = vocab;
    int max = vocab.values().stream().mapToInt(Integer::intValue).max().orElse(-1);
    this.tokens = new String[max + 1];
    vocab.forEach((t, id) -> tokens[id] = t);
    this.merges = new LongLongMap(mergeCount);
    int rank = 0;
    for (String[] pair : merges) {
      Integer a = vocab.get(pair[0]);
      Integer b = vocab.get(pair[1]);
      Integer merged = vocab.get(pair[0] + pair[1]);
      if (a == null || b == null || merged == null) {
        String missing = a == null ? pair[0] : b == null ? pair[1] : pair[0] + pair[1];
        throw new IllegalArgumentException(
            String.format(
                "%s: merge %d (\"%s\" + \"%s\") uses \"%s\", which is not in the vocabulary.",
                source, rank, pair[0], pair[1], missing));
      }
      this.merges.putIfAbsent(pairKey(a, b), ((long) rank << 32) | merged);
      rank++;
    }
    Integer unk = unkToken == null ? null : vocab.get(unkToken);
    if (unkToken != null && unk == null) {
      throw new IllegalArgumentException(
          source + ": unk_token \"" + unkToken + "\" is not in the vocabulary.");
    }
    this.unkId = unk == null ? -1 : unk;
    this.byteFallback = byteFallback;
    this.fuseUnk = fuseUnk;
    this.ignoreMerges = ignoreMerges;
    this.byteIds = new int[256];
    for (int b = 0; b < 256; b++) {
      Integer id = vocab.get(String.format("<0x%02X>", b));
      byteIds[b] = id == null ? -1 : id;
    }
  }

  int vocabSize() {
    return tokens.length;
  }

  String token(int id) {
    return id >= 0 && id < tokens.length ? tokens[id] : null;
  }

  Integer id(String token) {
    return vocab.get(token);
  }

  private static long pairKey(int a, int b) {
    return ((long) a << 32) | (b & 0xffffffffL);
  }

  /** Appends the ids of one pre-tokenized word. */
  void encode(String word, IntList out) {
    int[] ids = cache.get(word);
    if (ids == null) {
      ids = encodeUncached(word);
      if (word.length() <= CACHEABLE_LENGTH) {
        if (cache.size() >= CACHE_LIMIT) {
          cache.clear();
        }
        cache.put(word, ids);
      }
    }
    out.addAll(ids);
  }

  private int[] encodeUncached(String word) {
    if (ignoreMerges) {
      Integer whole = vocab.get(word);
      if (whole != null) {
        return new int[] {whole};
      }
    }
    IntList symbols = new IntList(word.length());
    boolean lastUnk = false;
    for (int i = 0; i < word.length(); ) {
      int cp = word.codePointAt(i);
      String ch = word.substring(i, i + Character.charCount(cp));
      i += ch.length();
      Integer id = vocab.get(ch);
      if (id != null) {
        symbols.add(id);
        lastUnk = false;
        continue;
      }
      if (byteFallback && addBytes(ch, symbols)) {
        lastUnk = false;
        continue;
      }
      if (unkId >= 0 && !(fuseUnk && lastUnk)) {
        symbols.add(unkId);
      }
      lastUnk = unkId >= 0;
    }
    return merge(symbols.toArray());
  }

  private boolean addBytes(String ch, IntList symbols) {
    byte[] bytes = ch.getBytes(StandardCharsets.UTF_8);
    for (byte b : bytes) {
      if (byteIds[b & 0xff] < 0) {
        return false;
      }
    }
    for (byte b : bytes) {
      symbols.add(byteIds[b & 0xff]);
    }
    return true;
  }

  /** Applies merges by rank (then position) with a heap over candidate pairs. */
  private int[] merge(int[] id) {
    int n = id.length;
    if (n < 2) {
      return id;
    }
    int[] prev = new int[n];
    int[] next = new int[n];
    boolean[] gone = new boolean[n];
    LongHeap heap = new LongHeap(n);
    for (int i = 0; i < n; i++) {
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
      if (i + 1 < n) {
        push(heap, id, i, i + 1);
      }
    }
    while (!heap.isEmpty()) {
      long top = heap.pop();
      int rank = (int) (top >>> 32);
      int pos = (int) top;
      int nx = next[pos];
      if (gone[pos] || nx < 0) {
        continue;
      }
      long m = merges.get(pairKey(id[pos], id[nx]));
      if (m == LongLongMap.MISSING || (int) (m >>> 32) != rank) {
        continue; // stale: one of the symbols has merged since
      }
      id[pos] = (int) m;
      gone[nx] = true;
      next[pos] = next[nx];
      if (next[nx] >= 0) {
        prev[next[nx]] = pos;
      }
      if (prev[pos] >= 0) {
        push(heap, id, prev[pos], pos);
      }
      if (next[pos] >= 0) {
        push(heap, id, pos, next[pos]);
      }
    }
    IntList out = new IntList(n);
    for (int i = 0; i >= 0; i = next[i]) {
      out.add(id[i]);
    }
    return out.toArray();
  }

  private void push(LongHeap heap, int[] id, int left, int right) {
    long m = merges.get(pairKey(id[left], id[right]));
    if (m != LongLongMap.MISSING) {
      heap.push((m & 0xffffffff00000000L) | left);
    }
  }

  /** Min-heap of longs. */
  private static final class LongHeap {
    private long[] a;
    private int size;

    LongHeap(int capacity) {
      a = new long[Math.max(4, capacity)];
    }

    boolean isEmpty() {
      return size == 0;
    }

    void push(long v) {
      if (size == a.length) {
        a = java.util.Arrays.copyOf(a, size * 2);
      }
      int i = size++;
      while (i > 0) {
        int p = (i - 1) / 2;
        if (a[p] <= v) {
          break;
        }
        a[i] = a[p];
        i = p;
      }
      a[i] = v;
    }

    long pop() {
      long top = a[0];
      long last = a[--size];
      int i = 0;
      while (true) {
        int c = 2 * i + 1;
        if (c >= size) {
          break;
        }
        if (c + 1 < size && a[c + 1] < a[c]) {
          c++;
        }
        if (a[c] >= last) {
          break;
        }
        a[i] = a[c];
        i = c;
      }
      a[i] = last;
      return top;
    }
  }
}
