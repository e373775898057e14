package dev.svcproxy.trace;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.netfilter.Rule;
import dev.svcproxy.netfilter.Table;
import dev.svcproxy.trace.engine.Tracer;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Trace results as data: verdicts, step kinds, the rule a step references and reason codes. The
 * expected codes come from what decided each case, reasoned by hand from the rules and sysctls
 * given (kube-proxy's "has no endpoints" REJECT, a chain policy, rp_filter, ...), not from output.
 */
class TraceResultDataTest {
  private static TraceResult trace(NodeState n, String src, String dst, int port, String in) {
    return new Tracer(n).trace(new PacketSpec(src, 40000, dst, port, "tcp", in));
  }

  /**
   * The filter rules kube-proxy writes for a ClusterIP Service without endpoints (upstream's
   * iptables proxier: "-A KUBE-SERVICES ... --comment \"ns/svc:port has no endpoints\" ... -j
   * REJECT", reached from FORWARD for new connections), behind an unrelated rule.
   */
  private static final String NO_ENDPOINTS =
      """
      *filter
      :INPUT ACCEPT [0:0]
      :FORWARD ACCEPT [0:0]
      :OUTPUT ACCEPT [0:0]
      :KUBE-SERVICES - [0:0]
      -A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
      -A KUBE-SERVICES -d 172.30.0.45/32 -p tcp -m comment --comment "ns5/svc5:p80 has no endpoints" -m tcp --dport 81 -j REJECT --reject-with icmp-port-unreachable
      -A KUBE-SERVICES -d 172.30.0.46/32 -p tcp -m comment --comment "ns6/svc6:p80 has no endpoints" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable
      COMMIT
      """;

  private static Step last(Outcome o) {
    return o.steps().get(o.steps().size() - 1);
  }

  @Test
  void serviceWithoutEndpoints_rejected_reasonNoEndpoints_stepReferencesTheRule() {
    NodeState n = TraceNodes.node(NO_ENDPOINTS, Map.of());
    TraceResult r = trace(n, "10.0.1.5", "172.30.0.46", 80, null);

    assertThat(r.verdict()).isEqualTo(Verdict.REJECT);
    Outcome o = r.outcomes().get(0);
    assertThat(o.verdict()).isEqualTo(Verdict.REJECT);
    assertThat(o.reasonCode()).isEqualTo(ReasonCode.NO_ENDPOINTS);
    Step s = last(o);
    assertThat(s.kind()).isEqualTo(StepKind.TARGET);
    assertThat(s.reasonCode()).isEqualTo(ReasonCode.NO_ENDPOINTS);
    assertThat(s.table()).isEqualTo("filter");
    assertThat(s.chain()).isEqualTo("KUBE-SERVICES");
    assertThat(s.text()).contains("ns6/svc6:p80 has no endpoints");
    assertThat(s.rule()).isEqualTo(2);
    // The 1-based index is the rule's position in the captured chain.
    Table filter =
        n.iptables().get(0).tables().stream()
            .filter(t -> t.name().equals("filter"))
            .findFirst()
            .orElseThrow();
    List<String> chain = filter.chains().get("KUBE-SERVICES").stream().map(Rule::print).toList();
    assertThat(chain.get(s.rule() - 1)).isEqualTo(s.text());
    assertThat(o.steps().get(0).kind()).isEqualTo(StepKind.PACKET);
    assertThat(o.steps())
        .anyMatch(x -> x.kind() == StepKind.CONNTRACK)
        .anyMatch(x -> x.kind() == StepKind.ROUTE)
        .anyMatch(x -> x.kind() == StepKind.JUMP && x.effect().startsWith("jump KUBE-SERVICES"))
        .allMatch(x -> x == s || x.reasonCode() == null);
  }

  @Test
  void forwardPolicyDrop_reasonPolicyDrop_onThePolicyStep() {
    String rules = "*filter\n:FORWARD DROP [0:0]\nCOMMIT\n";
    Outcome o =
        trace(TraceNodes.node(rules, Map.of()), "10.0.1.5", "10.0.2.7", 80, null).outcomes().get(0);

    assertThat(o.verdict()).isEqualTo(Verdict.DROP);
    assertThat(o.reasonCode()).isEqualTo(ReasonCode.POLICY_DROP);
    Step s = last(o);
    assertThat(s.kind()).isEqualTo(StepKind.POLICY);
    assertThat(s.table() + " " + s.chain() + " " + s.rule()).isEqualTo("filter FORWARD 0");
  }

  @Test
  void dropRule_reasonDroppedByRule_ruleOneOfForward() {
    String rules = "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -d 10.0.2.7/32 -j DROP\nCOMMIT\n";
    Outcome o =
        trace(TraceNodes.node(rules, Map.of()), "10.0.1.5", "10.0.2.7", 80, null).outcomes().get(0);

    assertThat(o.reasonCode()).isEqualTo(ReasonCode.DROPPED_BY_RULE);
    assertThat(last(o).rule()).isEqualTo(1);
    assertThat(last(o).text()).isEqualTo("-A FORWARD -d 10.0.2.7/32 -j DROP");
  }

  @Test
  void noRouteForAForwardedPacket_rejected_reasonNoRoute() {
    String routes = TracerTest.ROUTES.replace("default via 192.168.0.1 dev eth0\n", "");
    Outcome o =
        trace(
                TraceNodes.node(null, Map.of("ip-route.json", routes)),
                "10.0.1.5",
                "203.0.113.9",
                80,
                null)
            .outcomes()
            .get(0);

    assertThat(o.verdict()).isEqualTo(Verdict.REJECT);
    assertThat(o.reasonCode()).isEqualTo(ReasonCode.NO_ROUTE);
  }

  @Test
  void ipForwardOff_dropped_reasonForwardingDisabled() {
    NodeState n = TraceNodes.node(null, Map.of("sysctl.txt", "net.ipv4.ip_forward = 0\n"));
    assertThat(trace(n, "10.0.1.5", "10.0.2.7", 80, null).outcomes().get(0).reasonCode())
        .isEqualTo(ReasonCode.FORWARDING_DISABLED);
  }

  @Test
  void strictRpFilter_asymmetricSource_reasonRpf() {
    NodeState n =
        TraceNodes.node(
            null,
            Map.of("sysctl.txt", "net.ipv4.conf.all.rp_filter = 1\nnet.ipv4.ip_forward = 1\n"));
    assertThat(trace(n, "10.0.2.9", "10.0.1.5", 80, "cni0").outcomes().get(0).reasonCode())
        .isEqualTo(ReasonCode.RPF);
  }

  @Test
  void loopbackSourceLeavingEth0_reasonMartian() {
    String rules =
        "*nat\n:OUTPUT ACCEPT [0:0]\n"
            + "-A OUTPUT -d 127.0.0.0/8 -p tcp -m tcp --dport 30080 -j DNAT --to-destination"
            + " 10.0.2.8:80\nCOMMIT\n";
    Outcome o =
        trace(TraceNodes.node(rules, Map.of()), "127.0.0.1", "127.0.0.1", 30080, null)
            .outcomes()
            .get(0);
    assertThat(o.verdict()).isEqualTo(Verdict.DROP);
    assertThat(o.reasonCode()).isEqualTo(ReasonCode.MARTIAN);
  }

  @Test
  void dnatWithoutSnat_backendReachesClientDirectly_replySourceMismatch() {
    // Client 192.168.0.9 and the backend's gateway 192.168.0.3 are both on eth0: the backend's
    // reply goes to the client without this node, so nothing un-DNATs it.
    String rules =
        "*nat\n:PREROUTING ACCEPT [0:0]\n"
            + "-A PREROUTING -d 192.168.0.2/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination"
            + " 10.0.2.7:80\nCOMMIT\n";
    Outcome o =
        trace(TraceNodes.node(rules, Map.of()), "192.168.0.9", "192.168.0.2", 80, "eth0")
            .outcomes()
            .get(0);
    assertThat(o.verdict()).isEqualTo(Verdict.ACCEPT);
    assertThat(o.reasonCode()).isNull();
    assertThat(o.reply().returnsHere()).isFalse();
    assertThat(o.reply().reasonCode()).isEqualTo(ReasonCode.REPLY_SOURCE_MISMATCH);
  }

  @Test
  void podToServiceDnatedToItself_withoutMasquerade_hairpinMartian() {
    String rules =
        "*nat\n:PREROUTING ACCEPT [0:0]\n"
            + "-A PREROUTING -d 10.96.0.1/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination"
            + " 10.0.1.5:80\nCOMMIT\n";
    Outcome o =
        trace(TraceNodes.node(rules, Map.of()), "10.0.1.5", "10.96.0.1", 80, "cni0")
            .outcomes()
            .get(0);
    assertThat(o.reply().reasonCode()).isEqualTo(ReasonCode.HAIRPIN_MARTIAN);
  }

  @Test
  void replyNotEstablishedInForward_replyDropped() {
    String rules =
        "*filter\n:FORWARD DROP [0:0]\n-A FORWARD -m conntrack --ctstate NEW -j ACCEPT\nCOMMIT\n";
    Outcome o =
        trace(TraceNodes.node(rules, Map.of()), "10.0.1.5", "10.0.2.7", 80, null).outcomes().get(0);
    assertThat(o.reply().verdict()).isEqualTo(Verdict.DROP);
    assertThat(o.reply().reasonCode()).isEqualTo(ReasonCode.REPLY_DROPPED);
    assertThat(o.reply().steps().get(o.reply().steps().size() - 1).reasonCode())
        .isEqualTo(ReasonCode.POLICY_DROP);
  }

  @Test
  void quarterOfPacketsDropped_resultVerdictDrop_allDelivered_accept() {
    String rules =
        "*filter\n:FORWARD ACCEPT [0:0]\n"
            + "-A FORWARD -m statistic --mode random --probability 0.25 -j DROP\nCOMMIT\n";
    TraceResult r = trace(TraceNodes.node(rules, Map.of()), "10.0.1.5", "10.0.2.7", 80, null);
    assertThat(r.outcomes()).extracting(Outcome::verdict).contains(Verdict.ACCEPT, Verdict.DROP);
    assertThat(r.verdict()).isEqualTo(Verdict.DROP);

    TraceResult ok = trace(TraceNodes.node(null, Map.of()), "10.0.1.5", "10.0.2.7", 80, null);
    assertThat(ok.verdict()).isEqualTo(Verdict.ACCEPT);
  }
}
