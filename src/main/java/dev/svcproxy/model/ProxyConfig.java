package dev.svcproxy.model;

import java.util.List;

/**
 * The node and flag facts every proxy mode needs (iptables, nftables and IPVS alike); per-mode
 * options and probed kernel capabilities live beside it, not in it.
 *
 * @param nodeName this node's name: endpoints with this nodeName are local
 * @param nodeIP the node's primary IPv4 address ("" when unknown); LB source ranges containing it
 *     let the node reach its own LB IPs
 * @param nodeIPs the node's IPv4 addresses, used when --nodeport-addresses narrows NodePorts
 * @param zone this node's topology zone ("" if none), for topology hints
 * @param clusterCidrs --cluster-cidr as given (one CIDR or a dual-stack pair)
 * @param localDetector how pod traffic is told apart (--detect-local-mode and its value)
 * @param masqueradeBit the fwmark bit (0-31) that marks packets for SNAT
 * @param masqueradeAll SNAT all traffic sent to cluster IPs
 * @param nodePortAddresses --nodeport-addresses CIDRs; empty means every local address
 */
public record ProxyConfig(
    String nodeName,
    String nodeIP,
    List<String> nodeIPs,
    String zone,
    List<Cidr> clusterCidrs,
    LocalTrafficDetector localDetector,
    int masqueradeBit,
    boolean masqueradeAll,
    List<Cidr> nodePortAddresses) {

  public ProxyConfig {
    nodeName = nodeName == null ? "" : nodeName;
    zone = zone == null ? "" : zone;
    nodeIPs = List.copyOf(nodeIPs);
    clusterCidrs = List.copyOf(clusterCidrs);
    nodePortAddresses = List.copyOf(nodePortAddresses);
    if (masqueradeBit < 0 || masqueradeBit > 31) {
      throw new IllegalArgumentException("masquerade bit out of range [0, 31]: " + masqueradeBit);
    }
  }

  /** Upstream's defaults for a node: mark bit 14, no masquerade-all, NodePorts on every address. */
  public static ProxyConfig defaults(String nodeName, String nodeIP, LocalTrafficDetector d) {
    return new ProxyConfig(
        nodeName,
        nodeIP,
        nodeIP == null || nodeIP.isEmpty() ? List.of() : List.of(nodeIP),
        "",
        List.of(),
        d,
        14,
        false,
        List.of());
  }

  /** The mark bit as upstream's rules write it ("0x4000"). */
  public String masqueradeMark() {
    return "0x" + Integer.toHexString(1 << masqueradeBit);
  }

  /** True when NodePorts answer on every local address (no --nodeport-addresses). */
  public boolean nodePortsMatchAll() {
    return nodePortAddresses.isEmpty();
  }

  public ProxyConfig withMasqueradeAll(boolean on) {
    return new ProxyConfig(
        nodeName,
        nodeIP,
        nodeIPs,
        zone,
        clusterCidrs,
        localDetector,
        masqueradeBit,
        on,
        nodePortAddresses);
  }

  public ProxyConfig withNodePortAddresses(List<Cidr> cidrs) {
    return new ProxyConfig(
        nodeName,
        nodeIP,
        nodeIPs,
        zone,
        clusterCidrs,
        localDetector,
        masqueradeBit,
        masqueradeAll,
        cidrs);
  }
}
