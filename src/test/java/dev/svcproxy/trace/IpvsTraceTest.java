package dev.svcproxy.trace;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.svcproxy.trace.bundle.BundleReader;
import dev.svcproxy.trace.engine.Tracer;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/**
 * The tracer through IPVS, on a hand-built kube-proxy IPVS node. Every expectation is reasoned by
 * hand from the kernel (net/netfilter/ipvs/ip_vs_core.c: requests at LOCAL_IN NAT_SRC-1, after
 * filter INPUT, and LOCAL_OUT NAT_DST+2, after nat OUTPUT; ip_vs_xmit.c: a masqueraded packet from
 * LOCAL_IN is sent through LOCAL_OUT and POSTROUTING; ip_vs_leave: no real server → ICMP port
 * unreachable) and upstream kube-proxy's IPVS rules (pkg/proxy/ipvs/proxier.go), and written down
 * in each test.
 *
 * <p>The node: eth0 192.168.0.2/24 (gateway 192.168.0.1), cni0 10.0.1.1/24 with local pods
 * 10.0.1.0/24, the other node's pods 10.0.2.0/24 via 192.168.0.3, kube-ipvs0 (DOWN) holding the
 * ClusterIPs 10.96.0.10-14 and the LoadBalancer IP 192.168.1.200; cluster CIDR 10.0.0.0/16.
 */
class IpvsTraceTest {
  static final String ADDR =
      "[{\"ifname\":\"lo\",\"flags\":[\"UP\"],\"addr_info\":[{\"family\":\"inet\",\"local\":\"127.0.0.1\",\"prefixlen\":8,\"scope\":\"host\"}]},"
          + "{\"ifname\":\"eth0\",\"flags\":[\"UP\"],\"addr_info\":[{\"family\":\"inet\",\"local\":\"192.168.0.2\",\"prefixlen\":24}]},"
          + "{\"ifname\":\"cni0\",\"flags\":[\"UP\"],\"addr_info\":[{\"family\":\"inet\",\"local\":\"10.0.1.1\",\"prefixlen\":24}]},"
          + "{\"ifname\":\"kube-ipvs0\",\"flags\":[\"BROADCAST\",\"NOARP\"],\"addr_info\":["
          + vip("10.96.0.10")
          + ","
          + vip("10.96.0.11")
          + ","
          + vip("10.96.0.12")
          + ","
          + vip("10.96.0.13")
          + ","
          + vip("10.96.0.14")
          + ","
          + vip("192.168.1.200")
          + "]}]";

  private static String vip(String ip) {
    return "{\"family\":\"inet\",\"local\":\"" + ip + "\",\"prefixlen\":32}";
  }

  static final String ROUTES =
      """
      default via 192.168.0.1 dev eth0
      192.168.0.0/24 dev eth0 proto kernel scope link src 192.168.0.2
      10.0.1.0/24 dev cni0 proto kernel scope link src 10.0.1.1
      10.0.2.0/24 via 192.168.0.3 dev eth0
      local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1
      local 192.168.0.2 dev eth0 table local proto kernel scope host src 192.168.0.2
      local 10.0.1.1 dev cni0 table local proto kernel scope host src 10.0.1.1
      local 10.96.0.10 dev kube-ipvs0 table local proto kernel scope host src 10.96.0.10
      local 10.96.0.11 dev kube-ipvs0 table local proto kernel scope host src 10.96.0.11
      local 10.96.0.12 dev kube-ipvs0 table local proto kernel scope host src 10.96.0.12
      local 10.96.0.13 dev kube-ipvs0 table local proto kernel scope host src 10.96.0.13
      local 10.96.0.14 dev kube-ipvs0 table local proto kernel scope host src 10.96.0.14
      local 192.168.1.200 dev kube-ipvs0 table local proto kernel scope host src 192.168.1.200
      """;

