package dev.svcproxy.netfilter;

/** A line of a dump that was not understood and was skipped. */
public record ParseWarning(String source, int line, String reason) {
  @Override
  public String toString() {
    return source + ":" + line + ": " + reason;
  }
}
