package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.trace.PacketSpec;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * The routing, sysctl and conntrack checks on hand-written bundles: a node1 with pods on cni0
 * (10.244.1.0/24), a remote pod network, one Service. Expected values are worked out by hand from
 * the kernel's rules (longest-prefix routing, route_localnet on the output device, rp_filter strict
 * vs loose, conntrack tuples), not read from the doctor's output.
 */
class RoutingSysctlConntrackChecksTest {
  private static final String ADDR =
      """
      1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN
          inet 127.0.0.1/8 scope host lo
      2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 state UP
          inet 192.168.1.11/24 brd 192.168.1.255 scope global eth0
      3: eth1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 state UP
          inet 10.99.0.2/30 scope global eth1
      4: cni0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 state UP
          inet 10.244.1.1/24 scope global cni0
      5: veth1@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 master cni0 state UP
      6: veth2@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 master cni0 state UP
      """;

  private static final String ROUTES_OK =
      """
      default via 192.168.1.1 dev eth0
      10.99.0.0/30 dev eth1 proto kernel scope link src 10.99.0.2
      10.244.1.0/24 dev cni0 proto kernel scope link src 10.244.1.1
      10.244.2.0/24 via 192.168.1.12 dev eth0
      10.244.3.0/24 via 192.168.1.13 dev eth0
      192.168.1.0/24 dev eth0 proto kernel scope link src 192.168.1.11
      local 127.0.0.0/8 dev lo table local scope host src 127.0.0.1
      local 127.0.0.1 dev lo table local scope host src 127.0.0.1
      local 192.168.1.11 dev eth0 table local scope host src 192.168.1.11
      local 10.99.0.2 dev eth1 table local scope host src 10.99.0.2
      local 10.244.1.1 dev cni0 table local scope host src 10.244.1.1
      """;

  /**
   * web (10.96.0.10:80 tcp, NodePort 30080) → 10.244.1.5, 10.244.2.5; dns (udp 53) → 10.244.3.4.
   */
  private static final String NAT =
      """
      *nat
      :PREROUTING ACCEPT [0:0]
      :INPUT ACCEPT [0:0]
      :OUTPUT ACCEPT [0:0]
      :POSTROUTING ACCEPT [0:0]
      :KUBE-SERVICES - [0:0]
      :KUBE-NODEPORTS - [0:0]
      :KUBE-MARK-MASQ - [0:0]
      :KUBE-POSTROUTING - [0:0]
      :KUBE-EXT-WEB - [0:0]
      :KUBE-SVC-WEB - [0:0]
      :KUBE-SEP-A - [0:0]
      :KUBE-SEP-B - [0:0]
      :KUBE-SVC-DNS - [0:0]
      :KUBE-SEP-D - [0:0]
      -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
      -A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
      -A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
      -A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
      -A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
      -A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
      -A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE
      -A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-WEB
      -A KUBE-SERVICES -d 10.96.0.53/32 -p udp -m comment --comment "kube-system/dns:dns cluster IP" -m udp --dport 53 -j KUBE-SVC-DNS
      -A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
      -A KUBE-NODEPORTS -p tcp -m comment --comment "default/web:http" -m tcp --dport 30080 -j KUBE-EXT-WEB
      -A KUBE-EXT-WEB -m comment --comment "masquerade traffic for default/web:http external destinations" -j KUBE-MARK-MASQ
      -A KUBE-EXT-WEB -j KUBE-SVC-WEB
      -A KUBE-SVC-WEB ! -s 10.244.0.0/16 -d 10.96.0.10/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ
      -A KUBE-SVC-WEB -m comment --comment "default/web:http -> 10.244.1.5:8080" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-A
      -A KUBE-SVC-WEB -m comment --comment "default/web:http -> 10.244.2.5:8080" -j KUBE-SEP-B
      -A KUBE-SEP-A -s 10.244.1.5/32 -m comment --comment "default/web:http" -j KUBE-MARK-MASQ
      -A KUBE-SEP-A -p tcp -m comment --comment "default/web:http" -m tcp -j DNAT --to-destination 10.244.1.5:8080
      -A KUBE-SEP-B -s 10.244.2.5/32 -m comment --comment "default/web:http" -j KUBE-MARK-MASQ
      -A KUBE-SEP-B -p tcp -m comment --comment "default/web:http" -m tcp -j DNAT --to-destination 10.244.2.5:8080
      -A KUBE-SVC-DNS -m comment --comment "kube-system/dns:dns -> 10.244.3.4:53" -j KUBE-SEP-D
      -A KUBE-SEP-D -s 10.244.3.4/32 -m comment --comment "kube-system/dns:dns" -j KUBE-MARK-MASQ
      -A KUBE-SEP-D -p udp -m comment --comment "kube-system/dns:dns" -m udp -j DNAT --to-destination 10.244.3.4:53
      COMMIT
      """;