  /** Upstream's IPVS-mode rules (proxier.go writeIptablesRules) with --cluster-cidr 10.0.0.0/16. */
  static final String RULES =
      """
      *nat
      :PREROUTING ACCEPT [0:0]
      :INPUT ACCEPT [0:0]
      :OUTPUT ACCEPT [0:0]
      :POSTROUTING ACCEPT [0:0]
      :KUBE-SERVICES - [0:0]
      :KUBE-POSTROUTING - [0:0]
      :KUBE-MARK-MASQ - [0:0]
      :KUBE-NODE-PORT - [0:0]
      :KUBE-LOAD-BALANCER - [0:0]
      -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
      -A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
      -A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
      -A KUBE-LOAD-BALANCER -j KUBE-MARK-MASQ
      -A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
      -A KUBE-POSTROUTING -m comment --comment "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose" -m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE
      -A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
      -A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
      -A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE
      -A KUBE-SERVICES -m comment --comment "Kubernetes service lb portal" -m set --match-set KUBE-LOAD-BALANCER dst,dst -j KUBE-LOAD-BALANCER
      -A KUBE-SERVICES ! -s 10.0.0.0/16 -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ
      -A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT
      -A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT
      -A KUBE-SERVICES -m set --match-set KUBE-LOAD-BALANCER dst,dst -j ACCEPT
      COMMIT
      *filter
      :INPUT ACCEPT [0:0]
      :FORWARD ACCEPT [0:0]
      :OUTPUT ACCEPT [0:0]
      :KUBE-FORWARD - [0:0]
      :KUBE-IPVS-FILTER - [0:0]
      -A INPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-FILTER
      -A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
      -A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
      -A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
      -A KUBE-IPVS-FILTER -m set --match-set KUBE-LOAD-BALANCER dst,dst -j RETURN
      -A KUBE-IPVS-FILTER -m set --match-set KUBE-CLUSTER-IP dst,dst -j RETURN
      -A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst -j REJECT
      COMMIT
      """;

  static final String IPSETS =
      """
      create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536
      add KUBE-CLUSTER-IP 10.96.0.10,tcp:80
      add KUBE-CLUSTER-IP 10.96.0.11,tcp:80
      add KUBE-CLUSTER-IP 10.96.0.12,tcp:80
      add KUBE-CLUSTER-IP 10.96.0.13,tcp:80
      add KUBE-CLUSTER-IP 10.96.0.14,tcp:80
      create KUBE-LOAD-BALANCER hash:ip,port family inet hashsize 1024 maxelem 65536
      add KUBE-LOAD-BALANCER 192.168.1.200,tcp:80
      create KUBE-LOOP-BACK hash:ip,port,ip family inet hashsize 1024 maxelem 65536
      add KUBE-LOOP-BACK 10.0.1.5,tcp:8080,10.0.1.5
      create KUBE-IPVS-IPS hash:ip family inet hashsize 1024 maxelem 65536
      add KUBE-IPVS-IPS 10.96.0.10
      add KUBE-IPVS-IPS 10.96.0.11
      add KUBE-IPVS-IPS 10.96.0.12
      add KUBE-IPVS-IPS 10.96.0.13
      add KUBE-IPVS-IPS 10.96.0.14
      add KUBE-IPVS-IPS 192.168.1.200
      """;

  static final String SERVICES =
      """
      -A -t 10.96.0.10:80 -s rr
      -a -t 10.96.0.10:80 -r 10.0.1.5:8080 -m -w 1
      -a -t 10.96.0.10:80 -r 10.0.2.5:8080 -m -w 1
      -A -t 10.96.0.11:80 -s wrr
      -a -t 10.96.0.11:80 -r 10.0.1.5:8080 -m -w 3
      -a -t 10.96.0.11:80 -r 10.0.2.5:8080 -m -w 1
      -a -t 10.96.0.11:80 -r 10.0.2.6:8080 -m -w 0
      -A -t 10.96.0.12:80 -s rr -p 10800
      -a -t 10.96.0.12:80 -r 10.0.1.5:8080 -m -w 1
      -a -t 10.96.0.12:80 -r 10.0.2.5:8080 -m -w 1
      -A -t 10.96.0.13:80 -s rr
      -a -t 10.96.0.13:80 -r 10.0.1.5:8080 -m -w 3
      -a -t 10.96.0.13:80 -r 10.0.2.5:8080 -m -w 1
      -a -t 10.96.0.13:80 -r 10.0.2.6:8080 -m -w 0
      -A -t 10.96.0.14:80 -s rr
      -a -t 10.96.0.14:80 -r 10.0.2.6:8080 -m -w 0
      -A -t 192.168.1.200:80 -s rr
      -a -t 192.168.1.200:80 -r 10.0.2.5:8080 -m -w 1
      """;

