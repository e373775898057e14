package dev.svcproxy.trace;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.svcproxy.render.iptables.JumpRules;
import dev.svcproxy.render.iptables.OverallRulesTestAccess;
import dev.svcproxy.testutil.States;
import dev.svcproxy.trace.bundle.BundleReader;
import dev.svcproxy.trace.engine.Tracer;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The engine on hand-made nodes: one construct per test, no kernel needed. */
class TracerTest {
  static final String ADDR =
      "[{\"ifname\":\"lo\",\"flags\":[\"UP\"],\"addr_info\":[{\"family\":\"inet\",\"local\":\"127.0.0.1\",\"prefixlen\":8,\"scope\":\"host\"}]},"
          + "{\"ifname\":\"eth0\",\"flags\":[\"UP\"],\"addr_info\":[{\"family\":\"inet\",\"local\":\"192.168.0.2\",\"prefixlen\":24}]},"
          + "{\"ifname\":\"cni0\",\"flags\":[\"UP\"],\"addr_info\":[{\"family\":\"inet\",\"local\":\"10.0.1.1\",\"prefixlen\":24}]},"
          + "{\"ifname\":\"kube-ipvs0\",\"flags\":[],\"addr_info\":[{\"family\":\"inet\",\"local\":\"10.20.0.1\",\"prefixlen\":32}]}]";
  static final String ROUTES =
      """
      default via 192.168.0.1 dev eth0
      192.168.0.0/24 dev eth0 proto kernel scope link src 192.168.0.2
      10.0.1.0/24 dev cni0 proto kernel scope link src 10.0.1.1
      10.0.2.0/24 via 192.168.0.3 dev eth0
      local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1
      local 192.168.0.2 dev eth0 table local proto kernel scope host src 192.168.0.2
      local 10.0.1.1 dev cni0 table local proto kernel scope host src 10.0.1.1
      local 10.20.0.1 dev kube-ipvs0 table local proto kernel scope host src 10.20.0.1
      """;

  private static NodeState node(String iptables, Map<String, String> more) {
    Map<String, String> f = new HashMap<>(more);
    f.put("ip-addr.json", ADDR);
    f.put("ip-route.json", ROUTES);
    f.putIfAbsent("sysctl.txt", "net.ipv4.ip_forward = 1\n");
    if (iptables != null) {
      f.put("iptables-save.txt", iptables);
    }
    return BundleReader.fromFiles(f);
  }

  private static TraceResult trace(NodeState n, String src, String dst, int port) {
    return new Tracer(n).trace(new PacketSpec(src, 40000, dst, port, "tcp", null));
  }

  private static NodeState overall() {
    var rendered =
        OverallRulesTestAccess.renderer()
            .render(States.fromYaml(States.resource("/golden/overall/input.yaml")))
            .restoreInput();
    return node(JumpRules.onNode(rendered).print(), Map.of());
  }

  @Test
  void renderedRules_podToClusterIpWithTwoEndpoints_twoBranchesOfHalf() {
    TraceResult r = trace(overall(), "10.0.1.5", "172.30.0.44", 80);
    assertThat(r.outcomes())
        .extracting(Outcome::dnat)
        .containsExactlyInAnyOrder("10.180.0.4:80", "10.180.0.5:80");
    assertThat(r.outcomes())
        .allSatisfy(o -> assertThat(o.probability()).isCloseTo(0.5, within(1e-9)));
    assertThat(r.outcomes()).allSatisfy(o -> assertThat(o.snat()).isNull());
  }

  @Test
  void renderedRules_externalClientToClusterIp_isMasqueradedOffClusterSource() {
    TraceResult r = trace(overall(), "192.168.0.9", "172.30.0.41", 80);
    assertThat(r.outcomes())
        .singleElement()
        .satisfies(
            o -> {
              assertThat(o.dnat()).isEqualTo("10.180.0.1:80");
              assertThat(o.masquerade()).isTrue();
              assertThat(o.snat()).startsWith("192.168.0.2:");
            });
  }

  @Test
  void renderedRules_noEndpoints_rejectedInFilterServices() {
    TraceResult r = trace(overall(), "10.0.1.5", "172.30.0.46", 80);
    assertThat(r.outcomes())
        .singleElement()
        .satisfies(
            o -> {
              assertThat(o.verdict()).isEqualTo(Verdict.REJECT);
              assertThat(o.steps())
                  .anyMatch(s -> s.chain().equals("KUBE-SERVICES") && s.table().equals("filter"));
            });
  }