  private static final String FILTER =
      """
      *filter
      :INPUT ACCEPT [0:0]
      :FORWARD ACCEPT [0:0]
      :OUTPUT ACCEPT [0:0]
      :KUBE-FORWARD - [0:0]
      -A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
      %s-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
      COMMIT
      """;

  private static final String SYSCTL_OK =
      """
      net.bridge.bridge-nf-call-iptables = 1
      net.ipv4.conf.all.route_localnet = 1
      net.ipv4.conf.all.rp_filter = 0
      net.ipv4.conf.eth1.rp_filter = 0
      net.ipv4.ip_forward = 1
      net.netfilter.nf_conntrack_count = 1200
      net.netfilter.nf_conntrack_max = 262144
      net.netfilter.nf_conntrack_tcp_be_liberal = 0
      """;

  private static Map<String, String> healthy() {
    Map<String, String> m = new HashMap<>();
    m.put("ip-addr.txt", ADDR);
    m.put("ip-route.txt", ROUTES_OK);
    m.put("iptables-save.txt", NAT + FILTER.formatted(""));
    m.put("sysctl.txt", SYSCTL_OK);
    m.put("conntrack.txt", "");
    return m;
  }

  private static List<Finding> run(Map<String, String> files, String id) {
    return run(files, id, null);
  }

  private static List<Finding> run(Map<String, String> files, String id, PacketSpec p) {
    DoctorInput in = DoctorInputs.files(files, Optional.empty());
    if (p != null) {
      in = in.withPacket(p);
    }
    return Doctor.standard().examine(in).findings().stream()
        .filter(f -> f.id().equals(id))
        .toList();
  }

  private static String lineOf(String text, String needle) {
    String[] l = text.split("\n");
    for (int i = 0; i < l.length; i++) {
      if (l[i].contains(needle)) {
        return String.valueOf(i + 1);
      }
    }
    throw new AssertionError(needle);
  }

  private static String sysctl(String key, String value) {
    StringBuilder b = new StringBuilder();
    for (String l : SYSCTL_OK.split("\n")) {
      b.append(l.startsWith(key + " ") ? key + " = " + value : l).append('\n');
    }
    return b.toString();
  }

  @Test
  void healthyNode_noFindingOfTheseChecks() {
    assertThat(
            Doctor.standard().examine(DoctorInputs.files(healthy(), Optional.empty())).findings())
        .isEmpty();
  }

  // --- no-default-route

  @Test
  void noDefaultRoute_vipUnrouted_errorCitingTheServiceRule() {
    Map<String, String> m = healthy();
    m.put("ip-route.txt", ROUTES_OK.replace("default via 192.168.1.1 dev eth0\n", ""));
    List<Finding> f = run(m, "no-default-route");
    assertThat(f).singleElement();
    assertThat(f.get(0).severity()).isEqualTo(Severity.ERROR);
    String all = m.get("iptables-save.txt");
    assertThat(f.get(0).evidence())
        .contains(
            new Evidence(
                "iptables-save.txt:" + lineOf(all, "-d 10.96.0.10/32"),
                all.lines().filter(l -> l.contains("-d 10.96.0.10/32 -p tcp")).findFirst().get()))
        .anyMatch(e -> e.where().equals("ip-route.txt") && e.text().contains("10.96.0.10"));
  }

  @Test
  void noDefaultRoute_serviceCidrRouted_noFinding() {
    Map<String, String> m = healthy();
    m.put(
        "ip-route.txt",
        ROUTES_OK.replace("default via 192.168.1.1 dev eth0\n", "10.96.0.0/12 dev eth0\n"));
    assertThat(run(m, "no-default-route")).isEmpty();
  }

  // --- no-route-to-endpoint

  @Test
  void noRouteToEndpoint_remotePodCidrRouteMissing_errorWhileOtherPodRoutesExist() {
    Map<String, String> m = healthy();
    m.put("ip-route.txt", ROUTES_OK.replace("10.244.2.0/24 via 192.168.1.12 dev eth0\n", ""));
    List<Finding> f = run(m, "no-route-to-endpoint");
    assertThat(f).singleElement();
    // 10.244.3.0/24 via 192.168.1.13 shows the node routes pod subnets itself: an error.
    assertThat(f.get(0).severity()).isEqualTo(Severity.ERROR);
    assertThat(f.get(0).summary()).contains("10.244.2.5:8080").contains("KUBE-SEP-B");
    assertThat(f.get(0).evidence())
        .contains(
            new Evidence("ip-route.txt", "route to 10.244.2.5: default via 192.168.1.1 dev eth0"));
  }