  static final String SYSCTLS =
      """
      net.ipv4.ip_forward = 1
      net.ipv4.vs.conntrack = 1
      net.ipv4.vs.expire_nodest_conn = 1
      net.ipv4.vs.expire_quiescent_template = 1
      """;

  static NodeState node(Map<String, String> over) {
    Map<String, String> f = new HashMap<>();
    f.put("ip-addr.json", ADDR);
    f.put("ip-route.json", ROUTES);
    f.put("sysctl.txt", SYSCTLS);
    f.put("iptables-save.txt", RULES);
    f.put("ipset-save.txt", IPSETS);
    f.put("ipvsadm-save.txt", SERVICES);
    f.putAll(over);
    f.values().removeIf(String::isEmpty);
    return BundleReader.fromFiles(f);
  }

  static TraceResult trace(NodeState n, String src, String dst, int port) {
    TraceResult r = new Tracer(n).trace(new PacketSpec(src, 40000, dst, port, "tcp", null));
    System.out.println(TraceFormatter.text(r));
    return r;
  }

  static Outcome to(TraceResult r, String dnat) {
    return r.outcomes().stream()
        .filter(o -> dnat.equals(o.dnat()))
        .findFirst()
        .orElseThrow(() -> new AssertionError("no outcome to " + dnat + " in " + r.outcomes()));
  }

  /** Index of the first step matching, to check the order the hooks ran in. */
  static int indexOf(Outcome o, java.util.function.Predicate<Step> p) {
    return IntStream.range(0, o.steps().size())
        .filter(i -> p.test(o.steps().get(i)))
        .findFirst()
        .orElse(-1);
  }

  @Test
  void podToClusterIp_passesKubeIpvsFilterThenIpvsSchedulesEachRealServerHalf_noMasquerade() {
    // Pod 10.0.1.7 (inside the cluster CIDR) → 10.96.0.10:80, arriving on cni0.
    // nat PREROUTING KUBE-SERVICES: "! -s 10.0.0.0/16 ... KUBE-CLUSTER-IP" does not match (the pod
    // is in the cluster CIDR): no mark; KUBE-CLUSTER-IP dst,dst → ACCEPT.
    // Routing: 10.96.0.10 is local (kube-ipvs0) → INPUT. filter INPUT KUBE-IPVS-FILTER rule 2
    // (KUBE-CLUSTER-IP dst,dst) RETURNs. Then IPVS (LOCAL_IN, 99): rr over two servers of weight
    // 1: p = 1/2 each; destination rewritten; sent through OUTPUT/POSTROUTING: no mark, not in
    // KUBE-LOOP-BACK (source 10.0.1.7 is not the endpoint) → no masquerade. 10.0.1.5 leaves on
    // cni0, 10.0.2.5 via 192.168.0.3 on eth0.
    TraceResult r = trace(node(Map.of()), "10.0.1.7", "10.96.0.10", 80);
    assertThat(r.outcomes()).hasSize(2);
    for (String rs : List.of("10.0.1.5:8080", "10.0.2.5:8080")) {
      Outcome o = to(r, rs);
      assertThat(o.verdict()).isEqualTo(Verdict.ACCEPT);
      assertThat(o.probability()).isCloseTo(0.5, within(1e-9));
      assertThat(o.snat()).isNull();
      assertThat(o.finalSource()).isEqualTo("10.0.1.7");
      assertThat(o.ipvs().virtualServer()).isEqualTo("TCP 10.96.0.10:80");
      assertThat(o.ipvs().scheduler()).isEqualTo("rr");
      assertThat(o.ipvs().realServer()).isEqualTo(rs);
      assertThat(o.ipvs().hook()).isEqualTo("INPUT");
      int filter =
          indexOf(o, s -> s.chain().equals("KUBE-IPVS-FILTER") && s.effect().equals("RETURN"));
      int ipvs = indexOf(o, s -> s.kind() == StepKind.IPVS && s.rule() > 0);
      int post = indexOf(o, s -> s.hook().equals("POSTROUTING"));
      assertThat(filter).isGreaterThan(0);
      assertThat(ipvs).isGreaterThan(filter);
      assertThat(post).isGreaterThan(ipvs);
      assertThat(o.steps())
          .noneMatch(s -> s.chain().equals("KUBE-MARK-MASQ"))
          .noneMatch(s -> s.effect().startsWith("MASQUERADE"));
    }
    assertThat(to(r, "10.0.1.5:8080").outInterface()).isEqualTo("cni0");
    assertThat(to(r, "10.0.2.5:8080").outInterface()).isEqualTo("eth0");
    // The reply from 10.0.1.5 comes back through the node (its route to the pod is cni0) and
    // IPVS, in FORWARD, gives it the VIP back as source.
    Outcome.Reply reply = to(r, "10.0.1.5:8080").reply();
    assertThat(reply.returnsHere()).isTrue();
    assertThat(reply.seenBySenderFrom()).isEqualTo("10.96.0.10:80");
    assertThat(reply.steps())
        .anyMatch(s -> s.kind() == StepKind.IPVS && s.hook().equals("FORWARD"))
        .anyMatch(s -> s.text().contains("as 10.96.0.10:80 -> 10.0.1.7:40000"));
  }

