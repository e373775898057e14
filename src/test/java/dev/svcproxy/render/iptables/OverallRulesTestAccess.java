package dev.svcproxy.render.iptables;

/** Shares upstream's test configuration with tests in other packages. */
public final class OverallRulesTestAccess {
  private OverallRulesTestAccess() {}

  public static IptablesConfig config() {
    return OverallRulesTest.upstreamTestConfig();
  }
}
