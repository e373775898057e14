package dev.svcproxy.logging;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import org.slf4j.LoggerFactory;

/**
 * Upstream's klog verbosity (-v N) on logback's levels. klog logs V(0)..V(3) at the operator's
 * level of detail and V(4)+ as debugging; logback has no level in between, so 0-3 are INFO, 4-5
 * DEBUG and 6+ TRACE (klog's V(6)+ is request-level tracing).
 */
public final class Verbosity {
  private Verbosity() {}

  /** The logback level for klog verbosity {@code v}. */
  public static Level level(int v) {
    if (v >= 6) {
      return Level.TRACE;
    }
    return v >= 4 ? Level.DEBUG : Level.INFO;
  }

  /** Raises the root logger to {@code v}'s level; never lowers it (--debug stays). */
  public static void apply(int v) {
    if (v < 0) {
      throw new IllegalArgumentException("-v: must be >= 0, got " + v);
    }
    Logger root = (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
    Level want = level(v);
    if (root.getLevel() == null || want.toInt() < root.getLevel().toInt()) {
      root.setLevel(want);
    }
  }
}
