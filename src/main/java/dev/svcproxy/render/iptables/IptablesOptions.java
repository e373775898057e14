package dev.svcproxy.render.iptables;

import dev.svcproxy.model.ProxyConfig;

/**
 * Options only the iptables mode has.
 *
 * @param localhostNodePorts --iptables-localhost-nodeports: accept NodePort traffic to 127.0.0.1
 * @param largeClusterEndpoints above this many endpoints in total, per-endpoint rules lose their
 *     comments (upstream's largeClusterEndpointsThreshold, a constant there)
 */
public record IptablesOptions(boolean localhostNodePorts, int largeClusterEndpoints) {
  /** Upstream's threshold for "large cluster mode". */
  public static final int LARGE_CLUSTER_ENDPOINTS = 1000;

  public IptablesOptions {
    if (largeClusterEndpoints < 0) {
      throw new IllegalArgumentException("negative large-cluster threshold");
    }
  }

  /** Upstream's defaults: localhost NodePorts on, threshold 1000. */
  public static IptablesOptions defaults() {
    return new IptablesOptions(true, LARGE_CLUSTER_ENDPOINTS);
  }

  public IptablesOptions withLocalhostNodePorts(boolean on) {
    return new IptablesOptions(on, largeClusterEndpoints);
  }

  /**
   * Whether localhost NodePorts are in effect: upstream keeps them only while the IPv4
   * --nodeport-addresses contain a loopback address (ContainsIPv4Loopback).
   */
  public boolean localhostNodePorts(ProxyConfig cfg) {
    return localhostNodePorts && cfg.nodePortsContainIpv4Loopback();
  }
}
