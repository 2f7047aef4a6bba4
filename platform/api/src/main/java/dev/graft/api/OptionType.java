package dev.graft.api;

/** The value type of a method option. */
public enum OptionType {
  INT,
  FLOAT,
  BOOLEAN,
  STRING,
  /** One of {@link OptionDescriptor#choices()}. */
  CHOICE,
  /** Comma-separated strings, e.g. {@code q_proj,v_proj}. */
  LIST,
  /** Comma-separated {@code pattern=value} pairs, e.g. PEFT's {@code rank_pattern}. */
  MAP;

  /** The lower-case name shown by the shell. */
  public String label() {
    return name().toLowerCase(java.util.Locale.ROOT);
  }
}