  @Test
  void offClusterClient_markedInPrerouting_masqueradedInPostroutingAfterIpvs() {
    // 192.168.0.50 (on eth0, outside the cluster CIDR) → 10.96.0.10:80: "! -s 10.0.0.0/16 -m set
    // KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ" matches → mark 0x4000. IPVS forwards from INPUT
    // through OUTPUT to POSTROUTING, where KUBE-POSTROUTING sees the mark and MASQUERADEs to the
    // output device's address: 10.0.1.1 on cni0, 192.168.0.2 on eth0 (conntrack=1 keeps the
    // entry, so nat POSTROUTING sees the packet).
    TraceResult r = trace(node(Map.of()), "192.168.0.50", "10.96.0.10", 80);
    assertThat(r.outcomes()).hasSize(2);
    assertThat(to(r, "10.0.1.5:8080").snat()).isEqualTo("10.0.1.1:40000");
    assertThat(to(r, "10.0.2.5:8080").snat()).isEqualTo("192.168.0.2:40000");
    Outcome o = to(r, "10.0.2.5:8080");
    assertThat(o.masquerade()).isTrue();
    int mark = indexOf(o, s -> s.chain().equals("KUBE-MARK-MASQ"));
    int ipvs = indexOf(o, s -> s.kind() == StepKind.IPVS && s.rule() > 0);
    int masq = indexOf(o, s -> s.effect().startsWith("MASQUERADE"));
    assertThat(mark).isGreaterThan(0);
    assertThat(ipvs).isGreaterThan(mark);
    assertThat(masq).isGreaterThan(ipvs);
    assertThat(o.reply().returnsHere()).isTrue();
  }

  @Test
  void vsConntrackOff_ipvsDetachesTheConnection_noMasqueradeDespiteTheMark() {
    // Same packet as above with net.ipv4.vs.conntrack=0: ip_vs_nat_send_or_cont calls
    // ip_vs_notrack, so the packet is untracked in POSTROUTING and nat (MASQUERADE) never sees it.
    NodeState n =
        node(Map.of("sysctl.txt", "net.ipv4.ip_forward = 1\nnet.ipv4.vs.conntrack = 0\n"));
    TraceResult r = trace(n, "192.168.0.50", "10.96.0.10", 80);
    assertThat(r.outcomes()).hasSize(2).allSatisfy(o -> assertThat(o.snat()).isNull());
  }

