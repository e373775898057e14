package dev.svcproxy.testutil.vm;

import java.time.Duration;

/**
 * Stretches test deadlines on slow kernels: inside the emulated VM (scripts/vm) everything runs
 * about 20 times slower than natively, and the VM test phase sets {@code -Dsvcproxy.timeScale=20}.
 * On the host the factor is 1. Every wait in a test that may run in the VM goes through {@link
 * #scale(Duration)}.
 */
public final class TimeScale {
  public static final String PROPERTY = "svcproxy.timeScale";

  private TimeScale() {}

  /** The factor: {@code svcproxy.timeScale}, 1 when unset. */
  public static double factor() {
    String v = System.getProperty(PROPERTY, "").strip();
    if (v.isEmpty()) {
      return 1;
    }
    double f;
    try {
      f = Double.parseDouble(v);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("-D" + PROPERTY + "=" + v + " is not a number", e);
    }
    if (!(f >= 1)) {
      throw new IllegalArgumentException("-D" + PROPERTY + "=" + v + " must be at least 1");
    }
    return f;
  }

  /** {@code d} times the factor. */
  public static Duration scale(Duration d) {
    return Duration.ofNanos(Math.round(d.toNanos() * factor()));
  }
}
