package dev.svcproxy.render.nftables;

import dev.svcproxy.model.Cidr;
import dev.svcproxy.model.ProxyConfig;
import java.util.List;

/**
 * Options only the nftables mode has.
 *
 * @param nodePortsOnPrimaryByDefault without --nodeport-addresses, NodePorts answer only on the
 *     node's primary IP, as upstream's nftables mode defaults the flag to "primary"; false keeps
 *     the iptables mode's default (every local address, {@code fib daddr type local})
 */
public record NftablesOptions(boolean nodePortsOnPrimaryByDefault) {

  /** Upstream's defaults. */
  public static NftablesOptions defaults() {
    return new NftablesOptions(true);
  }

  /**
   * The IPv4 CIDRs NodePorts answer on. An empty --nodeport-addresses means "primary" (the node IP
   * as a /32) when that default is on and the node IP is known and not loopback, as upstream's
   * kube-proxy sets it up; otherwise the flag reads as ProxyConfig reads it (all addresses when it
   * holds no IPv4 CIDR).
   */
  public List<Cidr> nodePortCidrs(ProxyConfig cfg) {
    if (nodePortsOnPrimaryByDefault && cfg.nodePortAddresses().isEmpty()) {
      String ip = cfg.nodeIP() == null ? "" : cfg.nodeIP();
      if (!ip.isEmpty() && !ip.startsWith("127.")) {
        return List.of(Cidr.parse(ip + "/32"));
      }
    }
    return cfg.nodePortCidrs();
  }

  /** Whether NodePorts answer on every local address (upstream's MatchAll). */
  public boolean nodePortsMatchAll(ProxyConfig cfg) {
    List<Cidr> cidrs = nodePortCidrs(cfg);
    return cidrs.size() == 1 && cidrs.getFirst().prefixLength() == 0;
  }
}