  @Test
  void renderedRules_loadBalancerSourceRange_admitsRangeDropsOthers() {
    NodeState n = overall();
    assertThat(trace(n, "203.0.113.7", "5.6.7.8", 80).outcomes())
        .singleElement()
        .satisfies(o -> assertThat(o.dnat()).isEqualTo("10.180.0.3:80"));
    assertThat(trace(n, "203.0.113.200", "5.6.7.8", 80).outcomes())
        .singleElement()
        .satisfies(
            o -> {
              assertThat(o.verdict()).isEqualTo(Verdict.DROP);
              assertThat(o.steps()).anyMatch(s -> s.chain().equals("KUBE-PROXY-FIREWALL"));
            });
  }

  @Test
  void recent_capturedAffinityEntry_picksTheStickyEndpoint() {
    String rules =
        """
        *nat
        :PREROUTING ACCEPT [0:0]
        :KUBE-SVC-X - [0:0]
        :KUBE-SEP-A - [0:0]
        :KUBE-SEP-B - [0:0]
        -A PREROUTING -d 10.96.0.1/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-X
        -A KUBE-SVC-X -m recent --rcheck --seconds 10800 --reap --name KUBE-SEP-B --mask 255.255.255.255 --rsource -j KUBE-SEP-B
        -A KUBE-SVC-X -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-A
        -A KUBE-SVC-X -j KUBE-SEP-B
        -A KUBE-SEP-A -p tcp -m tcp -j DNAT --to-destination 10.0.1.10:80
        -A KUBE-SEP-B -p tcp -m tcp -j DNAT --to-destination 10.0.1.11:80
        COMMIT
        """;
    NodeState n =
        node(
            rules,
            Map.of(
                "xt_recent/KUBE-SEP-B",
                "src=10.0.1.5 ttl: 64 last_seen: 4295 oldest_pkt: 1 4295\n"));
    assertThat(trace(n, "10.0.1.5", "10.96.0.1", 80).outcomes())
        .extracting(Outcome::dnat)
        .containsExactly("10.0.1.11:80");
    assertThat(trace(n, "10.0.1.6", "10.96.0.1", 80).outcomes()).hasSize(2);
  }

  @Test
  void ipset_hashIpPortDstDst_andMarkFlowsToPostrouting() {
    String rules =
        """
        *nat
        :PREROUTING ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        :POSTROUTING ACCEPT [0:0]
        :KUBE-MARK-MASQ - [0:0]
        -A OUTPUT -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ
        -A OUTPUT -d 10.20.0.1/32 -p tcp -m tcp --dport 443 -j DNAT --to-destination 192.168.0.50:6443
        -A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
        -A POSTROUTING -m mark --mark 0x4000/0x4000 -j MASQUERADE
        COMMIT
        """;
    String ipset =
        "create KUBE-CLUSTER-IP hash:ip,port family inet\nadd KUBE-CLUSTER-IP 10.20.0.1,tcp:443\n";
    NodeState n = node(rules, Map.of("ipset-save.txt", ipset));
    TraceResult r = trace(n, null, "10.20.0.1", 443);
    assertThat(r.outcomes())
        .singleElement()
        .satisfies(
            o -> {
              assertThat(o.dnat()).isEqualTo("192.168.0.50:6443");
              assertThat(o.masquerade()).isTrue();
              assertThat(o.snat()).startsWith("192.168.0.2:");
              assertThat(o.reply().returnsHere()).isTrue();
            });
  }

  @Test
  void seedS1_vipAsSourceWithoutMasquerade_replyStranded() {
    // kube-proxy IPVS-style node without --cluster-cidr: the VIP on kube-ipvs0 becomes the source.
    String rules =
        """
        *nat
        :OUTPUT ACCEPT [0:0]
        -A OUTPUT -d 10.20.0.1/32 -p tcp -m tcp --dport 443 -j DNAT --to-destination 192.168.5.10:6443
        COMMIT
        """;
    TraceResult r = trace(node(rules, Map.of()), null, "10.20.0.1", 443);
    assertThat(r.outcomes())
        .singleElement()
        .satisfies(
            o -> {
              assertThat(o.finalSource()).isEqualTo("10.20.0.1");
              assertThat(o.reply().returnsHere()).isFalse();
              assertThat(o.reply().reason()).contains("10.20.0.1").contains("not on eth0");
              assertThat(o.reply().reasonCode()).isEqualTo(ReasonCode.REPLY_NOT_ROUTED_BACK);
            });
  }

