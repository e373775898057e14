package dev.svcproxy.trace.html;

/**
 * Escaping for text that goes into an HTML page: every string that comes from a bundle (rule
 * comments, chain and interface names, file lines) is hostile and passes through here.
 */
public final class Html {
  private Html() {}

  /**
   * {@code s} safe as element text and as a double- or single-quoted attribute value: markup
   * characters become entities, and control characters (which HTML forbids) become U+FFFD.
   */
  public static String escape(String s) {
    if (s == null) {
      return "";
    }
    StringBuilder b = new StringBuilder(s.length() + 16);
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '&' -> b.append("&amp;");
        case '<' -> b.append("&lt;");
        case '>' -> b.append("&gt;");
        case '"' -> b.append("&quot;");
        case '\'' -> b.append("&#39;");
        default -> {
          if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f || c == '\r') {
            b.append('\uFFFD');
          } else {
            b.append(c);
          }
        }
      }
    }
    return b.toString();
  }

  /**
   * At most {@code max} characters of {@code s} (code points), ending in an ellipsis when cut, so a
   * label fits its box; the full text goes elsewhere on the page.
   */
  public static String clip(String s, int max) {
    if (s == null) {
      return "";
    }
    String one = s.replaceAll("\\s+", " ").strip();
    if (one.codePointCount(0, one.length()) <= max) {
      return one;
    }
    return one.substring(0, one.offsetByCodePoints(0, Math.max(0, max - 1))) + "\u2026";
  }
}
