package dev.svcproxy.config;

import java.math.BigDecimal;
import java.time.Duration;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Go's time.Duration text, as metav1.Duration reads and writes it in a KubeProxyConfiguration:
 * parse accepts "1m30s", "1.5h", "500ms"; format prints what Go's Duration.String prints.
 */
public final class GoDuration {
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

  private GoDuration() {}

  /** Parses {@code s} as Go's time.ParseDuration; a bad value is an IllegalArgumentException. */
  public static Duration parse(String s) {
    String v = s.strip();
    if (v.equals("0") || v.equals("+0") || v.equals("-0")) {
      return Duration.ZERO;
    }
    if (!WHOLE.matcher(v).matches()) {
      throw new IllegalArgumentException("time: invalid duration \"" + s + "\"");
    }
    Matcher m = PART.matcher(v);
    BigDecimal nanos = BigDecimal.ZERO;
    while (m.find()) {
      if (m.group(1).isEmpty() || m.group(1).equals(".")) {
        throw new IllegalArgumentException("time: invalid duration \"" + s + "\"");
      }
      nanos =
          nanos.add(new BigDecimal(m.group(1)).multiply(BigDecimal.valueOf(NANOS.get(m.group(2)))));
    }
    if (nanos.compareTo(BigDecimal.valueOf(Long.MAX_VALUE)) > 0) {
      throw new IllegalArgumentException("time: invalid duration \"" + s + "\"");
    }
    long n = nanos.longValue();
    return Duration.ofNanos(v.startsWith("-") ? -n : n);
  }

  /** Formats {@code d} as Go's Duration.String: 0s, 250ms, 1.5s, 1m30s, 24h0m0s. */
  public static String format(Duration d) {
    long n = d.toNanos();
    if (n == 0) {
      return "0s";
    }
    String sign = n < 0 ? "-" : "";
    long u = Math.abs(n);
    if (u < 1_000_000_000L) {
      // Below a second Go picks the largest unit that keeps an integer part.
      if (u < 1_000L) {
        return sign + u + "ns";
      }
      if (u < 1_000_000L) {
        return sign + fraction(u, 1_000L) + "\u00b5s";
      }
      return sign + fraction(u, 1_000_000L) + "ms";
    }
    long hours = u / 3_600_000_000_000L;
    long rest = u % 3_600_000_000_000L;
    long minutes = rest / 60_000_000_000L;
    String seconds = fraction(rest % 60_000_000_000L, 1_000_000_000L) + "s";
    if (hours > 0) {
      return sign + hours + "h" + minutes + "m" + seconds;
    }
    if (minutes > 0) {
      return sign + minutes + "m" + seconds;
    }
    return sign + seconds;
  }

  private static String fraction(long value, long unit) {
    BigDecimal b = BigDecimal.valueOf(value).divide(BigDecimal.valueOf(unit)).stripTrailingZeros();
    return b.scale() <= 0 ? b.toBigInteger().toString() : b.toPlainString();
  }
}
