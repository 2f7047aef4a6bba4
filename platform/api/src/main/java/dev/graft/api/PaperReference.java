package dev.graft.api;

import java.util.Objects;

/**
 * The paper that defines a method.
 *
 * @param authors short author list, e.g. "Hu et al."
 * @param title the paper's title
 * @param year publication year
 * @param arxiv arXiv identifier such as {@code 2106.09685}, or empty
 */
public record PaperReference(String authors, String title, int year, String arxiv) {
  /** Checks that author and title are given. */
  public PaperReference {
    Objects.requireNonNull(authors, "authors");
    Objects.requireNonNull(title, "title");
    Objects.requireNonNull(arxiv, "arxiv");
  }

  @Override
  public String toString() {
    return authors
        + " "
        + year
        + ", \""
        + title
        + "\""
        + (arxiv.isEmpty() ? "" : ", arXiv:" + arxiv);
  }
}
