package dev.svcproxy.model;

import java.util.ArrayList;
import java.util.Collection;
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
 * @param localDetector how pod traffic is told apart (--detect-local-mode and its value); the only
 *     place --cluster-cidr lives, as upstream's proxiers are handed only the detector
 * @param masqueradeBit the fwmark bit (0-31) that marks packets for SNAT
 * @param masqueradeAll SNAT all traffic sent to cluster IPs
 * @param nodePortAddresses --nodeport-addresses CIDRs of both families, as given; see {@link
 *     #nodePortCidrs} for how the IPv4 side reads them
 */
public record ProxyConfig(
    String nodeName,
    String nodeIP,
    List<String> nodeIPs,
    String zone,
    LocalTrafficDetector localDetector,
    int masqueradeBit,
    boolean masqueradeAll,
    List<Cidr> nodePortAddresses) {

  private static final Cidr IPV4_ZERO = Cidr.parse("0.0.0.0/0");

  public ProxyConfig {
    nodeName = nodeName == null ? "" : nodeName;
    zone = zone == null ? "" : zone;
    nodeIPs = List.copyOf(nodeIPs);
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
        d,
        14,
        false,
        List.of());
  }

  /** The mark bit as upstream's rules write it ("0x4000"). */
  public String masqueradeMark() {
    return "0x" + Integer.toHexString(1 << masqueradeBit);
  }

  /**
   * The IPv4 --nodeport-addresses as upstream's NewNodePortAddresses(IPv4, ...) keeps them: without
   * an IPv4 CIDR (none given, or only IPv6 ones) 0.0.0.0/0; a zero CIDR alone replaces the rest.
   */
  public List<Cidr> nodePortCidrs() {
    List<Cidr> v4 = new ArrayList<>();
    for (Cidr c : nodePortAddresses) {
      if (!c.ipv6()) {
        Cidr net = c.masked();
        if (net.prefixLength() == 0) {
          return List.of(net);
        }
        v4.add(net);
      }
    }
    return v4.isEmpty() ? List.of(IPV4_ZERO) : List.copyOf(v4);
  }

  /** True when NodePorts answer on every local IPv4 address (upstream's MatchAll). */
  public boolean nodePortsMatchAll() {
    List<Cidr> cidrs = nodePortCidrs();
    return cidrs.size() == 1 && cidrs.getFirst().prefixLength() == 0;
  }

  /**
   * Upstream's ContainsIPv4Loopback: some IPv4 NodePort CIDR is a loopback prefix or holds
   * 127.0.0.0, so 127.0.0.2/32 and 127.5.0.0/16 count though neither holds 127.0.0.1.
   */
  public boolean nodePortsContainIpv4Loopback() {
    for (Cidr c : nodePortCidrs()) {
      if (c.address().startsWith("127.") || c.contains("127.0.0.0")) {
        return true;
      }
    }
    return false;
  }

  /**
   * The addresses among {@code addresses} that take NodePort traffic (upstream's GetNodeIPs over
   * the given interface addresses), in their order, without repeats.
   */
  public List<String> nodePortIPs(Collection<String> addresses) {
    List<Cidr> cidrs = nodePortCidrs();
    List<String> out = new ArrayList<>();
    for (String ip : addresses) {
      if (!out.contains(ip) && cidrs.stream().anyMatch(c -> c.contains(ip))) {
        out.add(ip);
      }
    }
    return List.copyOf(out);
  }

  public ProxyConfig withMasqueradeAll(boolean on) {
    return new ProxyConfig(
        nodeName, nodeIP, nodeIPs, zone, localDetector, masqueradeBit, on, nodePortAddresses);
  }

  public ProxyConfig withNodePortAddresses(List<Cidr> cidrs) {
    return new ProxyConfig(
        nodeName, nodeIP, nodeIPs, zone, localDetector, masqueradeBit, masqueradeAll, cidrs);
  }
}
