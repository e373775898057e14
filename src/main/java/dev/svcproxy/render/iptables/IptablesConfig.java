package dev.svcproxy.render.iptables;

import dev.svcproxy.model.Cidr;
import dev.svcproxy.model.LocalTrafficDetector;
import java.util.List;

/**
 * What the iptables renderer needs to know about the node and the proxy's flags.
 *
 * @param nodeIPs the node's IPv4 addresses, used when --nodeport-addresses narrows NodePorts
 * @param nodePortAddresses --nodeport-addresses CIDRs; empty means every local address
 * @param nfacctLocalhostNodePorts whether the localhost_nps_accepted_pkts counter exists
 * @param nfacctInvalidDropped whether the ct_state_invalid_dropped_pkts counter exists
 */
public record IptablesConfig(
    String nodeName,
    String nodeIP,
    String zone,
    LocalTrafficDetector localDetector,
    boolean masqueradeAll,
    int masqueradeBit,
    boolean localhostNodePortsFlag,
    List<Cidr> nodePortAddresses,
    List<String> nodeIPs,
    boolean nfacctLocalhostNodePorts,
    boolean nfacctInvalidDropped,
    boolean randomFully,
    boolean conntrackTcpBeLiberal) {

  public IptablesConfig {
    zone = zone == null ? "" : zone;
    nodePortAddresses = List.copyOf(nodePortAddresses);
    nodeIPs = List.copyOf(nodeIPs);
  }

  /** Defaults as upstream's for a node: bit 14, localhost NodePorts on, no nfacct. */
  public static IptablesConfig defaults(String nodeName, String nodeIP, LocalTrafficDetector d) {
    return new IptablesConfig(
        nodeName,
        nodeIP,
        "",
        d,
        false,
        14,
        true,
        List.of(),
        nodeIP == null || nodeIP.isEmpty() ? List.of() : List.of(nodeIP),
        false,
        false,
        false,
        false);
  }

  /** The mark bit as upstream's tests write it ("0x4000"). */
  public String masqueradeMark() {
    return "0x" + Integer.toHexString(1 << masqueradeBit);
  }

  public boolean nodePortsMatchAll() {
    return nodePortAddresses.isEmpty();
  }

  /** Localhost NodePorts stay on only while --nodeport-addresses admits 127.0.0.1. */
  public boolean localhostNodePorts() {
    return localhostNodePortsFlag
        && (nodePortsMatchAll()
            || nodePortAddresses.stream().anyMatch(c -> c.contains("127.0.0.1")));
  }

  public IptablesConfig withNfacct(boolean localhostNps, boolean invalidDropped) {
    return probed(localhostNps, invalidDropped, randomFully, conntrackTcpBeLiberal);
  }

  public IptablesConfig withRandomFully(boolean on) {
    return probed(nfacctLocalhostNodePorts, nfacctInvalidDropped, on, conntrackTcpBeLiberal);
  }

  public IptablesConfig withConntrackTcpBeLiberal(boolean on) {
    return probed(nfacctLocalhostNodePorts, nfacctInvalidDropped, randomFully, on);
  }

  /** This configuration with what probing the node found. */
  private IptablesConfig probed(boolean nfLocal, boolean nfInvalid, boolean rf, boolean liberal) {
    return new IptablesConfig(
        nodeName,
        nodeIP,
        zone,
        localDetector,
        masqueradeAll,
        masqueradeBit,
        localhostNodePortsFlag,
        nodePortAddresses,
        nodeIPs,
        nfLocal,
        nfInvalid,
        rf,
        liberal);
  }
}
