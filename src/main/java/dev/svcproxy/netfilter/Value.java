package dev.svcproxy.netfilter;

/**
 * One argument value. {@code raw} is the token as it was written (quotes included) when parsed, or
 * null for a value built in code, which prints quoted only when it must be. The element holding a
 * value checks it (so that a refusal names the flag); printing checks it again.
 */
public record Value(String text, String raw) {

  public static Value of(String text) {
    return new Value(text, null);
  }

  /** Refuses this value as {@code field} if it could change the line it is printed in. */
  Value check(String field) {
    SafeText.value(field, text);
    if (raw != null) {
      SafeText.value(field + " as written", raw);
    }
    return this;
  }

  /** The token as iptables-restore reads it. */
  public String print() {
    check("value");
    if (raw != null) {
      return raw;
    }
    if (!needsQuotes(text)) {
      return text;
    }
    return "\"" + text.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
  }

  /**
   * Bare text is one token, read back as itself, only when it is not empty, holds no separator and
   * no quote, and does not look like a flag or "!" (a parser would take it for the next element;
   * iptables-restore drops the quotes, so quoting changes nothing for the kernel).
   */
  private static boolean needsQuotes(String t) {
    if (t.isEmpty() || t.equals("!") || IptablesCodec.looksLikeFlag(t)) {
      return true;
    }
    for (int i = 0; i < t.length(); i++) {
      char c = t.charAt(i);
      if (c == '"' || c == ' ' || c == '\t' || Character.isWhitespace(c)) {
        return true;
      }
    }
    return false;
  }
}
