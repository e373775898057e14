package dev.svcproxy.netfilter;

/**
 * One argument value. {@code raw} is the token as it was written (quotes included) when parsed, or
 * null for a value built in code, which prints quoted only when it must be.
 */
public record Value(String text, String raw) {

  public static Value of(String text) {
    return new Value(text, null);
  }

  /** The token as iptables-restore reads it. */
  public String print() {
    if (raw != null) {
      return raw;
    }
    if (!text.isEmpty() && text.chars().noneMatch(c -> c == ' ' || c == '"' || c == '\t')) {
      return text;
    }
    return "\"" + text.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
  }
}
