package dev.svcproxy.nftables;

import dev.svcproxy.netfilter.SafeText;
import dev.svcproxy.netfilter.UnsafeTextException;

/**
 * The checks every piece of text goes through before it reaches an {@code nft -f} transaction: nft
 * ends a command at a newline or a semicolon outside quotes, and a quote ends a string, so names
 * and rule bodies may hold neither, and comments no quote.
 */
public final class NftText {
  private NftText() {}

  /** An object name (table, chain, set, map) printed as one bare token. */
  public static String name(String field, String s) {
    SafeText.name(field, s);
    return refuse(field, s, ";{}#");
  }

  /** A rule body, a set type or an element key/value: one command's worth of tokens. */
  public static String body(String field, String s) {
    SafeText.value(field, s);
    if (s.isBlank()) {
      throw new UnsafeTextException(field, s, "empty");
    }
    return refuse(field, s, ";#");
  }

  /** A comment, printed inside double quotes. */
  public static String comment(String field, String s) {
    SafeText.value(field, s);
    return refuse(field, s, "\"\\");
  }

  private static String refuse(String field, String s, String chars) {
    for (int i = 0; i < s.length(); i++) {
      if (chars.indexOf(s.charAt(i)) >= 0) {
        throw new UnsafeTextException(
            field, s, "'" + s.charAt(i) + "' at index " + i + " would end the command or string");
      }
    }
    return s;
  }
}