  @Test
  void nodeLocalClient_ipvsAtOutputAfterNatOutput_sourceIsTheVipAndMasqueraded() {
    // The node itself → 10.96.0.10:80. The route is "local 10.96.0.10 dev kube-ipvs0 src
    // 10.96.0.10": the source chosen is the VIP. nat OUTPUT KUBE-SERVICES: 10.96.0.10 is not in
    // 10.0.0.0/16 → KUBE-MARK-MASQ. IPVS at LOCAL_OUT (NAT_DST+2, after nat OUTPUT): rr, 1/2
    // each; re-routed to the real server; POSTROUTING masquerades (mark) to the output address.
    TraceResult r = trace(node(Map.of()), null, "10.96.0.10", 80);
    assertThat(r.outcomes()).hasSize(2);
    Outcome o = to(r, "10.0.2.5:8080");
    assertThat(o.probability()).isCloseTo(0.5, within(1e-9));
    assertThat(o.delivery()).isEqualTo("output");
    assertThat(o.ipvs().hook()).isEqualTo("OUTPUT");
    assertThat(o.steps().get(1).text()).contains("source address chosen: 10.96.0.10");
    int natOut = indexOf(o, s -> s.hook().equals("OUTPUT") && s.chain().equals("KUBE-MARK-MASQ"));
    int ipvs = indexOf(o, s -> s.kind() == StepKind.IPVS && s.rule() > 0);
    assertThat(natOut).isGreaterThan(0);
    assertThat(ipvs).isGreaterThan(natOut);
    assertThat(o.snat()).isEqualTo("192.168.0.2:40000");
    // The reply: de-SNATed to 10.96.0.10, local → INPUT, where IPVS (LOCAL_IN reply hook) makes the
    // source 10.96.0.10:80 again; KUBE-IPVS-FILTER lets it through (ESTABLISHED, not NEW).
    assertThat(o.reply().returnsHere()).isTrue();
    assertThat(o.reply().verdict()).isEqualTo(Verdict.ACCEPT);
    assertThat(o.reply().steps())
        .anyMatch(s -> s.kind() == StepKind.IPVS && s.hook().equals("INPUT"))
        .anyMatch(s -> s.text().contains("10.96.0.10:80 -> 10.96.0.10:40000"));
  }

  @Test
  void wrr_sharesByWeight_rr_ignoresWeightsButZero_weightZeroNeverChosen() {
    // 10.96.0.11 wrr weights 3, 1, 0 → 3/4, 1/4, never. 10.96.0.13 rr with the same weights: rr
    // takes each server of weight > 0 in turn → 1/2, 1/2, never (ip_vs_rr_schedule skips weight
    // 0 and otherwise ignores the weight).
    TraceResult wrr = trace(node(Map.of()), "10.0.1.7", "10.96.0.11", 80);
    assertThat(wrr.outcomes()).hasSize(2);
    assertThat(to(wrr, "10.0.1.5:8080").probability()).isCloseTo(0.75, within(1e-9));
    assertThat(to(wrr, "10.0.2.5:8080").probability()).isCloseTo(0.25, within(1e-9));
    assertThat(wrr.outcomes()).noneMatch(o -> "10.0.2.6:8080".equals(o.dnat()));
    assertThat(to(wrr, "10.0.1.5:8080").ipvs().shares())
        .contains(new Outcome.Share("10.0.2.6:8080", 0, 0.0));
    TraceResult rr = trace(node(Map.of()), "10.0.1.7", "10.96.0.13", 80);
    assertThat(rr.outcomes()).hasSize(2);
    assertThat(to(rr, "10.0.1.5:8080").probability()).isCloseTo(0.5, within(1e-9));
    assertThat(to(rr, "10.0.2.5:8080").probability()).isCloseTo(0.5, within(1e-9));
  }

  @Test
  void noRealServerWithWeight_isRejectedByIpvs() {
    // 10.96.0.14:80 has one real server, of weight 0 (being drained): ip_vs_schedule finds no
    // destination, ip_vs_leave sends ICMP port unreachable and drops (the VM's socat saw
    // "Connection refused" for a virtual server without real servers).
    TraceResult r = trace(node(Map.of()), "10.0.1.7", "10.96.0.14", 80);
    assertThat(r.outcomes())
        .singleElement()
        .satisfies(
            o -> {
              assertThat(o.verdict()).isEqualTo(Verdict.REJECT);
              assertThat(o.reasonCode()).isEqualTo(ReasonCode.IPVS_NO_REAL_SERVER);
              assertThat(o.ipvs().realServer()).isEmpty();
            });
  }

