package dev.graft.model.impl;

/** Open-addressing map from long to long without boxing (BPE merges: 150k entries for Qwen). */
final class LongLongMap {

  static final long MISSING = Long.MIN_VALUE;

  private long[] keys;
  private long[] values;
  private boolean[] used;
  private int size;

  LongLongMap(int expected) {
    int capacity = Integer.highestOneBit(Math.max(4, expected * 2 - 1)) << 1;
    keys = new long[capacity];
    values = new long[capacity];
    used = new boolean[capacity];
  }

  /** Inserts unless the key is present; returns whether it was inserted. */
  boolean putIfAbsent(long key, long value) {
    if (2 * (size + 1) > keys.length) {
      grow();
    }
    int i = slot(key);
    if (used[i]) {
      return false;
    }
    used[i] = true;
    keys[i] = key;
    values[i] = value;
    size++;
    return true;
  }

  long get(long key) {
    int i = slot(key);
    return used[i] ? values[i] : MISSING;
  }

  private int slot(long key) {
    int mask = keys.length - 1;
    long h = key * 0x9E3779B97F4A7C15L;
    int i = (int) (h ^ (h >>> 32)) & mask;
    while (used[i] && keys[i] != key) {
      i = (i + 1) & mask;
    }
    return i;
  }

  private void grow() {
    long[] oldKeys = keys;
    long[] oldValues = values;
    boolean[] oldUsed = used;
    keys = new long[oldKeys.length * 2];
    values = new long[oldKeys.length * 2];
    used = new boolean[oldKeys.length * 2];
    size = 0;
    for (int i = 0; i < oldKeys.length; i++) {
      if (oldUsed[i]) {
        putIfAbsent(oldKeys[i], oldValues[i]);
      }
    }
  }
}
