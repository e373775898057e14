package dev.svcproxy.render.iptables;

import dev.svcproxy.kernel.KernelCapabilities;
import dev.svcproxy.model.ProxyConfig;

/** Shares upstream's test configuration with tests in other packages. */
public final class OverallRulesTestAccess {
  private OverallRulesTestAccess() {}

  public static ProxyConfig config() {
    return OverallRulesTest.upstreamTestConfig();
  }

  public static IptablesOptions options() {
    return IptablesOptions.defaults();
  }

  /** Upstream's test proxier: both nfacct counters, no --random-fully, be_liberal off. */
  public static KernelCapabilities capabilities() {
    return OverallRulesTest.upstreamTestCapabilities();
  }

  public static IptablesRenderer renderer() {
    return renderer(capabilities());
  }

  public static IptablesRenderer renderer(KernelCapabilities caps) {
    return new IptablesRenderer(config(), options(), caps);
  }
}