  @Test
  void chainPolicyDrop_gotoReturnAndUnknownMatch_reported() {
    String rules =
        """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD DROP [0:0]
        :OUTPUT ACCEPT [0:0]
        :A - [0:0]
        :B - [0:0]
        -A FORWARD -m owner --uid-owner 0 -j ACCEPT
        -A FORWARD -g A
        -A FORWARD -j ACCEPT
        -A A -j B
        -A A -p tcp -m multiport --dports 79:81,443 -j RETURN
        -A B -s 10.0.1.0/24 -j RETURN
        COMMIT
        """;
    TraceResult r = trace(node(rules, Map.of()), "10.0.1.5", "10.0.2.7", 80);
    // goto A: B returns to A; A's RETURN returns past FORWARD (goto), so the policy DROP applies.
    assertThat(r.outcomes())
        .singleElement()
        .satisfies(
            o -> {
              assertThat(o.verdict()).isEqualTo(Verdict.DROP);
              assertThat(o.steps()).anyMatch(s -> s.effect().equals("policy DROP"));
            });
    assertThat(r.warnings())
        .anyMatch(w -> w.contains("-m owner") && w.contains("assumed it does not match"));
  }

  @Test
  void conntrackEntry_established_skipsNatAndKeepsItsEndpoint() {
    String rules =
        """
        *nat
        :PREROUTING ACCEPT [0:0]
        -A PREROUTING -d 10.96.0.1/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.0.1.99:80
        COMMIT
        """;
    String ct =
        "tcp      6 431999 ESTABLISHED src=10.0.1.5 dst=10.96.0.1 sport=40000 dport=80 src=10.0.2.8 dst=10.0.1.5 sport=80 dport=40000 [ASSURED] mark=0 use=1\n";
    TraceResult r = trace(node(rules, Map.of("conntrack.txt", ct)), "10.0.1.5", "10.96.0.1", 80);
    assertThat(r.outcomes())
        .singleElement()
        .satisfies(
            o -> {
              assertThat(o.dnat()).isEqualTo("10.0.2.8:80");
              assertThat(o.steps()).noneMatch(s -> s.table().equals("nat"));
            });
  }

  @Test
  void routeLocalnet_offDropsLoopbackNodePortAfterDnat_onKeepsIt() {
    String rules =
        """
        *nat
        :OUTPUT ACCEPT [0:0]
        :POSTROUTING ACCEPT [0:0]
        -A OUTPUT -d 127.0.0.0/8 -p tcp -m tcp --dport 30080 -j DNAT --to-destination 10.0.2.8:80
        COMMIT
        """;
    assertThat(trace(node(rules, Map.of()), "127.0.0.1", "127.0.0.1", 30080).outcomes())
        .singleElement()
        .satisfies(o -> assertThat(o.verdict()).isEqualTo(Verdict.DROP));
    NodeState on = node(rules, Map.of("sysctl.txt", "net.ipv4.conf.all.route_localnet = 1\n"));
    assertThat(trace(on, "127.0.0.1", "127.0.0.1", 30080).outcomes())
        .singleElement()
        .satisfies(o -> assertThat(o.verdict()).isEqualTo(Verdict.ACCEPT));
  }

  @Test
  void rpFilterStrict_asymmetricSource_dropped() {
    NodeState n =
        node(
            null,
            Map.of("sysctl.txt", "net.ipv4.conf.all.rp_filter = 1\nnet.ipv4.ip_forward = 1\n"));
    TraceResult r =
        new Tracer(n).trace(new PacketSpec("10.0.2.9", 40000, "10.0.1.5", 80, "tcp", "cni0"));
    assertThat(r.outcomes())
        .singleElement()
        .satisfies(o -> assertThat(o.verdict()).isEqualTo(Verdict.DROP));
    assertThat(r.outcomes().get(0).steps()).anyMatch(s -> s.text().contains("rp_filter=1"));
  }

