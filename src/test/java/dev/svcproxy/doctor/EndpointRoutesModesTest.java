package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * no-route-to-endpoint, no-default-route and the pod-subnet/VIP overlap read kube-proxy's endpoints
 * and VIPs in all three modes: KUBE-SEP DNATs (iptables), IPVS real servers and virtual servers,
 * and the nftables table's endpoint chains and service-ips map. The same node in each mode: web
 * (10.96.0.20:80/tcp) with endpoints 10.244.2.5:8080 (node2, routed host-gw via 10.0.0.12) and
 * 10.244.3.7:8080 (node3, whose pod subnet has no route here). Hand reasoning: this node routes
 * another node's pod subnet itself (10.244.2.0/24 via 10.0.0.12), so an endpoint only the default
 * route covers leaves for the default gateway, which does not lead to node3: no-route-to-endpoint
 * (error) names 10.244.3.7 and only it, citing the line that sends traffic there in that mode.
 */
class EndpointRoutesModesTest {
  private static final String ADDR =
      """
      1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN
          inet 127.0.0.1/8 scope host lo
      2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 state UP
          inet 10.0.0.11/24 brd 10.0.0.255 scope global eth0
      3: cni0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 state UP
          inet 10.244.1.1/24 scope global cni0
      4: veth1@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 master cni0 state UP
      """;

  private static final String IPVS_ADDR =
      ADDR
          + """
          5: kube-ipvs0: <BROADCAST,NOARP> mtu 1500 state DOWN
              inet 10.96.0.20/32 scope global kube-ipvs0
          """;

  private static final String ROUTES =
      """
      default via 10.0.0.1 dev eth0
      10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.11
      10.244.1.0/24 dev cni0 proto kernel scope link src 10.244.1.1
      10.244.2.0/24 via 10.0.0.12 dev eth0
      """;

  private static final String ROUTES_NO_DEFAULT =
      """
      10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.11
      10.244.1.0/24 dev cni0 proto kernel scope link src 10.244.1.1
      10.244.2.0/24 via 10.0.0.12 dev eth0
      """;

  private static final String IPTABLES =
      """
      *nat
      :PREROUTING ACCEPT [0:0]
      :INPUT ACCEPT [0:0]
      :OUTPUT ACCEPT [0:0]
      :POSTROUTING ACCEPT [0:0]
      :KUBE-SERVICES - [0:0]
      :KUBE-SVC-WEB - [0:0]
      :KUBE-SEP-B - [0:0]
      :KUBE-SEP-C - [0:0]
      -A PREROUTING -j KUBE-SERVICES
      -A OUTPUT -j KUBE-SERVICES
      -A KUBE-SERVICES -d %1$s/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-WEB
      -A KUBE-SVC-WEB -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-B
      -A KUBE-SVC-WEB -j KUBE-SEP-C
      -A KUBE-SEP-B -p tcp -m tcp -j DNAT --to-destination 10.244.2.5:8080
      -A KUBE-SEP-C -p tcp -m tcp -j DNAT --to-destination 10.244.3.7:8080
      COMMIT
      """;

  private static final String IPVS =
      """
      -A -t %1$s:80 -s rr
      -a -t %1$s:80 -r 10.244.2.5:8080 -m -w 1
      -a -t %1$s:80 -r 10.244.3.7:8080 -m -w 1
      """;

  private static final String NFT =
      """
      table ip kube-proxy {
      	map service-ips {
      		type ipv4_addr . inet_proto . inet_service : verdict
      		elements = { %1$s . tcp . 80 : goto service-ULMVA6XW-default/web/tcp/http }
      	}

      	chain service-ULMVA6XW-default/web/tcp/http {
      		numgen random mod 2 vmap { 0 : goto endpoint-5TPGNJF2-default/web/tcp/http__10.244.2.5/8080, 1 : goto endpoint-ZCZBVNAZ-default/web/tcp/http__10.244.3.7/8080 }
      	}

      	chain endpoint-5TPGNJF2-default/web/tcp/http__10.244.2.5/8080 {
      		meta l4proto tcp dnat to 10.244.2.5:8080
      	}

      	chain endpoint-ZCZBVNAZ-default/web/tcp/http__10.244.3.7/8080 {
      		meta l4proto tcp dnat to 10.244.3.7:8080
      	}
      }
      """;

