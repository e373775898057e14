package dev.svcproxy.source;

/**
 * Makes text from a manifest safe to put in a log line: everything outside printable ASCII is
 * escaped, so a newline, a terminal escape or a Unicode line separator in a name can never forge a
 * second log line or rule line, and very long values are shortened.
 */
public final class Printable {
  /** Longest value echoed in a warning; the rest is elided. */
  static final int MAX_SHOWN = 64;

  private Printable() {}

  /** Escapes {@code s} completely (no shortening). */
  public static String escape(String s) {
    if (s == null) {
      return "null";
    }
    StringBuilder b = null;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c >= 0x20 && c < 0x7f) {
        if (b != null) {
          b.append(c);
        }
        continue;
      }
      if (b == null) {
        b = new StringBuilder(s.length() + 16).append(s, 0, i);
      }
      switch (c) {
        case '\n' -> b.append("\\n");
        case '\r' -> b.append("\\r");
        case '\t' -> b.append("\\t");
        default -> b.append(String.format("\\u%04x", (int) c));
      }
    }
    return b == null ? s : b.toString();
  }

  /** Escapes {@code s} and keeps at most {@link #MAX_SHOWN} of its characters. */
  public static String shown(String s) {
    if (s != null && s.length() > MAX_SHOWN) {
      return escape(s.substring(0, MAX_SHOWN)) + "...(" + s.length() + " characters)";
    }
    return escape(s);
  }

  /** {@link #shown} in double quotes, with quotes and backslashes escaped, for values. */
  public static String quoted(String s) {
    String q = s == null ? null : s.replace("\\", "\\\\").replace("\"", "\\\"");
    return "\"" + shown(q) + "\"";
  }
}
