package dev.svcproxy.cli;

import java.math.BigDecimal;
import java.time.Duration;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Durations as kube-proxy flags take them (Go's time.ParseDuration): 500ms, 1.5s, 2m30s, 1h. */
final class Durations {
  private static final Pattern WHOLE =
      Pattern.compile("[-+]?(\\d*\\.?\\d*(ns|us|\u00b5s|\u03bcs|ms|s|m|h))+");
  private static final Pattern PART =
      Pattern.compile("(\\d*\\.?\\d*)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)");
  private static final Map<String, Long> NANOS =
      Map.of(
          "ns", 1L,
          "us", 1_000L,
          "\u00b5s", 1_000L,
          "\u03bcs", 1_000L,
          "ms", 1_000_000L,
          "s", 1_000_000_000L,
          "m", 60_000_000_000L,
          "h", 3_600_000_000_000L);

  /** Go's limit: a duration is an int64 of nanoseconds. */
  private static final BigDecimal MAX = BigDecimal.valueOf(Long.MAX_VALUE);

  private Durations() {}

  /** Parses {@code s}; a bad value is an IllegalArgumentException naming {@code flag}. */
  static Duration parse(String s, String flag) {
    String v = s == null ? "" : s.strip();
    if (v.equals("0") || v.equals("+0") || v.equals("-0")) {
      return Duration.ZERO;
    }
    if (!WHOLE.matcher(v).matches()) {
      throw invalid(flag, s);
    }
    boolean negative = v.startsWith("-");
    Matcher m = PART.matcher(v);
    BigDecimal nanos = BigDecimal.ZERO;
    while (m.find()) {
      String number = m.group(1);
      // Go rejects a unit without digits ("s", ".s").
      if (number.isEmpty() || number.equals(".")) {
        throw invalid(flag, s);
      }
      nanos = nanos.add(new BigDecimal(number).multiply(BigDecimal.valueOf(NANOS.get(m.group(2)))));
    }
    if (nanos.compareTo(MAX) > 0) {
      throw new IllegalArgumentException(flag + ": duration \"" + s + "\" is out of range");
    }
    long n = nanos.longValue();
    return Duration.ofNanos(negative ? -n : n);
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

  private static IllegalArgumentException invalid(String flag, String s) {
    return new IllegalArgumentException(
        flag + ": invalid duration \"" + s + "\" (e.g. 30s, 500ms, 1m30s)");
  }
}