  @Test
  void noRouteToEndpoint_blackholeRoute_error() {
    Map<String, String> m = healthy();
    m.put(
        "ip-route.txt",
        ROUTES_OK.replace(
            "10.244.2.0/24 via 192.168.1.12 dev eth0\n", "blackhole 10.244.2.0/24\n"));
    List<Finding> f = run(m, "no-route-to-endpoint");
    assertThat(f).singleElement();
    assertThat(f.get(0).severity()).isEqualTo(Severity.ERROR);
  }

  @Test
  void noRouteToEndpoint_onlyClusterCidrSaysPods_warning() {
    Map<String, String> m = healthy();
    // No per-node pod routes at all: the cloud may route pod subnets behind the gateway.
    m.put(
        "ip-route.txt",
        ROUTES_OK
            .replace("10.244.2.0/24 via 192.168.1.12 dev eth0\n", "")
            .replace("10.244.3.0/24 via 192.168.1.13 dev eth0\n", ""));
    List<Finding> f = run(m, "no-route-to-endpoint");
    assertThat(f).hasSize(2).allMatch(x -> x.severity() == Severity.WARNING);
  }

  @Test
  void noRouteToEndpoint_hostNetworkEndpointViaDefault_noFinding() {
    Map<String, String> m = healthy();
    m.put(
        "iptables-save.txt",
        NAT.replace("10.244.2.5", "172.16.5.5").replace("! -s 10.244.0.0/16 ", "")
            + FILTER.formatted(""));
    m.put(
        "ip-route.txt",
        ROUTES_OK
            .replace("10.244.2.0/24 via 192.168.1.12 dev eth0\n", "")
            .replace("10.244.3.0/24 via 192.168.1.13 dev eth0\n", ""));
    assertThat(run(m, "no-route-to-endpoint")).isEmpty();
  }

  // --- pod-cidr-overlaps-service-cidr

  @Test
  void podCidrOverlap_factsOverlap_errorCitingBothLines() {
    Map<String, String> m = healthy();
    String yaml = "nodeName: node1\nclusterCIDRs: [10.96.0.0/16]\nserviceCIDRs: [10.96.0.0/12]\n";
    m.put("node.yaml", yaml);
    List<Finding> f = run(m, "pod-cidr-overlaps-service-cidr");
    assertThat(f).singleElement();
    assertThat(f.get(0).evidence())
        .containsExactly(
            new Evidence("node.yaml:3", "serviceCIDRs: [10.96.0.0/12]"),
            new Evidence("node.yaml:2", "clusterCIDRs: [10.96.0.0/16]"));
  }

  @Test
  void podCidrOverlap_disjointFacts_noFinding() {
    Map<String, String> m = healthy();
    m.put("node.yaml", "clusterCIDRs: [10.244.0.0/16]\nserviceCIDRs: [10.96.0.0/12]\n");
    assertThat(run(m, "pod-cidr-overlaps-service-cidr")).isEmpty();
  }

  @Test
  void podCidrOverlap_vipInsideBridgeSubnet_error() {
    Map<String, String> m = healthy();
    m.put(
        "iptables-save.txt", NAT.replace("10.96.0.53/32", "10.244.1.53/32") + FILTER.formatted(""));
    List<Finding> f = run(m, "pod-cidr-overlaps-service-cidr");
    assertThat(f).singleElement();
    assertThat(f.get(0).summary()).contains("10.244.1.53").contains("10.244.1.0/24");
    assertThat(f.get(0).evidence())
        .anyMatch(
            e -> e.where().equals("ip-addr.txt") && e.text().startsWith("cni0 10.244.1.1/24"));
  }

  // --- route-localnet-off

  @Test
  void routeLocalnetOff_localhostNodePortMartian_error() {
    Map<String, String> m = healthy();
    m.put("sysctl.txt", sysctl("net.ipv4.conf.all.route_localnet", "0"));
    List<Finding> f = run(m, "route-localnet-off");
    assertThat(f).singleElement();
    assertThat(f.get(0).evidence().get(0))
        .isEqualTo(new Evidence("sysctl.txt:2", "net.ipv4.conf.all.route_localnet = 0"));
    assertThat(f.get(0).evidence()).anyMatch(e -> e.text().contains("--dport 30080"));
  }

