package dev.graft.model.impl;

import java.util.Arrays;

/** A growable int array. */
final class IntList {
  private int[] a;
  private int size;

  IntList(int capacity) {
    a = new int[Math.max(4, capacity)];
  }

  void add(int v) {
    if (size == a.length) {
      a = Arrays.copyOf(a, size * 2);
    }
    a[size++] = v;
  }

  void addAll(int[] vs) {
    for (int v : vs) {
      add(v);
    }
  }

  int[] toArray() {
    return Arrays.copyOf(a, size);
  }
}