  private enum Mode {
    IPTABLES,
    IPVS,
    NFTABLES
  }

  private static Map<String, String> node(Mode mode, String vip, String routes) {
    Map<String, String> m = new HashMap<>();
    m.put("ip-route.txt", routes);
    m.put("node.yaml", "proxyMode: " + mode.name().toLowerCase(java.util.Locale.ROOT) + "\n");
    switch (mode) {
      case IPTABLES -> {
        m.put("ip-addr.txt", ADDR);
        m.put("iptables-save.txt", IPTABLES.formatted(vip));
      }
      case IPVS -> {
        m.put("ip-addr.txt", IPVS_ADDR.replace("10.96.0.20", vip));
        m.put("ipvsadm-save.txt", IPVS.formatted(vip));
      }
      case NFTABLES -> {
        m.put("ip-addr.txt", ADDR);
        m.put("nft-ruleset.txt", NFT.formatted(vip));
      }
    }
    return m;
  }

  private static List<Finding> run(Map<String, String> files, String id) {
    return Doctor.standard()
        .examine(DoctorInputs.files(files, Optional.empty()))
        .findings()
        .stream()
        .filter(f -> f.id().equals(id))
        .toList();
  }

  // ---------------------------------------------------------------- no-route-to-endpoint

  private static void assertNode3Unrouted(Map<String, String> files, Evidence cited) {
    assertThat(run(files, "no-route-to-endpoint"))
        .singleElement()
        .satisfies(
            f -> {
              assertThat(f.severity()).isEqualTo(Severity.ERROR);
              assertThat(f.summary()).startsWith("Endpoint 10.244.3.7:8080 (");
              assertThat(f.evidence().get(0)).isEqualTo(cited);
            });
  }

  @Test
  void noRouteToEndpoint_iptablesMode_namesTheSepDnat() {
    assertNode3Unrouted(
        node(Mode.IPTABLES, "10.96.0.20", ROUTES),
        new Evidence(
            "iptables-save.txt:16",
            "-A KUBE-SEP-C -p tcp -m tcp -j DNAT --to-destination 10.244.3.7:8080"));
  }

  @Test
  void noRouteToEndpoint_ipvsMode_namesTheRealServer() {
    // ipvsadm-save.txt line 3 adds real server 10.244.3.7:8080 to 10.96.0.20:80.
    assertNode3Unrouted(
        node(Mode.IPVS, "10.96.0.20", ROUTES),
        new Evidence("ipvsadm-save.txt:3", "-a -t 10.96.0.20:80 -r 10.244.3.7:8080 -m -w 1"));
  }

  @Test
  void noRouteToEndpoint_nftablesMode_namesTheEndpointChainsDnat() {
    // nft-ruleset.txt line 16 is endpoint-ZCZBVNAZ's dnat to 10.244.3.7:8080.
    assertNode3Unrouted(
        node(Mode.NFTABLES, "10.96.0.20", ROUTES),
        new Evidence("nft-ruleset.txt:16", "meta l4proto tcp dnat to 10.244.3.7:8080"));
  }

  @Test
  void noRouteToEndpoint_ipvsListing_namesTheRealServerLine() {
    // The same real servers as `ipvsadm -Ln` prints them: line 7 is 10.244.3.7's.
    Map<String, String> m = node(Mode.IPVS, "10.96.0.20", ROUTES);
    m.put(
        "ipvsadm-save.txt",
        """
        IP Virtual Server version 1.2.1 (size=4096)
        Prot LocalAddress:Port Scheduler Flags
          -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
        TCP  10.96.0.20:80 rr
          -> 10.244.2.5:8080              Masq    1      0          0
          -> 10.244.1.9:8080              Masq    1      0          0
          -> 10.244.3.7:8080              Masq    1      0          0
        """);
    assertNode3Unrouted(
        m,
        new Evidence(
            "ipvsadm-save.txt:7", "-> 10.244.3.7:8080              Masq    1      0          0"));
  }

  // ---------------------------------------------------------------- no-default-route

