package dev.graft.shell;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The one place where shell output is laid out: left-aligned columns under an upper-case header.
 */
final class Table {
  private final List<String> header;
  private final List<List<String>> rows = new ArrayList<>();

  Table(String... header) {
    this.header = List.of(header);
  }

  Table row(String... cells) {
    if (cells.length != header.size()) {
      throw new IllegalArgumentException(
          "A row of " + header + " needs " + header.size() + " cells: " + Arrays.toString(cells));
    }
    rows.add(List.of(cells));
    return this;
  }

  boolean isEmpty() {
    return rows.isEmpty();
  }

  /** Renders the table; the last column is not padded. */
  String render() {
    int[] widths = new int[header.size()];
    for (int c = 0; c < widths.length; c++) {
      widths[c] = header.get(c).length();
      for (List<String> row : rows) {
        widths[c] = Math.max(widths[c], row.get(c).length());
      }
    }
    StringBuilder out = new StringBuilder();
    line(out, header, widths);
    for (List<String> row : rows) {
      line(out, row, widths);
    }
    return out.toString();
  }

  private static void line(StringBuilder out, List<String> cells, int[] widths) {
    StringBuilder line = new StringBuilder();
    for (int c = 0; c < cells.size(); c++) {
      line.append(cells.get(c));
      if (c < cells.size() - 1) {
        line.append(" ".repeat(widths[c] - cells.get(c).length() + 2));
      }
    }
    out.append(line.toString().stripTrailing()).append('\n');
  }
}
