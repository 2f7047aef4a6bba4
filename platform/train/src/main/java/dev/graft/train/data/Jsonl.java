package dev.graft.train.data;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.model.AtomicFiles;
import java.io.BufferedInputStream;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.zip.GZIPInputStream;

/**
 * Reads samples from a JSONL file, gzip-compressed or not (detected from the content, not the
 * name). A column map renames fields first, as LLaMA-Factory's {@code columns} does: {@code
 * prompt=question,completion=answer} reads GSM8K as prompt/completion data.
 */
public final class Jsonl {
  /** The sample formats, named as the job key {@code data_format} names them. */
  public enum Format {
    TEXT,
    PROMPT_COMPLETION,
    INSTRUCTION,
    MESSAGES,
    PREFERENCE;

    /** The job-key spelling, e.g. {@code prompt_completion}. */
    public String label() {
      return name().toLowerCase(Locale.ROOT);
    }

    /** Parses the job-key spelling; {@code auto} gives null. */
    public static Format parse(String label) {
      return label.equals("auto") ? null : valueOf(label.toUpperCase(Locale.ROOT));
    }
  }

  /**
   * One data line: its sample and the integer fields the job's methods read as extra inputs ({@link
   * dev.graft.api.adapt.Adaptation#input}).
   *
   * @param columns field name → value, for each name asked for
   */
  public record Line(Sample sample, Map<String, Long> columns) {
    public Line {
      Objects.requireNonNull(sample, "sample");
      columns = Map.copyOf(columns);
    }
  }

