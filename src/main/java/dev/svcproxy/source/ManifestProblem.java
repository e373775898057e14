package dev.svcproxy.source;

/**
 * A problem with a manifest document, with where it is and why: the document was skipped, or (for
 * duplicates) only part of it is used. File and reason are escaped on construction, so no control
 * character from a manifest or a file name can reach a log line.
 */
public record ManifestProblem(String file, int document, String reason) {
  public ManifestProblem {
    file = Printable.escape(file);
    reason = Printable.escape(reason);
  }

  /** "file: document N", the place this problem is about. */
  public String place() {
    return file + ": document " + document;
  }

  @Override
  public String toString() {
    return place() + ": " + reason;
  }
}