  @Test
  void persistenceTemplate_pinsTheClientsRealServer_othersAreScheduled() {
    // 10.96.0.12:80 is persistent (-p 10800). ipvsadm -Lnc holds the template of client 10.0.1.7
    // (client port 0) → 10.0.2.5:8080, so ip_vs_sched_persist reuses it: one outcome, p=1. Client
    // 10.0.1.8 has no template: scheduled, 1/2 each.
    String conns =
        """
        IPVS connection entries
        pro expire state       source             virtual            destination
        TCP 00:57  ASSURED     10.0.1.7:0         10.96.0.12:80      10.0.2.5:8080
        """;
    NodeState n = node(Map.of("ipvsadm-conns.txt", conns));
    TraceResult pinned = trace(n, "10.0.1.7", "10.96.0.12", 80);
    assertThat(pinned.outcomes())
        .singleElement()
        .satisfies(
            o -> {
              assertThat(o.dnat()).isEqualTo("10.0.2.5:8080");
              assertThat(o.probability()).isEqualTo(1.0);
              assertThat(o.ipvs().pinnedBy()).contains("persistence template");
            });
    assertThat(trace(n, "10.0.1.8", "10.96.0.12", 80).outcomes()).hasSize(2);
  }

  @Test
  void templateOfAWeightZeroServer_expiresWithExpireQuiescentTemplate() {
    // The template points at 10.0.2.5, now weight 0 (drained). With
    // expire_quiescent_template=1 (kube-proxy sets it) ip_vs_check_template expires it: the client
    // is scheduled again over the servers with weight > 0 (only 10.0.1.5).
    String conns = "TCP 00:57  ASSURED     10.0.1.7:0         10.96.0.12:80      10.0.2.5:8080\n";
    String services =
        SERVICES.replace(
            "-a -t 10.96.0.12:80 -r 10.0.2.5:8080 -m -w 1",
            "-a -t 10.96.0.12:80 -r 10.0.2.5:8080 -m -w 0");
    TraceResult r =
        trace(
            node(Map.of("ipvsadm-conns.txt", conns, "ipvsadm-save.txt", services)),
            "10.0.1.7",
            "10.96.0.12",
            80);
    assertThat(r.outcomes())
        .singleElement()
        .satisfies(o -> assertThat(o.dnat()).isEqualTo("10.0.1.5:8080"));
  }

  @Test
  void connectionEntry_pinsAnExistingConnection_evenOnANonPersistentService() {
    // An entry for this very connection (client port 40000, the port the trace uses) keeps its
    // real server: ip_vs_conn_in_get finds it before any scheduling.
    String conns = "TCP 14:59  ESTABLISHED 10.0.1.7:40000     10.96.0.10:80      10.0.2.5:8080\n";
    TraceResult r = trace(node(Map.of("ipvsadm-conns.txt", conns)), "10.0.1.7", "10.96.0.10", 80);
    assertThat(r.outcomes())
        .singleElement()
        .satisfies(
            o -> {
              assertThat(o.dnat()).isEqualTo("10.0.2.5:8080");
              assertThat(o.ipvs().pinnedBy()).contains("connection entry");
            });
  }

  @Test
  void seed001_unservedPortOfLoadBalancerIpOnKubeIpvs0_isRejectedByKubeIpvsFilter() {
    // Seed 001: 192.168.1.200 is bound on kube-ipvs0 for port 80. From a pod, port 443 of it:
    // routing says local (kube-ipvs0), so it never leaves for the cloud LB. filter INPUT
    // KUBE-IPVS-FILTER: not in KUBE-LOAD-BALANCER (port 443), not in KUBE-CLUSTER-IP; NEW and
    // 192.168.1.200 in KUBE-IPVS-IPS → REJECT (rule 3). Port 80 goes to IPVS and its server.
    TraceResult r = trace(node(Map.of()), "10.0.1.7", "192.168.1.200", 443);
    assertThat(r.outcomes())
        .singleElement()
        .satisfies(
            o -> {
              assertThat(o.verdict()).isEqualTo(Verdict.REJECT);
              assertThat(o.steps())
                  .anyMatch(
                      s ->
                          s.chain().equals("KUBE-IPVS-FILTER")
                              && s.rule() == 3
                              && s.effect().equals("REJECT"));
              assertThat(o.steps()).anyMatch(s -> s.text().contains("kube-ipvs0"));
            });
    TraceResult served = trace(node(Map.of()), "10.0.1.7", "192.168.1.200", 80);
    assertThat(served.outcomes())
        .singleElement()
        .satisfies(o -> assertThat(o.dnat()).isEqualTo("10.0.2.5:8080"));
  }

