package dev.svcproxy.trace;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.testutil.Seed000Bundle;
import dev.svcproxy.trace.bundle.BundleReader;
import dev.svcproxy.trace.engine.Tracer;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Seed 000 (/work/shared/seeds/000_*.txt): kube-proxy 1.9 in IPVS mode, node 10.19.136.10 runs
 * `telnet 10.20.0.1 443` (the kubernetes Service, real servers the apiservers on :6443 on other
 * networks) and hangs; tcpdump shows the SYN leaving eth0 as 10.20.0.1.58816 > 10.19.9.120.6443 and
 * the apiserver answering 10.20.0.1, which never comes back. The bundles below are the seed's own:
 * its kube-ipvs0 address, its ipvsadm rules, and its iptables nat rules of the failing node (no
 * --cluster-cidr) and of the working one.
 */
class IpvsSeed000TraceTest {
  static final String ADDR = Seed000Bundle.ADDR;
  static final String ROUTES = Seed000Bundle.ROUTES;
  static final String SERVICES = Seed000Bundle.SERVICES;
  static final String IPSETS = Seed000Bundle.IPSETS;
  static final String FAILING = Seed000Bundle.FAILING;

  /** The working node's nat table, from the seed ("正常机器"), with --cluster-cidr {@code CIDR}. */
  static String working(String clusterCidr) {
    return """
        *nat
        :PREROUTING ACCEPT [0:0]
        :INPUT ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        :POSTROUTING ACCEPT [0:0]
        :KUBE-FIREWALL - [0:0]
        :KUBE-LOAD-BALANCER - [0:0]
        :KUBE-MARK-DROP - [0:0]
        :KUBE-MARK-MASQ - [0:0]
        :KUBE-NODE-PORT - [0:0]
        :KUBE-POSTROUTING - [0:0]
        :KUBE-SERVICES - [0:0]
        -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
        -A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
        -A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
        -A KUBE-FIREWALL -j KUBE-MARK-DROP
        -A KUBE-LOAD-BALANCER -j KUBE-MARK-MASQ
        -A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
        -A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ
        -A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -m mark --mark 0x4000/0x4000 -j MASQUERADE
        -A KUBE-POSTROUTING -m comment --comment "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose" -m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE
        -A KUBE-SERVICES ! -s CIDR -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ
        -A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT
        -A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT
        COMMIT
        """
        .replace("CIDR", clusterCidr);
  }

  static TraceResult trace(String rules) {
    Map<String, String> f = new HashMap<>();
    f.put("ip-addr.json", ADDR);
    f.put("ip-route.json", ROUTES);
    f.put("sysctl.txt", "net.ipv4.ip_forward = 1\nnet.ipv4.vs.conntrack = 1\n");
    f.put("iptables-save.txt", rules);
    f.put("ipset-save.txt", IPSETS);
    f.put("ipvsadm-save.txt", SERVICES);
    TraceResult r =
        new Tracer(BundleReader.fromFiles(f))
            .trace(new PacketSpec(null, 58816, "10.20.0.1", 443, "tcp", null));
    System.out.println(TraceFormatter.text(r));
    return r;
  }

  @Test
  void withoutClusterCidr_sourceIsTheVip_notMasqueraded_replyDoesNotReturn() {
    // The route to 10.20.0.1 is the local route via kube-ipvs0 with src 10.20.0.1: the socket
    // gets 10.20.0.1 as its source. nat OUTPUT: only the NodePort rule (no match). IPVS at
    // LOCAL_OUT: rr over three apiservers, 1/3 each, all via the default gateway on eth0.
    // POSTROUTING: no mark, not in KUBE-LOOP-BACK, not 11.0.113.0/24: the SYN leaves as
    // 10.20.0.1:58816 > 10.19.9.120:6443 (the seed's tcpdump), and the apiserver's reply to
    // 10.20.0.1 goes to its own gateway: it never comes back.
    TraceResult r = trace(FAILING);
    assertThat(r.outcomes()).hasSize(3);
    assertThat(r.outcomes())
        .extracting(Outcome::dnat)
        .containsExactlyInAnyOrder("10.19.9.120:6443", "10.19.14.106:6443", "10.19.111.132:6443");
    for (Outcome o : r.outcomes()) {
      assertThat(o.probability()).isBetween(1 / 3.0 - 1e-9, 1 / 3.0 + 1e-9);
      assertThat(o.verdict()).isEqualTo(Verdict.ACCEPT);
      assertThat(o.finalSource()).isEqualTo("10.20.0.1");
      assertThat(o.snat()).isNull();
      assertThat(o.outInterface()).isEqualTo("eth0");
      assertThat(o.steps().get(1).text()).contains("source address chosen: 10.20.0.1");
      assertThat(o.reply().returnsHere()).isFalse();
      assertThat(o.reply().reasonCode()).isEqualTo(ReasonCode.REPLY_NOT_ROUTED_BACK);
    }
    assertThat(r.outcomes().stream().filter(o -> "10.19.9.120:6443".equals(o.dnat())).findFirst())
        .hasValueSatisfying(
            o ->
                assertThat(o.steps())
                    .anyMatch(s -> s.text().contains("as 10.20.0.1:58816 -> 10.19.9.120:6443")));
  }

  @Test
  void withClusterCidrThePodCidr_theVipSourceIsMarkedAndMasqueraded_replyReturns() {
    // "! -s 172.16.128.0/17 ... KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ": 10.20.0.1 is not in the
    // pod CIDR → mark 0x4000 → KUBE-POSTROUTING MASQUERADEs to eth0's 10.19.136.10; the reply
    // comes back to the node and is de-NATed (the seed: "补上这个参数问题消失").
    TraceResult r = trace(working("172.16.128.0/17"));
    assertThat(r.outcomes())
        .hasSize(3)
        .allSatisfy(
            o -> {
              assertThat(o.snat()).isEqualTo("10.19.136.10:58816");
              assertThat(o.reply().returnsHere()).isTrue();
              assertThat(o.reply().verdict()).isEqualTo(Verdict.ACCEPT);
            });
  }

  @Test
  void withClusterCidrTheServiceCidr_theVipSourceIsInsideIt_stillFails() {
    // The seed's detour: --cluster-cidr set to the service CIDR 10.20.0.0/16. The source 10.20.0.1
    // is inside it, so "! -s 10.20.0.0/16" does not match: no mark, no masquerade, no reply.
    TraceResult r = trace(working("10.20.0.0/16"));
    assertThat(r.outcomes())
        .hasSize(3)
        .allSatisfy(
            o -> {
              assertThat(o.snat()).isNull();
              assertThat(o.reply().reasonCode()).isEqualTo(ReasonCode.REPLY_NOT_ROUTED_BACK);
            });
  }
}
