package dev.svcproxy.testutil;

import java.util.Map;
import org.junit.jupiter.api.Assertions;

/**
 * Whether a golden-file test may rewrite its snapshot. Only a person at a terminal asks for it
 * (-Dgolden.update=true, then reviews the diff); under CI or ./run-tests the request fails the test
 * instead, so a snapshot can never be refreshed into agreement with a regression by the build
 * itself.
 */
public final class GoldenUpdate {
  public static final String PROPERTY = "golden.update";

  private GoldenUpdate() {}

  /** True when the snapshot should be rewritten; fails when that is asked for under CI. */
  public static boolean requested() {
    return requested(System.getProperty(PROPERTY, ""), System.getenv());
  }

  static boolean requested(String property, Map<String, String> env) {
    if (!Boolean.parseBoolean(property)) {
      return false;
    }
    String ci = env.containsKey("CI") ? "CI is set" : null;
    if (ci == null && env.containsKey("SVCPROXY_RUN_TESTS")) {
      ci = "running under ./run-tests";
    }
    if (ci != null) {
      Assertions.fail(
          "-D"
              + PROPERTY
              + " refused: "
              + ci
              + "; golden files are updated only by hand (./mvnw -Dtest=GoldenCasesTest -D"
              + PROPERTY
              + "=true test), then reviewed");
    }
    System.err.println("*** -D" + PROPERTY + ": rewriting golden files; review the diff ***");
    return true;
  }
}