  @Test
  void routeLocalnetOff_localhostNodePortsDisabled_noFinding() {
    Map<String, String> m = healthy();
    m.put("sysctl.txt", sysctl("net.ipv4.conf.all.route_localnet", "0"));
    // --iptables-localhost-nodeports=false: upstream keeps loopback out of KUBE-NODEPORTS.
    m.put(
        "iptables-save.txt",
        NAT.replace(
                "-m addrtype --dst-type LOCAL -j KUBE-NODEPORTS",
                "-m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS")
            + FILTER.formatted(""));
    assertThat(run(m, "route-localnet-off")).isEmpty();
  }

  @Test
  void routeLocalnetOn_noFinding() {
    assertThat(run(healthy(), "route-localnet-off")).isEmpty();
  }

  // --- bridge-nf-call-iptables-off

  @Test
  void bridgeNfOff_endpointOnBridgeWithPods_error() {
    Map<String, String> m = healthy();
    m.put("sysctl.txt", sysctl("net.bridge.bridge-nf-call-iptables", "0"));
    List<Finding> f = run(m, "bridge-nf-call-iptables-off");
    assertThat(f).singleElement();
    assertThat(f.get(0).evidence().get(0))
        .isEqualTo(new Evidence("sysctl.txt:1", "net.bridge.bridge-nf-call-iptables = 0"));
    assertThat(f.get(0).summary()).contains("10.244.1.5");
  }

  @Test
  void bridgeNfOff_noEndpointOnTheBridge_noFinding() {
    Map<String, String> m = healthy();
    m.put("sysctl.txt", sysctl("net.bridge.bridge-nf-call-iptables", "0"));
    m.put("iptables-save.txt", NAT.replace("10.244.1.5", "10.244.4.5") + FILTER.formatted(""));
    assertThat(run(m, "bridge-nf-call-iptables-off")).isEmpty();
  }

  @Test
  void bridgeNfAbsentFromHandWrittenSysctls_assumedOnNoFinding() {
    Map<String, String> m = healthy();
    m.put("sysctl.txt", "net.ipv4.ip_forward = 1\n");
    DoctorReport r = Doctor.standard().examine(DoctorInputs.files(m, Optional.empty()));
    assertThat(r.findings()).noneMatch(f -> f.id().equals("bridge-nf-call-iptables-off"));
    assertThat(r.assumptions()).anyMatch(a -> a.contains("bridge-nf-call-iptables"));
  }

  // --- rp-filter-drops-asymmetric

  private static final PacketSpec ON_ETH1 =
      new PacketSpec("192.168.1.100", 40000, "10.244.1.5", 8080, "tcp", "eth1");

  @Test
  void rpFilterStrict_packetOnOtherInterfaceThanRouteBack_error() {
    Map<String, String> m = healthy();
    m.put("sysctl.txt", sysctl("net.ipv4.conf.all.rp_filter", "1"));
    List<Finding> f = run(m, "rp-filter-drops-asymmetric", ON_ETH1);
    assertThat(f).singleElement();
    assertThat(f.get(0).summary()).contains("arriving on eth1").contains("leaves by eth0");
    assertThat(f.get(0).evidence())
        .contains(
            new Evidence("sysctl.txt:3", "net.ipv4.conf.all.rp_filter = 1"),
            new Evidence("ip-route.txt", "route back to 192.168.1.100: 192.168.1.0/24 dev eth0"));
  }

  @Test
  void rpFilterLoose_sameAsymmetricPacket_noFinding() {
    Map<String, String> m = healthy();
    m.put("sysctl.txt", sysctl("net.ipv4.conf.all.rp_filter", "2"));
    assertThat(run(m, "rp-filter-drops-asymmetric", ON_ETH1)).isEmpty();
  }

  @Test
  void rpFilterStrict_packetOnRouteBackInterface_noFinding() {
    Map<String, String> m = healthy();
    m.put("sysctl.txt", sysctl("net.ipv4.conf.all.rp_filter", "1"));
    PacketSpec onEth0 = new PacketSpec("192.168.1.100", 40000, "10.244.1.5", 8080, "tcp", "eth0");
    assertThat(run(m, "rp-filter-drops-asymmetric", onEth0)).isEmpty();
  }

  // --- stale-udp-conntrack

  private static String ct(String replySrc) {
    return "ipv4     2 udp      17 117 src=10.244.1.7 dst=10.96.0.53 sport=5555 dport=53 src="
        + replySrc
        + " dst=10.244.1.7 sport=53 dport=5555 [ASSURED] mark=0 use=1\n";
  }