  @Test
  void noSourceGiven_kernelPicksRouteSourceAndNoFilesAreNoted() {
    TraceResult r = trace(node(null, Map.of()), null, "192.168.0.77", 22);
    assertThat(r.outcomes())
        .singleElement()
        .satisfies(
            o -> {
              assertThat(o.finalSource()).isEqualTo("192.168.0.2");
              assertThat(o.delivery()).isEqualTo("output");
            });
    assertThat(r.warnings()).anyMatch(w -> w.contains("no iptables-save.txt"));
  }

  @Test
  void forwardPolicyDrop_replyDroppedUnlessEstablishedIsAccepted() {
    String onlyNew =
        """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD DROP [0:0]
        :OUTPUT ACCEPT [0:0]
        -A FORWARD -m conntrack --ctstate NEW -j ACCEPT
        COMMIT
        """;
    Outcome o = trace(node(onlyNew, Map.of()), "10.0.1.5", "10.0.2.7", 80).outcomes().get(0);
    assertThat(o.verdict()).isEqualTo(Verdict.ACCEPT);
    assertThat(o.reply().returnsHere()).isFalse();
    assertThat(o.reply().verdict()).isEqualTo(Verdict.DROP);
    assertThat(o.reply().steps()).anyMatch(s -> s.effect().equals("policy DROP"));

    String withEstablished =
        onlyNew.replace(
            "COMMIT", "-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\nCOMMIT");
    Outcome ok =
        trace(node(withEstablished, Map.of()), "10.0.1.5", "10.0.2.7", 80).outcomes().get(0);
    assertThat(ok.reply().verdict()).isEqualTo(Verdict.ACCEPT);
    assertThat(ok.reply().steps()).anyMatch(s -> s.text().startsWith("reply sent out cni0"));
  }

  @Test
  void brNetfilterOff_podToPodOnTheBridge_bypassesIptables_physdevPortNotEvaluated() {
    String rules =
        """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD DROP [0:0]
        :OUTPUT ACCEPT [0:0]
        -A FORWARD -m physdev --physdev-in veth1 -j ACCEPT
        COMMIT
        """;
    String addr =
        ADDR.replace(
            "{\"ifname\":\"kube-ipvs0\"",
            "{\"ifname\":\"veth1\",\"master\":\"cni0\",\"flags\":[\"UP\"],\"addr_info\":[]},{\"ifname\":\"kube-ipvs0\"");
    Map<String, String> off =
        new HashMap<>(Map.of("sysctl.txt", "net.bridge.bridge-nf-call-iptables = 0\n"));
    off.put("ip-addr.json", addr);
    Map<String, String> f = new HashMap<>(off);
    f.put("ip-route.json", ROUTES);
    f.put("iptables-save.txt", rules);
    NodeState n = BundleReader.fromFiles(f);
    TraceResult r =
        new Tracer(n).trace(new PacketSpec("10.0.1.5", 40000, "10.0.1.6", 80, "tcp", "cni0"));
    assertThat(r.outcomes())
        .singleElement()
        .satisfies(
            o -> {
              assertThat(o.verdict()).isEqualTo(Verdict.ACCEPT);
              assertThat(o.steps()).anyMatch(s -> s.text().contains("bridge-nf-call-iptables=0"));
            });
    f.put("sysctl.txt", "net.bridge.bridge-nf-call-iptables = 1\n");
    TraceResult on =
        new Tracer(BundleReader.fromFiles(f))
            .trace(new PacketSpec("10.0.1.5", 40000, "10.0.1.6", 80, "tcp", "cni0"));
    assertThat(on.outcomes())
        .singleElement()
        .satisfies(o -> assertThat(o.verdict()).isEqualTo(Verdict.DROP));
    assertThat(on.warnings()).anyMatch(w -> w.contains("--physdev-in veth1"));
  }