  @Test
  void noDefaultRoute_nftablesMode_vipUnrouted_reported() {
    // nftables mode: 10.96.0.20 is no local address, and the node's own connect() is routed
    // before the output hook's DNAT: with no default route nothing covers the VIP.
    assertThat(run(node(Mode.NFTABLES, "10.96.0.20", ROUTES_NO_DEFAULT), "no-default-route"))
        .singleElement()
        .satisfies(
            f ->
                assertThat(f.evidence())
                    .contains(
                        new Evidence(
                            "nft-ruleset.txt:4",
                            "elements = { 10.96.0.20 . tcp . 80 : goto"
                                + " service-ULMVA6XW-default/web/tcp/http }")));
  }

  @Test
  void noDefaultRoute_ipvsMode_vipBoundLocally_none() {
    // IPVS mode binds the VIP on kube-ipvs0: it is a local address whose route the kernel adds
    // in table local, so the node's own connections find it without a default route.
    assertThat(run(node(Mode.IPVS, "10.96.0.20", ROUTES_NO_DEFAULT), "no-default-route")).isEmpty();
  }

  // ---------------------------------------------------------------- pod subnet vs VIP

  @Test
  void overlap_vipInsideThePodBridgeSubnet_reportedInEveryMode() {
    // A Service VIP 10.244.1.20 lies in cni0's 10.244.1.0/24: a pod of this bridge with that
    // address would be captured by the Service's DNAT. Each mode's VIP source names it.
    Map<Mode, String> cited =
        Map.of(
            Mode.IPTABLES, "iptables-save.txt:12",
            Mode.IPVS, "ipvsadm-save.txt:1",
            Mode.NFTABLES, "nft-ruleset.txt:4");
    for (Mode mode : Mode.values()) {
      assertThat(run(node(mode, "10.244.1.20", ROUTES), "pod-cidr-overlaps-service-cidr"))
          .as(mode.name())
          .singleElement()
          .satisfies(
              f -> {
                assertThat(f.summary()).contains("Service VIP 10.244.1.20", "10.244.1.0/24");
                assertThat(f.evidence().get(0).where()).isEqualTo(cited.get(mode));
              });
    }
  }

  @Test
  void overlap_vipOutsideThePodSubnets_noneInEveryMode() {
    for (Mode mode : Mode.values()) {
      assertThat(run(node(mode, "10.96.0.20", ROUTES), "pod-cidr-overlaps-service-cidr"))
          .as(mode.name())
          .isEmpty();
    }
  }

  // ---------------------------------------------------------------- pod range vs node network

  @Test
  void podRangeOverlapsNodeNetwork_nftablesModeMasqueradeRule_reported() {
    // nftables mode writes kube-proxy's --cluster-cidr into each service chain as "ip saddr !=
    // CIDR jump mark-for-masquerade". Given 10.0.0.0/8 it covers the node's own 10.0.0.0/24:
    // pods' traffic to hosts there counts as in-cluster, is not masqueraded, and the hosts'
    // replies to pod addresses go elsewhere. The finding names that rule's line (12).
    Map<String, String> m = node(Mode.NFTABLES, "10.96.0.20", ROUTES);
    m.put(
        "nft-ruleset.txt",
        m.get("nft-ruleset.txt")
            .replace(
                "\tchain service-ULMVA6XW-default/web/tcp/http {\n",
                "\tchain service-ULMVA6XW-default/web/tcp/http {\n"
                    + "\t\tip daddr 10.96.0.20 ip saddr != 10.0.0.0/8 jump mark-for-masquerade\n")
            .replace(
                "table ip kube-proxy {\n",
                "table ip kube-proxy {\n\tchain mark-for-masquerade {\n"
                    + "\t\tmeta mark set meta mark | 0x00004000\n\t}\n\n"));
    assertThat(run(m, "pod-cidr-overlaps-node-network"))
        .singleElement()
        .satisfies(
            f -> {
              assertThat(f.summary()).contains("10.0.0.0/8");
              assertThat(f.evidence())
                  .contains(
                      new Evidence(
                          "nft-ruleset.txt:12",
                          "ip daddr 10.96.0.20 ip saddr != 10.0.0.0/8 jump mark-for-masquerade"));
            });
  }
}
