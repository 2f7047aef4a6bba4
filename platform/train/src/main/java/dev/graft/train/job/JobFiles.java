package dev.graft.train.job;

import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.commons.configuration2.AbstractConfiguration;
import org.apache.commons.configuration2.FileBasedConfiguration;
import org.apache.commons.configuration2.JSONConfiguration;
import org.apache.commons.configuration2.PropertiesConfiguration;
import org.apache.commons.configuration2.YAMLConfiguration;
import org.apache.commons.configuration2.ex.ConfigurationException;
import org.apache.commons.configuration2.interpol.ConfigurationInterpolator;
import org.apache.commons.configuration2.interpol.DefaultLookups;

/**
 * Reads job files with Apache Commons Configuration: {@code .properties}, {@code .yaml}/{@code
 * .yml} and {@code .json}. Nested keys flatten to dotted names ({@code lora: {r: 16}} → {@code
 * lora.r}); values are interpolated ({@code ${data_dir}/train.jsonl}, {@code ${env:HOME}}, {@code
 * ${sys:user.home}}); lists join with commas. Keys under {@code vars.} only serve interpolation
 * ({@code vars: {data_dir: /data}}, then {@code data: ${vars.data_dir}/train.jsonl}) and are
 * dropped.
 *
 * <p>Only the {@code env:} and {@code sys:} lookups exist: every other prefix lookup that Commons
 * Configuration may have registered by default or through its {@code defaultPrefixLookups} system
 * property ({@code script:}, {@code dns:}, {@code url:}, {@code file:}, {@code base64Decoder:} …,
 * the CVE-2022-33980 class) is removed before any value is read, and a job file that uses one is
 * refused by name.
 */
public final class JobFiles {
  /** The interpolation lookups a job file may use. */
  static final Set<String> LOOKUPS = Set.of("env", "sys");

  private static final Pattern PREFIXED = Pattern.compile("\\$\\{([A-Za-z0-9_.]+):");

  private JobFiles() {}

  /**
   * Reads one job file.
   *
   * @throws IllegalArgumentException naming the file when it is missing, has an unknown extension
   *     or does not parse
   */
  public static Map<String, String> read(Path file) {
    String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
    FileBasedConfiguration config;
    if (name.endsWith(".properties")) {
      config = new PropertiesConfiguration();
    } else if (name.endsWith(".yaml") || name.endsWith(".yml")) {
      config = new YAMLConfiguration();
    } else if (name.endsWith(".json")) {
      config = new JSONConfiguration();
    } else {
      throw new IllegalArgumentException(
          "Job file " + file + " must end in .properties, .yaml, .yml or .json.");
    }
    try (Reader reader = Files.newBufferedReader(file)) {
      config.read(reader);
    } catch (NoSuchFileException e) {
      throw new IllegalArgumentException("Job file " + file + " does not exist.");
    } catch (IOException | ConfigurationException | RuntimeException e) {
      Throwable cause = e.getCause() == null ? e : e.getCause();
      throw new IllegalArgumentException(
          "Job file " + file + " could not be read: " + firstLine(cause.getMessage()));
    }
    AbstractConfiguration c = (AbstractConfiguration) config;
    ConfigurationInterpolator interpolator = c.getInterpolator();
    for (String prefix : List.copyOf(interpolator.prefixSet())) {
      interpolator.deregisterLookup(prefix);
    }
    interpolator.registerLookup("env", DefaultLookups.ENVIRONMENT.getLookup());
    interpolator.registerLookup("sys", DefaultLookups.SYSTEM_PROPERTIES.getLookup());
    Map<String, String> values = new LinkedHashMap<>();
    for (Iterator<String> keys = c.getKeys(); keys.hasNext(); ) {
      String key = keys.next();
      refuseUnknownLookups(file, key, String.valueOf(c.getProperty(key)));
      List<Object> list = c.getList(Object.class, key);
      StringBuilder joined = new StringBuilder();
      for (Object item : list) {
        if (joined.length() > 0) {
          joined.append(',');
        }
        joined.append(item);
      }
      String value = joined.toString();
      if (value.contains("${")) {
        throw new IllegalArgumentException(
            "Job file "
                + file
                + ": \""
                + key
                + "\" refers to an undefined variable in \""
                + value
                + "\".");
      }
      if (!key.startsWith("vars.")) {
        values.put(key, value);
      }
    }
    return values;
  }

  private static void refuseUnknownLookups(Path file, String key, String raw) {
    Matcher m = PREFIXED.matcher(raw);
    while (m.find()) {
      if (!LOOKUPS.contains(m.group(1))) {
        throw new IllegalArgumentException(
            "Job file "
                + file
                + ": \""
                + key
                + "\" uses the lookup ${"
                + m.group(1)
                + ":…}, which Graft does not allow; use ${env:NAME}, ${sys:NAME} or ${vars.NAME}.");
      }
    }
  }

  private static String firstLine(String message) {
    if (message == null) {
      return "it is not well-formed.";
    }
    int nl = message.indexOf('\n');
    return nl < 0 ? message : message.substring(0, nl);
  }
}