  /** Rejects a line with two values on it or a field given twice. */
  private static final ObjectMapper JSON =
      new ObjectMapper()
          .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
          .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);

  /**
   * The longest line read, in characters: far beyond any sample a context holds (a 128K-token
   * context is about half a million characters), short enough that a damaged file cannot exhaust
   * memory before it is refused.
   */
  static final int MAX_LINE_CHARS = 16 << 20;

  private static final Set<String> ROLES = Set.of("system", "user", "assistant");

  private Jsonl() {}

  /**
   * Reads every sample.
   *
   * @param file a {@code .jsonl} file, optionally gzip-compressed
   * @param format the sample format, or null to detect it from the first line's fields
   * @param columns format field → field in the file, for data with other field names
   * @param maxSamples stop after this many samples; 0 reads all
   * @throws IllegalArgumentException naming the file and line for a missing file, a line that is
   *     not a JSON object, a missing or non-string field, or an empty file
   */
  public static List<Sample> read(
      Path file, Format format, Map<String, String> columns, int maxSamples) {
    return lines(file, format, columns, maxSamples, List.of()).stream().map(Line::sample).toList();
  }

  /**
   * Reads every sample as {@link #read} does, with the integer fields named by {@code integers}
   * (renamed by {@code columns} too).
   *
   * @throws IllegalArgumentException as {@link #read} does, or naming the file, line and field for
   *     a line without one of the integer fields or with a value that is not an integer
   */
  public static List<Line> lines(
      Path file,
      Format format,
      Map<String, String> columns,
      int maxSamples,
      List<String> integers) {
    Map<String, List<String>> inputs = new LinkedHashMap<>();
    integers.forEach(name -> inputs.put(name, List.of()));
    return lines(file, format, columns, maxSamples, inputs);
  }

  /**
   * Reads every sample as {@link #read} does, with the inputs named by the keys of {@code inputs}
   * (renamed by {@code columns} too): integer fields, or, for an input with labels, a field that
   * holds one of its labels (read as the label's index) or the index itself.
   *
   * @param inputs input name → its labels in index order; empty for a plain integer field
   * @throws IllegalArgumentException as {@link #read} does, or naming the file, line and field for
   *     a line without one of the fields, with a value that is not an integer, or with a text that
   *     is none of the labels (listing them)
   */
  public static List<Line> lines(
      Path file,
      Format format,
      Map<String, String> columns,
      int maxSamples,
      Map<String, List<String>> inputs) {
    List<Line> samples = new ArrayList<>();
    try (BufferedReader reader = open(file)) {
      String line;
      int number = 0;
      Format detected = format;
      while ((maxSamples <= 0 || samples.size() < maxSamples)
          && (line = readLine(reader, file, number + 1)) != null) {
        number++;
        if (line.isBlank()) {
          continue;
        }
        JsonNode node;
        try {
          node = JSON.readTree(line);
        } catch (JsonProcessingException e) {
          throw new IllegalArgumentException(
              file + ":" + number + ": not valid JSON (" + e.getOriginalMessage() + ").");
        }
        if (!node.isObject()) {
          throw new IllegalArgumentException(
              file + ":" + number + ": a line must hold one JSON object.");
        }
        Fields fields = new Fields(file, number, node, columns);
        if (detected == null) {
          detected = detect(fields);
        }
        Map<String, Long> values = new LinkedHashMap<>();
        for (Map.Entry<String, List<String>> input : inputs.entrySet()) {
          values.put(input.getKey(), fields.integer(input.getKey(), input.getValue()));
        }
        samples.add(new Line(sample(detected, fields), values));
      }
    } catch (NoSuchFileException e) {
      throw new IllegalArgumentException("Data file " + file + " does not exist.");
    } catch (java.util.zip.ZipException | java.io.EOFException e) {
      throw new IllegalArgumentException(
          "Data file "
              + file
              + " is a damaged gzip file ("
              + e.getMessage()
              + "); compress it again or give the plain JSONL.");
    } catch (IOException e) {
      throw new UncheckedIOException("Could not read data file " + file + ": " + e.getMessage(), e);
    }
    if (samples.isEmpty()) {
      throw new IllegalArgumentException("Data file " + file + " holds no samples.");
    }
    return samples;
  }

  /** The next line without its end, or null at the end of the file; refuses an overlong line. */
  private static String readLine(BufferedReader reader, Path file, int number) throws IOException {
    StringBuilder line = new StringBuilder();
    int c;
    while ((c = reader.read()) >= 0) {
      if (c == '\n') {
        break;
      }
      if (line.length() == MAX_LINE_CHARS) {
        throw new IllegalArgumentException(
            file
                + ":"
                + number
                + ": the line is longer than "
                + MAX_LINE_CHARS
                + " characters; split the sample or check that this is a JSONL file.");
      }
      line.append((char) c);
    }
    if (c < 0 && line.length() == 0) {
      return null;
    }
    int end = line.length();
    return end > 0 && line.charAt(end - 1) == '\r' ? line.substring(0, end - 1) : line.toString();
  }

  private static BufferedReader open(Path file) throws IOException {
    InputStream in = new BufferedInputStream(Files.newInputStream(file));
    in.mark(2);
    int b1 = in.read();
    int b2 = in.read();
    in.reset();
    if (b1 == 0x1f && b2 == 0x8b) {
      in = new GZIPInputStream(in);
    }
    return new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
  }

  private static Format detect(Fields f) {
    if (f.has("messages")) {
      return Format.MESSAGES;
    }
    if (f.has("instruction") && f.has("output")) {
      return Format.INSTRUCTION;
    }
    if (f.has("prompt") && f.has("completion")) {
      return Format.PROMPT_COMPLETION;
    }
    if (f.has("chosen") && f.has("rejected")) {
      return Format.PREFERENCE;
    }
    if (f.has("text")) {
      return Format.TEXT;
    }
    List<String> names = f.names();
    String example =
        names.size() >= 2
            ? "prompt=" + names.get(0) + ",completion=" + names.get(1)
            : "text=" + (names.isEmpty() ? "body" : names.get(0));
    throw f.error(
        "cannot tell the sample format from fields "
            + names
            + "; expected text, prompt+completion, instruction+output, messages or chosen+rejected. Name the fields"
            + " with data_columns (graft:eval: --data-columns), e.g. "
            + example);
  }

  private static Sample sample(Format format, Fields f) {
    return switch (format) {
      case TEXT -> new Sample.Text(f.string("text"));
      case PROMPT_COMPLETION ->
          new Sample.PromptCompletion(f.string("prompt"), f.string("completion"));
      case INSTRUCTION ->
          new Sample.Instruction(
              f.string("instruction"), f.has("input") ? f.string("input") : "", f.string("output"));
      case PREFERENCE -> preference(f);
      case MESSAGES -> {
        List<Sample.Message> turns = messages(f, "messages");
        if (turns.stream().noneMatch(t -> t.role().equals("assistant"))) {
          throw f.error("the conversation has no assistant turn to learn from");
        }
        yield new Sample.Conversation(turns);
      }
    };
  }

  /**
   * A preference line: strings (TRL's standard form) or message lists (its conversational form);
   * without a prompt, the shared start of chosen and rejected is the prompt.
   */
  private static Sample preference(Fields f) {
    if (!f.has("chosen") || !f.has("rejected")) {
      throw f.error(
          "a preference pair needs \"chosen\" and \"rejected\" fields (and optionally"
              + " \"prompt\"); name other fields with data_columns");
    }
    if (f.node("chosen").isArray()) {
      List<Sample.Message> chosen = messages(f, "chosen");
      List<Sample.Message> rejected = messages(f, "rejected");
      return f.has("prompt")
          ? new Sample.ChatPreference(messages(f, "prompt"), chosen, rejected)
          : Sample.ChatPreference.implicit(chosen, rejected);
    }
    return f.has("prompt")
        ? new Sample.Preference(f.string("prompt"), f.string("chosen"), f.string("rejected"))
        : Sample.Preference.implicit(f.string("chosen"), f.string("rejected"));
  }

  /** A non-empty list of {@code {"role", "content"}} messages. */
  private static List<Sample.Message> messages(Fields f, String field) {
    JsonNode messages = f.node(field);
    if (!messages.isArray() || messages.isEmpty()) {
      throw f.error("\"" + f.name(field) + "\" must be a non-empty array of messages");
    }
    List<Sample.Message> turns = new ArrayList<>();
    for (JsonNode m : messages) {
      String role = m.path("role").asText("");
      if (!ROLES.contains(role) || !m.path("content").isTextual()) {
        throw f.error(
            "each message needs a role (system, user or assistant) and a string content, not " + m);
      }
      turns.add(new Sample.Message(role, m.get("content").asText()));
    }
    return turns;
  }

  /** One line's fields, seen through the column map. */
  private record Fields(Path file, int line, JsonNode node, Map<String, String> columns) {
    boolean has(String field) {
      return node.has(columns.getOrDefault(field, field));
    }

    String name(String field) {
      return columns.getOrDefault(field, field);
    }

    JsonNode node(String field) {
      String name = columns.getOrDefault(field, field);
      if (!node.has(name)) {
        throw error("field \"" + name + "\" is missing");
      }
      return node.get(name);
    }

    String string(String field) {
      JsonNode value = node(field);
      if (!value.isTextual()) {
        throw error("field \"" + columns.getOrDefault(field, field) + "\" must be a string");
      }
      return value.asText();
    }

    long integer(String field, List<String> labels) {
      String name = columns.getOrDefault(field, field);
      if (!node.has(name)) {
        throw error(
            "field \""
                + name
                + "\" is missing; the job's methods read it as an integer input of every sample");
      }
      JsonNode value = node.get(name);
      if (value.isTextual() && !labels.isEmpty()) {
        int index = labels.indexOf(value.asText());
        if (index < 0) {
          throw error(
              "field \""
                  + name
                  + "\" is \""
                  + value.asText()
                  + "\", which is none of the known values "
                  + labels
                  + "; add it to the method's list or fix the line");
        }
        return index;
      }
      if (!value.isIntegralNumber() || !value.canConvertToLong()) {
        throw error("field \"" + name + "\" must be an integer, not " + value);
      }
      return value.asLong();
    }

    List<String> names() {
      List<String> names = new ArrayList<>();
      for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
        names.add(it.next());
      }
      return names;
    }

    IllegalArgumentException error(String what) {
      return new IllegalArgumentException(file + ":" + line + ": " + what + ".");
    }
  }

  /** Messages as the maps a chat template and the JSONL lines take. */
  static List<Map<String, String>> maps(List<Sample.Message> messages) {
    return messages.stream().map(m -> Map.of("role", m.role(), "content", m.content())).toList();
  }

  /**
   * Writes samples as JSONL in the field names {@link #read} detects, e.g. for a held-out split.
   */
  public static void write(Path file, List<Sample> samples) throws IOException {
    writeLines(file, samples.stream().map(s -> new Line(s, Map.of())).toList());
  }

  /** Writes data lines as {@link #write} does, each with its integer fields. */
  public static void writeLines(Path file, List<Line> lines) throws IOException {
    StringBuilder out = new StringBuilder();
    for (Line data : lines) {
      Sample sample = data.sample();
      Map<String, Object> line = new LinkedHashMap<>();
      if (sample instanceof Sample.Text t) {
        line.put("text", t.text());
      } else if (sample instanceof Sample.PromptCompletion pc) {
        line.put("prompt", pc.prompt());
        line.put("completion", pc.completion());
      } else if (sample instanceof Sample.Instruction in) {
        line.put("instruction", in.instruction());
        line.put("input", in.input());
        line.put("output", in.output());
      } else if (sample instanceof Sample.Preference p) {
        line.put("prompt", p.prompt());
        line.put("chosen", p.chosen());
        line.put("rejected", p.rejected());
      } else if (sample instanceof Sample.ChatPreference p) {
        line.put("prompt", maps(p.prompt()));
        line.put("chosen", maps(p.chosen()));
        line.put("rejected", maps(p.rejected()));
      } else {
        line.put("messages", maps(((Sample.Conversation) sample).messages()));
      }
      line.putAll(data.columns());
      out.append(JSON.writeValueAsString(line)).append('\n');
    }
    AtomicFiles.writeString(file, out);
  }
}
