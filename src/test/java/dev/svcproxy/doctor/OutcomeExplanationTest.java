package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.testutil.States;
import dev.svcproxy.trace.PacketSpec;
import dev.svcproxy.trace.ReasonCode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Which finding explains the packet asked about: the no-endpoint rule a traced packet ends at is
 * matched to the Service port by its parsed address, protocol and port (not by substrings), and a
 * failure whose cause another finding names is not reported again as packet-not-delivered.
 */
class OutcomeExplanationTest {
  @TempDir Path bundle;

  /** Upstream nftables tests' node (as in NftUpstreamPacketFlowTest). */
  private static final String ADDR =
      "[{\"ifname\":\"lo\",\"flags\":[\"UP\"],\"addr_info\":[{\"family\":\"inet\",\"local\":\"127.0.0.1\",\"prefixlen\":8,\"scope\":\"host\"}]},"
          + "{\"ifname\":\"eth0\",\"flags\":[\"UP\"],\"addr_info\":["
          + "{\"family\":\"inet\",\"local\":\"192.168.0.2\",\"prefixlen\":24},"
          + "{\"family\":\"inet\",\"local\":\"192.168.1.2\",\"prefixlen\":24},"
          + "{\"family\":\"inet\",\"local\":\"192.168.99.11\",\"prefixlen\":24}]},"
          + "{\"ifname\":\"cni0\",\"flags\":[\"UP\"],\"addr_info\":[{\"family\":\"inet\",\"local\":\"10.0.0.1\",\"prefixlen\":8}]}]";

  private static final String ROUTES =
      """
      default via 192.168.0.1 dev eth0
      192.168.0.0/24 dev eth0 proto kernel scope link src 192.168.0.2
      192.168.1.0/24 dev eth0 proto kernel scope link src 192.168.1.2
      192.168.99.0/24 dev eth0 proto kernel scope link src 192.168.99.11
      10.0.0.0/8 dev cni0 proto kernel scope link src 10.0.0.1
      local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1
      local 192.168.0.2 dev eth0 table local proto kernel scope host src 192.168.0.2
      local 192.168.1.2 dev eth0 table local proto kernel scope host src 192.168.1.2
      local 192.168.99.11 dev eth0 table local proto kernel scope host src 192.168.99.11
      local 10.0.0.1 dev cni0 table local proto kernel scope host src 10.0.0.1
      """;

  private static List<Finding> find(DoctorReport r, String id) {
    return r.findings().stream().filter(f -> f.id().equals(id)).toList();
  }

  @Test
  void failedHere_nftElementSameAddressOtherPort_onlyThePacketsOwnServiceIsTheError()
      throws Exception {
    // Upstream's TestOverallNFTablesRules ruleset: ns6/svc6:p80 (172.30.0.46:80/tcp) has no
    // endpoints (no-endpoint-services element -> goto reject-chain). A second element for the
    // same address on port 8080 (ns9/svc9:p8080) is added. A packet to 172.30.0.46:80 is
    // rejected by svc6's element: that finding is the failure at hand (ERROR); svc9's is only
    // a condition of the node (WARNING), although "172.30.0.46 . tcp . 8080" contains both
    // "172.30.0.46" and "80".
    String json =
        States.resource("/nftables/overall.json")
            .replace(
                "[{\"elem\": {\"val\": {\"concat\": [\"172.30.0.46\", \"tcp\", 80]}",
                "[{\"elem\": {\"val\": {\"concat\": [\"172.30.0.46\", \"tcp\", 8080]},"
                    + " \"comment\": \"ns9/svc9:p8080\"}}, {\"goto\": {\"target\":"
                    + " \"reject-chain\"}}], [{\"elem\": {\"val\": {\"concat\": [\"172.30.0.46\","
                    + " \"tcp\", 80]}");
    assertThat(json).contains("ns9/svc9:p8080");
    Files.writeString(bundle.resolve("nft-ruleset.json"), json);
    Files.writeString(bundle.resolve("ip-addr.json"), ADDR);
    Files.writeString(bundle.resolve("ip-route.json"), ROUTES);
    DoctorInput in =
        DoctorInputs.bundle(bundle, Optional.empty())
            .withPacket(new PacketSpec("10.0.0.2", 40000, "172.30.0.46", 80, "tcp", null));
    DoctorReport r = Doctor.standard().examine(in);
    assertThat(r.trace().outcomes())
        .anyMatch(o -> !o.delivered() && o.reasonCode() == ReasonCode.NO_ENDPOINTS);
    List<Finding> ne = find(r, "no-endpoints");
    assertThat(ne)
        .filteredOn(f -> f.summary().startsWith("ns6/svc6:p80 "))
        .singleElement()
        .satisfies(f -> assertThat(f.severity()).isEqualTo(Severity.ERROR))
        .satisfies(f -> assertThat(f.summary()).contains("172.30.0.46:80/tcp"));
    assertThat(ne)
        .filteredOn(f -> f.summary().startsWith("ns9/svc9:p8080 "))
        .singleElement()
        .satisfies(f -> assertThat(f.severity()).isEqualTo(Severity.WARNING));
  }

