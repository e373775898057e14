package dev.svcproxy.render.ipvs;

import dev.svcproxy.netfilter.IpsetCodec;
import java.util.List;
import java.util.Optional;

/**
 * The ipsets of kube-proxy's IPVS mode (IPv4), as upstream's pkg/proxy/ipvs ipsetInfo lists them:
 * name, type and the comment its iptables rules carry, in upstream's order.
 */
public final class IpvsSets {
  public static final String LOOP_BACK = "KUBE-LOOP-BACK";
  public static final String CLUSTER_IP = "KUBE-CLUSTER-IP";
  public static final String EXTERNAL_IP = "KUBE-EXTERNAL-IP";
  public static final String EXTERNAL_IP_LOCAL = "KUBE-EXTERNAL-IP-LOCAL";
  public static final String LOAD_BALANCER = "KUBE-LOAD-BALANCER";
  public static final String LOAD_BALANCER_FW = "KUBE-LOAD-BALANCER-FW";
  public static final String LOAD_BALANCER_LOCAL = "KUBE-LOAD-BALANCER-LOCAL";
  public static final String LOAD_BALANCER_SOURCE_IP = "KUBE-LOAD-BALANCER-SOURCE-IP";
  public static final String LOAD_BALANCER_SOURCE_CIDR = "KUBE-LOAD-BALANCER-SOURCE-CIDR";
  public static final String NODE_PORT_TCP = "KUBE-NODE-PORT-TCP";
  public static final String NODE_PORT_LOCAL_TCP = "KUBE-NODE-PORT-LOCAL-TCP";
  public static final String NODE_PORT_UDP = "KUBE-NODE-PORT-UDP";
  public static final String NODE_PORT_LOCAL_UDP = "KUBE-NODE-PORT-LOCAL-UDP";
  public static final String NODE_PORT_SCTP = "KUBE-NODE-PORT-SCTP-HASH";
  public static final String NODE_PORT_LOCAL_SCTP = "KUBE-NODE-PORT-LOCAL-SCTP-HASH";
  public static final String HEALTH_CHECK_NODE_PORT = "KUBE-HEALTH-CHECK-NODE-PORT";
  public static final String IPVS_IPS = "KUBE-IPVS-IPS";

  /** One set kube-proxy creates: its name, ipset type and upstream's comment text. */
  public record SetInfo(String name, String type, String comment) {
    /** The header options upstream's CreateSet writes for this type. */
    public List<IpsetCodec.Option> header() {
      if (type.equals("bitmap:port")) {
        return List.of(new IpsetCodec.Option("range", "0-65535"));
      }
      return List.of(
          new IpsetCodec.Option("family", "inet"),
          new IpsetCodec.Option("hashsize", "1024"),
          new IpsetCodec.Option("maxelem", "65536"));
    }
  }

  /** Every set, in upstream's ipsetInfo order. */
  public static final List<SetInfo> ALL =
      List.of(
          new SetInfo(
              LOOP_BACK,
              "hash:ip,port,ip",
              "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose"),
          new SetInfo(
              CLUSTER_IP,
              "hash:ip,port",
              "Kubernetes service cluster ip + port for masquerade purpose"),
          new SetInfo(
              EXTERNAL_IP,
              "hash:ip,port",
              "Kubernetes service external ip + port for masquerade and filter purpose"),
          new SetInfo(
              EXTERNAL_IP_LOCAL,
              "hash:ip,port",
              "Kubernetes service external ip + port with externalTrafficPolicy=local"),
          new SetInfo(LOAD_BALANCER, "hash:ip,port", "Kubernetes service lb portal"),
          new SetInfo(
              LOAD_BALANCER_FW,
              "hash:ip,port",
              "Kubernetes service load balancer ip + port for load balancer with sourceRange"),
          new SetInfo(
              LOAD_BALANCER_LOCAL,
              "hash:ip,port",
              "Kubernetes service load balancer ip + port with externalTrafficPolicy=local"),
          new SetInfo(
              LOAD_BALANCER_SOURCE_IP,
              "hash:ip,port,ip",
              "Kubernetes service load balancer ip + port + source IP for packet filter purpose"),
          new SetInfo(
              LOAD_BALANCER_SOURCE_CIDR,
              "hash:ip,port,net",
              "Kubernetes service load balancer ip + port + source cidr for packet filter purpose"),
          new SetInfo(
              NODE_PORT_TCP, "bitmap:port", "Kubernetes nodeport TCP port for masquerade purpose"),
          new SetInfo(
              NODE_PORT_LOCAL_TCP,
              "bitmap:port",
              "Kubernetes nodeport TCP port with externalTrafficPolicy=local"),
          new SetInfo(
              NODE_PORT_UDP, "bitmap:port", "Kubernetes nodeport UDP port for masquerade purpose"),
          new SetInfo(
              NODE_PORT_LOCAL_UDP,
              "bitmap:port",
              "Kubernetes nodeport UDP port with externalTrafficPolicy=local"),
          new SetInfo(
              NODE_PORT_SCTP,
              "hash:ip,port",
              "Kubernetes nodeport SCTP port for masquerade purpose with type 'hash ip:port'"),
          new SetInfo(
              NODE_PORT_LOCAL_SCTP,
              "hash:ip,port",
              "Kubernetes nodeport SCTP port with externalTrafficPolicy=local with type 'hash"
                  + " ip:port'"),
          new SetInfo(HEALTH_CHECK_NODE_PORT, "bitmap:port", "Kubernetes health check node port"),
          new SetInfo(IPVS_IPS, "hash:ip", "Addresses on the ipvs interface"));

  private IpvsSets() {}

  public static Optional<SetInfo> info(String name) {
    return ALL.stream().filter(s -> s.name().equals(name)).findFirst();
  }

  /** Upstream's comment of set {@code name}. */
  public static String comment(String name) {
    return info(name).orElseThrow(() -> new IllegalArgumentException("no set " + name)).comment();
  }

  /**
   * {@code state} without the set entries ipset refuses ({@link IpsetCodec#kernelForm}: a /0 net),
   * each described in {@code refused}: upstream's `ipset add` of such an entry fails, is logged and
   * skipped, and the rest of the sync goes on.
   */
  public static IpvsState withoutRefused(IpvsState state, List<String> refused) {
    List<IpsetCodec.IpSet> sets = new java.util.ArrayList<>();
    boolean any = false;
    for (IpsetCodec.IpSet s : state.ipsets()) {
      List<IpsetCodec.Entry> keep = new java.util.ArrayList<>();
      for (IpsetCodec.Entry e : s.entries()) {
        try {
          IpsetCodec.kernelForm(s.type(), e.element());
          keep.add(e);
        } catch (IllegalArgumentException ex) {
          refused.add(
              "not adding " + e.element() + " to ipset " + s.name() + ": " + ex.getMessage());
          any = true;
        }
      }
      sets.add(new IpsetCodec.IpSet(s.name(), s.type(), s.options(), keep));
    }
    return !any
        ? state
        : new IpvsState(
            state.dummyAddresses(),
            sets,
            state.services(),
            state.iptables(),
            state.jumps(),
            state.sysctls());
  }
}