  @Test
  void staleUdp_entryToGoneEndpoint_errorWithEntryAndDeleteCommand() {
    Map<String, String> m = healthy();
    String tcp =
        "ipv4     2 tcp      6 86399 ESTABLISHED src=10.244.1.7 dst=10.96.0.10 sport=40000"
            + " dport=80 src=10.244.2.5 dst=10.244.1.7 sport=8080 dport=40000 [ASSURED] mark=0"
            + " use=1\n";
    m.put("conntrack.txt", tcp + ct("10.244.3.99"));
    List<Finding> f = run(m, "stale-udp-conntrack");
    assertThat(f).singleElement();
    assertThat(f.get(0).evidence().get(0))
        .isEqualTo(new Evidence("conntrack.txt:2", ct("10.244.3.99").strip()));
    assertThat(f.get(0).summary()).contains("10.244.3.99:53").contains("10.244.3.4:53");
    assertThat(f.get(0).fix())
        .contains("conntrack -D -p udp -s 10.244.1.7 -d 10.96.0.53 --sport 5555 --dport 53");
  }

  @Test
  void staleUdp_entryWithoutDnat_error() {
    Map<String, String> m = healthy();
    m.put("conntrack.txt", ct("10.96.0.53"));
    List<Finding> f = run(m, "stale-udp-conntrack");
    assertThat(f).singleElement();
    assertThat(f.get(0).summary()).contains("without DNAT");
  }

  @Test
  void staleUdp_entryToCurrentEndpoint_noFinding() {
    Map<String, String> m = healthy();
    m.put("conntrack.txt", ct("10.244.3.4"));
    assertThat(run(m, "stale-udp-conntrack")).isEmpty();
  }

  // --- conntrack-table-full
  // nf_conntrack_max is global (read-only in a non-init namespace: the lab cannot lower it, and
  // filling 262144 assured entries from a lab is neither quick nor kind to a shared machine), so
  // these hand-written sysctl.txt files stand in for a full node.

  @Test
  void conntrackFull_countAtMax_error() {
    Map<String, String> m = healthy();
    m.put("sysctl.txt", sysctl("net.netfilter.nf_conntrack_count", "262144"));
    List<Finding> f = run(m, "conntrack-table-full");
    assertThat(f).singleElement();
    assertThat(f.get(0).severity()).isEqualTo(Severity.ERROR);
    assertThat(f.get(0).evidence())
        .containsExactly(
            new Evidence("sysctl.txt:6", "net.netfilter.nf_conntrack_count = 262144"),
            new Evidence("sysctl.txt:7", "net.netfilter.nf_conntrack_max = 262144"));
  }

  @Test
  void conntrackFull_ninetyFivePercent_warning() {
    Map<String, String> m = healthy();
    m.put("sysctl.txt", sysctl("net.netfilter.nf_conntrack_count", "249037"));
    List<Finding> f = run(m, "conntrack-table-full");
    assertThat(f).singleElement();
    assertThat(f.get(0).severity()).isEqualTo(Severity.WARNING);
    assertThat(f.get(0).summary()).contains("(95%)");
  }

  @Test
  void conntrackFull_belowNinetyPercent_noFinding() {
    Map<String, String> m = healthy();
    // 235929 / 262144 = 89.99996%
    m.put("sysctl.txt", sysctl("net.netfilter.nf_conntrack_count", "235929"));
    assertThat(run(m, "conntrack-table-full")).isEmpty();
  }

  // --- conntrack-invalid-drop

  @Test
  void invalidDrop_counterAboveZero_warningWithCount() {
    Map<String, String> m = healthy();
    String filter =
        FILTER
            .formatted("")
            .replace(
                "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP",
                "[12:624] -A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP");
    m.put("iptables-save.txt", NAT + filter);
    List<Finding> f = run(m, "conntrack-invalid-drop");
    assertThat(f).singleElement();
    assertThat(f.get(0).summary()).startsWith("12 packet(s)");
    assertThat(f.get(0).evidence().get(0).where())
        .isEqualTo("iptables-save.txt:" + lineOf(NAT + filter, "--ctstate INVALID"));
  }

  @Test
  void invalidDrop_noCounters_noFinding() {
    assertThat(run(healthy(), "conntrack-invalid-drop")).isEmpty();
  }

  @Test
  void invalidDrop_beLiberal_noFinding() {
    Map<String, String> m = healthy();
    m.put(
        "iptables-save.txt",
        NAT
            + FILTER
                .formatted("")
                .replace("-A KUBE-FORWARD -m conntrack", "[12:624] -A KUBE-FORWARD -m conntrack"));
    m.put("sysctl.txt", sysctl("net.netfilter.nf_conntrack_tcp_be_liberal", "1"));
    assertThat(run(m, "conntrack-invalid-drop")).isEmpty();
  }
}