  @Test
  void packetOutcome_replySourceMismatchBesideVipAsSource_notReportedTwice() {
    // IPVS node (seed 000's addresses): 10.20.0.1 bound on kube-ipvs0, virtual server
    // 10.20.0.1:443 -> 10.19.9.120:6443 (masq), a whole nat table whose only masquerade is by
    // mark 0x4000, which nothing sets for the node's connections: vip-as-source. The ipset-save
    // lacks KUBE-CLUSTER-IP, so missing-cluster-cidr is not judged. A client on the node's link
    // (10.19.136.99 on eth0) to the VIP is DNATed to the real server behind the gateway and not
    // masqueraded either: the server answers the client straight, from 10.19.9.120, which the
    // client never asked (REPLY_SOURCE_MISMATCH). The same missing masquerade as vip-as-source
    // names; packet-not-delivered must not repeat it.
    String addr =
        """
        $ ip addr
        1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN
            inet 127.0.0.1/8 scope host lo
        2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc mq state UP
            inet 10.19.136.10/24 brd 10.19.136.255 scope global eth0
        784: kube-ipvs0: <BROADCAST,NOARP> mtu 1500 qdisc noop state DOWN
            inet 10.20.0.1/32 brd 10.20.0.1 scope global kube-ipvs0
        """;
    String route =
        """
        $ ip route show table all
        default via 10.19.136.1 dev eth0
        10.19.136.0/24 dev eth0 proto kernel scope link src 10.19.136.10
        local 10.19.136.10 dev eth0 table local proto kernel scope host src 10.19.136.10
        local 10.20.0.1 dev kube-ipvs0 table local proto kernel scope host src 10.20.0.1
        local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1
        """;
    String ipvs =
        """
        $ ipvsadm -Sn
        -A -t 10.20.0.1:443 -s rr
        -a -t 10.20.0.1:443 -r 10.19.9.120:6443 -m -w 1
        """;
    String ipset =
        """
        $ ipset save
        create KUBE-LOOP-BACK hash:ip,port,ip family inet hashsize 1024 maxelem 65536
        """;
    String nat =
        """
        $ iptables-save -t nat
        *nat
        :PREROUTING ACCEPT [0:0]
        :INPUT ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        :POSTROUTING ACCEPT [0:0]
        :KUBE-MARK-MASQ - [0:0]
        :KUBE-POSTROUTING - [0:0]
        :KUBE-SERVICES - [0:0]
        -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
        -A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
        -A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
        -A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
        -A KUBE-POSTROUTING -m mark --mark 0x4000/0x4000 -j MASQUERADE
        COMMIT
        """;
    List<PastedInput.Source> s =
        List.of(
            new PastedInput.Source("addr.txt", addr),
            new PastedInput.Source("route.txt", route),
            new PastedInput.Source("ipvs.txt", ipvs),
            new PastedInput.Source("ipset.txt", ipset),
            new PastedInput.Source("nat.txt", nat));
    DoctorInput in =
        DoctorInputs.paste(s, Optional.empty())
            .withPacket(new PacketSpec("10.19.136.99", 40000, "10.20.0.1", 443, "tcp", "eth0"));
    DoctorReport r = Doctor.standard().examine(in);
    assertThat(r.trace().outcomes())
        .anyMatch(
            o -> o.reply() != null && o.reply().reasonCode() == ReasonCode.REPLY_SOURCE_MISMATCH);
    assertThat(r.findings())
        .extracting(Finding::id)
        .contains("vip-as-source")
        .doesNotContain("missing-cluster-cidr", "packet-not-delivered");
  }
}