  @Test
  void seed001_beforeKubeIpvsFilter_theUnservedPortIsAnsweredByTheNodeItself() {
    // Before kube-proxy 1.26 (no KUBE-IPVS-FILTER), nothing stops the packet: IPVS has no virtual
    // server for 192.168.1.200:443 and lets it pass, so it is delivered to the node's own stack
    // (refused there when nothing listens), never to the cloud load balancer.
    String rules =
        RULES.replace(
            "-A INPUT -m comment --comment \"kubernetes ipvs access filter\" -j KUBE-IPVS-FILTER\n",
            "");
    TraceResult r =
        trace(node(Map.of("iptables-save.txt", rules)), "10.0.1.7", "192.168.1.200", 443);
    assertThat(r.outcomes())
        .singleElement()
        .satisfies(
            o -> {
              assertThat(o.delivery()).isEqualTo("local");
              assertThat(o.steps())
                  .anyMatch(
                      s ->
                          s.kind() == StepKind.IPVS
                              && s.text().contains("no virtual server for TCP 192.168.1.200:443"));
            });
  }

  @Test
  void filterInputDrop_stopsThePacketBeforeIpvs() {
    // ip_vs_remote_request4 runs at LOCAL_IN NAT_SRC-1, after filter INPUT (priority 0): a filter
    // INPUT rule that drops traffic to the VIP drops it before IPVS could forward it.
    String rules =
        RULES.replace(
            "-A INPUT -m comment --comment \"kubernetes ipvs access filter\" -j KUBE-IPVS-FILTER\n",
            "-A INPUT -s 10.0.1.7/32 -d 10.96.0.10/32 -j DROP\n"
                + "-A INPUT -m comment --comment \"kubernetes ipvs access filter\" -j KUBE-IPVS-FILTER\n");
    TraceResult r = trace(node(Map.of("iptables-save.txt", rules)), "10.0.1.7", "10.96.0.10", 80);
    assertThat(r.outcomes())
        .singleElement()
        .satisfies(
            o -> {
              assertThat(o.verdict()).isEqualTo(Verdict.DROP);
              assertThat(o.ipvs()).isNull();
            });
  }

  @Test
  void forwardPolicyDrop_doesNotStopIpvsForwardedPackets_theyGoThroughOutput() {
    // IPVS sends what it forwards from LOCAL_IN through LOCAL_OUT and POSTROUTING
    // (ip_vs_nat_send_or_cont: NF_HOOK(NF_INET_LOCAL_OUT, ..., dst_output)), never FORWARD: a
    // FORWARD policy of DROP with nothing accepting the pod's unmarked traffic does not stop it.
    String rules =
        RULES
            .replace(":FORWARD ACCEPT [0:0]", ":FORWARD DROP [0:0]")
            .replace(
                "-A FORWARD -m comment --comment \"kubernetes forwarding rules\" -j KUBE-FORWARD\n",
                "");
    TraceResult r = trace(node(Map.of("iptables-save.txt", rules)), "10.0.1.7", "10.96.0.10", 80);
    assertThat(r.outcomes())
        .hasSize(2)
        .allSatisfy(o -> assertThat(o.verdict()).isEqualTo(Verdict.ACCEPT));
    // A filter OUTPUT rule, though, does see it (with its new destination).
    String out =
        RULES.replace(
            "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding rules\" -m mark",
            "-A OUTPUT -d 10.0.2.5/32 -p tcp --dport 8080 -j DROP\n"
                + "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding rules\" -m mark");
    TraceResult dropped =
        trace(node(Map.of("iptables-save.txt", out)), "10.0.1.7", "10.96.0.10", 80);
    assertThat(to(dropped, "10.0.2.5:8080").verdict()).isEqualTo(Verdict.DROP);
    assertThat(to(dropped, "10.0.1.5:8080").verdict()).isEqualTo(Verdict.ACCEPT);
  }