  @Test
  void legacyAndNftBackendsBothApply_andRedirectSnatNotrackNthIcmp() {
    String nft =
        """
        *raw
        :PREROUTING ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A PREROUTING -p udp -m udp --dport 53 -j NOTRACK
        COMMIT
        *nat
        :PREROUTING ACCEPT [0:0]
        :POSTROUTING ACCEPT [0:0]
        -A PREROUTING -p tcp -m tcp --dport 8080 -j REDIRECT --to-ports 15001
        -A PREROUTING -p udp -m udp --dport 53 -j DNAT --to-destination 10.0.2.53:53
        -A POSTROUTING -s 10.0.1.0/24 -d 10.0.2.0/24 -p tcp -j SNAT --to-source 192.168.0.2
        COMMIT
        """;
    String legacy =
        """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A FORWARD -p icmp -m icmp --icmp-type 8 -m statistic --mode nth --every 4 --packet 0 -j DROP
        -A FORWARD -p tcp -m tcp --dport 9999 -j REJECT --reject-with tcp-reset
        COMMIT
        """;
    NodeState n = node(nft, Map.of("iptables-legacy-save.txt", legacy));
    // REDIRECT: to the incoming interface's primary address, delivered locally.
    TraceResult redirect =
        new Tracer(n).trace(new PacketSpec("10.0.1.5", 40000, "10.0.2.7", 8080, "tcp", "cni0"));
    assertThat(redirect.outcomes())
        .singleElement()
        .satisfies(
            o -> {
              assertThat(o.dnat()).isEqualTo("10.0.1.1:15001");
              assertThat(o.delivery()).isEqualTo("local");
            });
    // NOTRACK in raw: the nat table never sees the packet.
    TraceResult dns =
        new Tracer(n).trace(new PacketSpec("10.0.1.5", 40000, "10.0.2.7", 53, "udp", "cni0"));
    assertThat(dns.outcomes()).singleElement().satisfies(o -> assertThat(o.dnat()).isNull());
    // SNAT in POSTROUTING.
    TraceResult snat = trace(n, "10.0.1.5", "10.0.2.7", 80);
    assertThat(snat.outcomes())
        .singleElement()
        .satisfies(o -> assertThat(o.snat()).isEqualTo("192.168.0.2:40000"));
    // The legacy backend's filter rules apply too: REJECT on 9999, nth drops 1 in 4 pings.
    assertThat(trace(n, "10.0.1.5", "10.0.2.7", 9999).outcomes())
        .singleElement()
        .satisfies(
            o -> {
              assertThat(o.verdict()).isEqualTo(Verdict.REJECT);
              assertThat(o.steps()).anyMatch(s -> s.table().equals("legacy filter"));
            });
    TraceResult ping =
        new Tracer(n).trace(new PacketSpec("10.0.1.5", 0, "10.0.2.7", 0, "icmp", "cni0"));
    assertThat(ping.outcomes())
        .extracting(Outcome::verdict, Outcome::probability)
        .containsExactlyInAnyOrder(
            org.assertj.core.groups.Tuple.tuple(Verdict.DROP, 0.25),
            org.assertj.core.groups.Tuple.tuple(Verdict.ACCEPT, 0.75));
  }

  @Test
  void conntrackEntry_withSourceNat_appliesItsSourceWithoutNatRules() {
    String ct =
        "tcp      6 431999 ESTABLISHED src=10.0.1.5 dst=10.0.2.7 sport=40000 dport=80 src=10.0.2.7 dst=192.168.0.2 sport=80 dport=61000 [ASSURED] mark=0 use=1\n";
    TraceResult r = trace(node(null, Map.of("conntrack.txt", ct)), "10.0.1.5", "10.0.2.7", 80);
    assertThat(r.outcomes())
        .singleElement()
        .satisfies(
            o -> {
              assertThat(o.snat()).isEqualTo("192.168.0.2:61000");
              assertThat(o.dnat()).isNull();
            });
  }

  @Test
  void rpfilterAndPolicyMatches_evaluated() {
    String rules =
        """
        *raw
        :PREROUTING ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A PREROUTING -m rpfilter --invert -j DROP
        COMMIT
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A FORWARD -m policy --dir in --pol ipsec -j DROP
        COMMIT
        """;
    NodeState n = node(rules, Map.of());
    // 10.0.2.9 is routed via eth0: arriving on cni0 it fails the reverse-path check.
    TraceResult spoofed =
        new Tracer(n).trace(new PacketSpec("10.0.2.9", 40000, "10.0.1.5", 80, "tcp", "cni0"));
    assertThat(spoofed.outcomes())
        .singleElement()
        .satisfies(o -> assertThat(o.verdict()).isEqualTo(Verdict.DROP));
    TraceResult fine =
        new Tracer(n).trace(new PacketSpec("10.0.1.9", 40000, "10.0.2.5", 80, "tcp", "cni0"));
    assertThat(fine.outcomes())
        .singleElement()
        .satisfies(o -> assertThat(o.verdict()).isEqualTo(Verdict.ACCEPT));
    assertThat(fine.warnings()).noneMatch(w -> w.contains("policy") || w.contains("rpfilter"));
  }
}
