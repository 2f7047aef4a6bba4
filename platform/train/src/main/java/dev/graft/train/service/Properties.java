package dev.graft.train.service;

import java.io.IOException;
import java.io.Reader;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;

/** A job's specification as a {@code job.properties} file beside its checkpoints. */
final class Properties {
  private Properties() {}

  static void write(Path file, Map<String, String> spec) throws IOException {
    java.util.Properties p = new java.util.Properties();
    p.putAll(new TreeMap<>(spec));
    try (Writer out = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
      p.store(out, "Graft job specification");
    }
  }

  static Map<String, String> read(Path file) throws IOException {
    java.util.Properties p = new java.util.Properties();
    try (Reader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      p.load(in);
    }
    Map<String, String> spec = new LinkedHashMap<>();
    p.stringPropertyNames().stream().sorted().forEach(k -> spec.put(k, p.getProperty(k)));
    return spec;
  }
}