  @Test
  void ipvsMatch_kubeIpvsOutFilterDropsTheNodesOwnConnectionToTheLoadBalancerIp() {
    // KUBE-IPVS-OUT-FILTER (upstream #119656): "-s lbIP -m ipvs --vaddr lbIP --vproto tcp --vport
    // 80 -j DROP" in filter OUTPUT. The node connecting to 192.168.1.200:80 picks that VIP as
    // source (its local route); IPVS at LOCAL_OUT (NAT_DST+2) schedules it and sets
    // ipvs_property before filter OUTPUT (0), where xt_ipvs finds the connection's virtual
    // address 192.168.1.200:80 → DROP. A pod's connection never passes filter OUTPUT with that
    // source, and --vport 443 would not match.
    String rules =
        RULES.replace(
            ":KUBE-IPVS-FILTER - [0:0]\n",
            ":KUBE-IPVS-FILTER - [0:0]\n:KUBE-IPVS-OUT-FILTER - [0:0]\n"
                + "-A OUTPUT -j KUBE-IPVS-OUT-FILTER\n"
                + "-A KUBE-IPVS-OUT-FILTER -s 192.168.1.200/32 -m ipvs --vaddr 192.168.1.200/32"
                + " --vproto tcp --vport 80 -j DROP\n");
    NodeState n = node(Map.of("iptables-save.txt", rules));
    assertThat(trace(n, null, "192.168.1.200", 80).outcomes())
        .singleElement()
        .satisfies(
            o -> {
              assertThat(o.verdict()).isEqualTo(Verdict.DROP);
              assertThat(o.steps()).anyMatch(s -> s.chain().equals("KUBE-IPVS-OUT-FILTER"));
            });
    assertThat(trace(n, "10.0.1.7", "192.168.1.200", 80).outcomes())
        .singleElement()
        .satisfies(o -> assertThat(o.verdict()).isEqualTo(Verdict.ACCEPT));
    NodeState other =
        node(
            Map.of(
                "iptables-save.txt", rules.replace("--vport 80 -j DROP", "--vport 443 -j DROP")));
    assertThat(trace(other, null, "192.168.1.200", 80).outcomes())
        .singleElement()
        .satisfies(o -> assertThat(o.verdict()).isEqualTo(Verdict.ACCEPT));
  }

  @Test
  void nodeToVipWithALocalPodServer_unmasqueradedVipSource_stillComesBack() {
    // As the VM showed ("backend1 saw 10.96.0.10"): the node's connection leaves with the VIP as
    // source, and a pod on this node's bridge answers it through its default gateway, this node,
    // where the VIP is local: the reply returns. Here without the masquerade rule (no cluster
    // CIDR, upstream's "KUBE-CLUSTER-IP src,dst" rule absent too, as in kube-proxy 1.9).
    String rules =
        RULES.replace(
            "-A KUBE-SERVICES ! -s 10.0.0.0/16 -m comment --comment \"Kubernetes service cluster ip + port for masquerade purpose\" -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ\n",
            "");
    TraceResult r = trace(node(Map.of("iptables-save.txt", rules)), null, "10.96.0.10", 80);
    Outcome local = to(r, "10.0.1.5:8080");
    assertThat(local.finalSource()).isEqualTo("10.96.0.10");
    assertThat(local.reply().returnsHere()).isTrue();
    Outcome remote = to(r, "10.0.2.5:8080");
    assertThat(remote.finalSource()).isEqualTo("10.96.0.10");
    assertThat(remote.reply().reasonCode()).isEqualTo(ReasonCode.REPLY_NOT_ROUTED_BACK);
  }

  @Test
  void textAndJson_showTheVirtualServerSchedulerChoiceAndShares() {
    TraceResult r = trace(node(Map.of()), "10.0.1.7", "10.96.0.11", 80);
    assertThat(TraceFormatter.text(r))
        .contains("IPVS TCP 10.96.0.11:80 (wrr) chose 10.0.1.5:8080")
        .contains("ipvs TCP 10.96.0.11:80 #1: -a -t 10.96.0.11:80 -r 10.0.1.5:8080 -m -w 3")
        .contains("10.0.2.6:8080 weight 0: never chosen for new connections");
    assertThat(TraceFormatter.json(r))
        .contains("\"virtualServer\" : \"TCP 10.96.0.11:80\"")
        .contains("\"scheduler\" : \"wrr\"")
        .contains("\"realServer\" : \"10.0.1.5:8080\"")
        .contains("\"probability\" : 0.75");
  }
}
