package dev.graft.shell;

/**
 * A command stopped by Ctrl-C; its message is the one line to show. {@code ./graft} exits with
 * status 130 on it, as a shell does for an interrupted command.
 */
final class Interrupted extends RuntimeException {
  private static final long serialVersionUID = 1L;

  Interrupted(String message) {
    super(message);
  }

  /** The message alone: Gogo JLine's shell shows a command's exception as its toString(). */
  @Override
  public String toString() {
    return getMessage();
  }
}
