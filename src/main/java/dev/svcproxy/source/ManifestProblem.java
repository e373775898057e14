package dev.svcproxy.source;

/** A manifest document that was skipped, with where it is and why. */
public record ManifestProblem(String file, int document, String reason) {
  @Override
  public String toString() {
    return file + ": document " + document + ": " + reason;
  }
}
