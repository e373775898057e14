package dev.svcproxy.cli;

import java.time.Duration;

/** Go-style durations as kube-proxy flags take them: 500ms, 1s, 2m, 1h. */
final class Durations {
  private Durations() {}

  static Duration parse(String s, String flag) {
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("(\\d+)(ms|s|m|h)").matcher(s);
    if (!m.matches()) {
      throw new IllegalArgumentException(
          flag + ": invalid duration \"" + s + "\" (e.g. 1s, 500ms)");
    }
    long n = Long.parseLong(m.group(1));
    return switch (m.group(2)) {
      case "ms" -> Duration.ofMillis(n);
      case "s" -> Duration.ofSeconds(n);
      case "m" -> Duration.ofMinutes(n);
      default -> Duration.ofHours(n);
    };
  }
}
