package dev.svcproxy.trace;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.testutil.States;
import dev.svcproxy.trace.bundle.BundleReader;
import dev.svcproxy.trace.engine.Tracer;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The nftables evaluator on misc.json (the kernel's `nft -j list ruleset` of misc.nft, nft 1.0.6):
 * interval sets, concatenations with prefix and range, mark arithmetic, verdict maps with ranges, a
 * base chain's drop policy, a rule it cannot evaluate, and the chain's place among the iptables
 * tables by priority. Expected values are reasoned by hand from misc.nft (comments).
 */
class NftTraceTest {
  private static NodeState node(String iptables) {
    Map<String, String> f = new HashMap<>();
    f.put("nft-ruleset.json", States.resource("/nftables/misc.json"));
    return TraceNodes.node(iptables, f);
  }

  private static TraceResult trace(NodeState n, String src, int dport) {
    return new Tracer(n).trace(new PacketSpec(src, 40000, "10.1.2.3", dport, "tcp", "eth0"));
  }

  private static Outcome only(TraceResult r) {
    assertThat(r.outcomes()).as(TraceFormatter.text(r)).hasSize(1);
    return r.outcomes().get(0);
  }

  /** 198.51.100.7 is in the prefix, 203.0.113.15 in the range of @blocked: dropped at pre. */
  @Test
  void intervalSet_prefixAndRange_dropped() {
    for (String src : List.of("198.51.100.7", "203.0.113.15")) {
      Outcome o = only(trace(node(null), src, 8080));
      assertThat(o.verdict()).isEqualTo(Verdict.DROP);
      assertThat(o.reasonCode()).isEqualTo(ReasonCode.DROPPED_BY_RULE);
      assertThat(o.steps().get(o.steps().size() - 1).rule()).isEqualTo(8);
    }
  }

  /**
   * 10.1.2.3 . 8080 is in @pairs (10.1.0.0/16 . 8000-8999): marks sets mark (0 & 0xffff02ff) |
   * 0x200 = 0x200 and ct mark 0x200; forwarding accepts mark & 0xff00 == 0x200. Handle 10 (meta
   * skuid) is not evaluated and says so.
   */
  @Test
  void concatenationWithRanges_markArithmetic_forwarded() {
    Outcome o = only(trace(node(null), "203.0.113.21", 8080));
    assertThat(o.verdict()).isEqualTo(Verdict.ACCEPT);
    assertThat(o.delivery()).isEqualTo("forward");
    assertThat(o.steps()).anyMatch(s -> s.effect().equals("mark set to 0x200"));
    assertThat(o.steps()).anyMatch(s -> s.effect().equals("ct mark set to 0x200"));
    assertThat(o.steps())
        .anySatisfy(
            s -> {
              assertThat(s.kind()).isEqualTo(StepKind.UNEVALUATED);
              assertThat(s.rule()).isEqualTo(10);
              assertThat(s.effect()).contains("meta skuid");
            });
    assertThat(o.steps())
        .anySatisfy(
            s -> {
              assertThat(s.chain()).isEqualTo("forwarding");
              assertThat(s.rule()).isEqualTo(17);
              assertThat(s.effect()).isEqualTo("accept");
            });
  }

  /** Port 7050 is in the map's 7000-7099 range: drop; port 22: accept. */
  @Test
  void verdictMapWithRange_dropAndAccept() {
    assertThat(only(trace(node(null), "203.0.113.21", 7050)).verdict()).isEqualTo(Verdict.DROP);
    assertThat(only(trace(node(null), "203.0.113.21", 22)).verdict()).isEqualTo(Verdict.ACCEPT);
  }

  /** Nothing decides port 443 in forwarding (mark 0, state new): its policy drop does. */
  @Test
  void basePolicyDrop_noRuleDecides_policyDrop() {
    Outcome o = only(trace(node(null), "203.0.113.21", 443));
    assertThat(o.verdict()).isEqualTo(Verdict.DROP);
    assertThat(o.reasonCode()).isEqualTo(ReasonCode.POLICY_DROP);
  }

  /**
   * The nft chain pre runs at priority mangle - 10 = -160, before iptables mangle (-150): the mark
   * it sets is what iptables mangle's rule sees, so the packet is dropped there. (Run the other way
   * round, iptables would see mark 0 and the packet would be forwarded.)
   */
  @Test
  void priorityInterleaving_nftBeforeIptablesMangle_iptablesSeesTheMark() {
    String iptables =
        "*mangle\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -m mark --mark 0x200 -j DROP\nCOMMIT\n";
    Outcome o = only(trace(node(iptables), "203.0.113.21", 8080));
    assertThat(o.verdict()).isEqualTo(Verdict.DROP);
    assertThat(o.steps().get(o.steps().size() - 1).table()).isEqualTo("mangle");
  }

  /** The same ruleset, read from a bundle: trace output names table, chain and handle. */
  @Test
  void traceText_namesTableChainAndHandle() {
    String text = TraceFormatter.text(trace(node(null), "198.51.100.7", 8080));
    assertThat(text)
        .contains(
            "nft inet misc pre #8: handle 8: ip saddr @blocked counter drop comment \"blocked"
                + " sources\"");
  }

  /** A bundle whose nft-ruleset.json is broken: a warning naming the file, traced without it. */
  @Test
  void brokenRulesetJson_warningNamesFile() {
    NodeState n = BundleReader.fromFiles(Map.of("nft-ruleset.json", "{\"nftables\": 3}"));
    assertThat(n.warnings()).anyMatch(w -> w.startsWith("nft-ruleset.json: $: no \"nftables\""));
    assertThat(n.nftables().tables()).isEmpty();
  }

  private static NodeState overall() {
    return NftUpstreamPacketFlowTest.node(States.resource("/nftables/overall.json"));
  }

  /**
   * Upstream's TestOverallNFTablesRules table (base.nft + overall-services.nft, as the kernel lists
   * it: overall.json) with the packet cases upstream's iptables TestTracePacket runs on the same
   * six services (output and masquerade flag from there; its NodePort health-check ACCEPT case has
   * no nftables counterpart).
   */
  @ParameterizedTest(name = "{0}")
  @CsvSource({
    "single endpoint, 10.0.0.2, 172.30.0.41, 80, 10.180.0.1:80, false",
    "multiple endpoints, 10.0.0.2, 172.30.0.44, 80, 10.180.0.4:80 10.180.0.5:80, false",
    "'LOCAL, mark-for-masquerade', 192.168.0.2, 192.168.99.22, 80, 10.180.0.2:80, true",
    "DROP, 203.0.113.2, 192.168.99.22, 80, DROP, false",
    "REJECT, 10.0.0.2, 172.30.0.46, 80, REJECT, false"
  })
  void overallTable_upstreamTracePacketCases(
      String name, String src, String dst, int port, String output, boolean masq) {
    TraceResult r = new Tracer(overall()).trace(new PacketSpec(src, 40000, dst, port, "tcp", null));
    String why = TraceFormatter.text(r);
    if (output.equals("DROP") || output.equals("REJECT")) {
      assertThat(r.outcomes()).as(why).extracting(o -> o.verdict().name()).containsOnly(output);
      assertThat(r.outcomes()).as(why).allMatch(o -> o.reasonCode() == ReasonCode.NO_ENDPOINTS);
      return;
    }
    assertThat(r.outcomes())
        .as(why)
        .allSatisfy(
            o -> {
              assertThat(o.verdict()).isEqualTo(Verdict.ACCEPT);
              assertThat(o.masquerade()).isEqualTo(masq);
            });
    assertThat(r.outcomes().stream().map(Outcome::dnat).sorted().toList())
        .as(why)
        .containsExactly(output.split(" "));
  }

  /** svc5's endpoint chain updates its affinity set with the client: the step says so. */
  @Test
  void overallTable_affinityUpdate_recordedInTheTrace() {
    TraceResult r =
        new Tracer(overall())
            .trace(new PacketSpec("203.0.113.2", 40000, "5.6.7.8", 80, "tcp", null));
    assertThat(r.outcomes())
        .singleElement()
        .satisfies(
            o -> {
              assertThat(o.dnat()).isEqualTo("10.180.0.3:80");
              assertThat(o.steps())
                  .anyMatch(
                      st ->
                          st.effect()
                              .startsWith(
                                  "update @affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80 with"
                                      + " 203.0.113.2, timeout 10800s"));
            });
  }
}
