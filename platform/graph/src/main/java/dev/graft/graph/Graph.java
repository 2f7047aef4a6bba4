package dev.graft.graph;

/** A tensor graph under construction. Every op method checks shapes and dtypes at build time. */
public final class Graph {}
