package dev.svcproxy.nftables.text;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * nft time strings ({@code 3h}, {@code 10800s}, {@code 1d2h3m4s500ms}, a bare number of seconds).
 */
final class Times {
  private static final Pattern PART = Pattern.compile("(\\d+)(ms|d|h|m|s)");

  private Times() {}

  /** Whole seconds, as libnftables-json prints timeouts. */
  static long seconds(String s) {
    if (s.length() > 15) {
      throw new RuleParser.Unknown("time " + s);
    }
    if (s.matches("\\d+")) {
      return Long.parseLong(s);
    }
    Matcher m = PART.matcher(s);
    long ms = 0;
    int at = 0;
    while (m.find()) {
      if (m.start() != at) {
        throw new RuleParser.Unknown("time " + s);
      }
      long v = Long.parseLong(m.group(1));
      ms +=
          switch (m.group(2)) {
            case "d" -> v * 86_400_000L;
            case "h" -> v * 3_600_000L;
            case "m" -> v * 60_000L;
            case "s" -> v * 1000L;
            default -> v;
          };
      at = m.end();
    }
    if (at != s.length() || at == 0) {
      throw new RuleParser.Unknown("time " + s);
    }
    return ms / 1000;
  }
}
