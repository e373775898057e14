package dev.svcproxy.cli;

import dev.svcproxy.config.GoDuration;
import java.time.Duration;

/** Durations as kube-proxy flags take them (Go's time.ParseDuration): 500ms, 1.5s, 2m30s, 1h. */
final class Durations {
  private Durations() {}

  /** Parses {@code s} as Go's time.ParseDuration; a bad value is an error naming {@code flag}. */
  static Duration parse(String s, String flag) {
    try {
      return GoDuration.parse(s == null ? "" : s);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(
          flag + ": invalid duration \"" + s + "\" (e.g. 30s, 500ms, 1m30s)");
    }
  }

  /** Applies upstream's checks (pkg/proxy/apis/config/validation) to the two sync periods. */
  static void checkSyncPeriods(
      Duration min,
      String minFlag,
      String minText,
      Duration sync,
      String syncFlag,
      String syncText) {
    if (sync.compareTo(Duration.ZERO) <= 0) {
      throw new IllegalArgumentException(
          syncFlag + ": must be greater than 0, got \"" + syncText + "\"");
    }
    if (min.isNegative()) {
      throw new IllegalArgumentException(
          minFlag + ": must be greater than or equal to 0, got \"" + minText + "\"");
    }
    if (min.compareTo(sync) > 0) {
      throw new IllegalArgumentException(
          syncFlag
              + ": must be greater than or equal to "
              + minFlag
              + " (\""
              + syncText
              + "\" < \""
              + minText
              + "\")");
    }
  }
}
