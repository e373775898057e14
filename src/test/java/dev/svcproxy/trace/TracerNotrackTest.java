package dev.svcproxy.trace;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.trace.engine.Tracer;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * NodeLocal DNS Cache: raw NOTRACKs DNS to 169.254.20.10, and a captured conntrack entry for the
 * same tuple still carries an old DNAT to a kube-dns pod.
 *
 * <p>The oracle is the kernel, seen in a throw-away pair of namespaces (client on a veth, the node
 * with 169.254.20.10 and the "pod" 10.244.0.5 on lo, a UDP listener on each, iptables-nft and
 * iptables-legacy alike): packet 1 with a nat PREROUTING DNAT rule reached the pod and left the
 * entry {@code src=10.0.0.2 dst=169.254.20.10 sport=40000 dport=53 [UNREPLIED] src=10.244.0.5};
 * packet 2, after the rule was replaced by a DNAT to another address, still reached 10.244.0.5 (the
 * entry pins it); packet 3, with {@code -A PREROUTING -d 169.254.20.10/32 -p udp --dport 53 -j
 * NOTRACK} in raw, reached 169.254.20.10 itself; with no entry and both the NOTRACK and the DNAT
 * rule, the packet also reached 169.254.20.10 (nat never sees it). That is the kernel's order: raw
 * at -300 attaches the untracked entry, nf_conntrack_in at -200 skips a packet that already has
 * one, and the nat hooks only handle tracked packets.
 */
class TracerNotrackTest {
  private static final String ADDR =
      TracerTest.ADDR.replace(
          "{\"ifname\":\"kube-ipvs0\"",
          "{\"ifname\":\"nodelocaldns\",\"flags\":[\"UP\"],\"addr_info\":[{\"family\":\"inet\","
              + "\"local\":\"169.254.20.10\",\"prefixlen\":32}]},{\"ifname\":\"kube-ipvs0\"");
  private static final String ROUTES =
      TracerTest.ROUTES
          + "local 169.254.20.10 dev nodelocaldns table local proto kernel scope host src"
          + " 169.254.20.10\n";

  private static final String NAT =
      """
      *nat
      :PREROUTING ACCEPT [0:0]
      :OUTPUT ACCEPT [0:0]
      :POSTROUTING ACCEPT [0:0]
      -A PREROUTING -d 169.254.20.10/32 -p udp -m udp --dport 53 -j DNAT --to-destination 10.0.2.53:53
      -A OUTPUT -d 169.254.20.10/32 -p udp -m udp --dport 53 -j DNAT --to-destination 10.0.2.53:53
      COMMIT
      """;

  private static String raw(String target) {
    return """
        *raw
        :PREROUTING ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A PREROUTING -d 169.254.20.10/32 -p udp -m udp --dport 53 -j %s
        -A OUTPUT -d 169.254.20.10/32 -p udp -m udp --dport 53 -j %s
        COMMIT
        """
        .formatted(target, target);
  }

  /** The pod's earlier query, DNATed to kube-dns and never answered. */
  private static final String POD_ENTRY =
      "udp      17 29 src=10.0.1.5 dst=169.254.20.10 sport=40000 dport=53 [UNREPLIED]"
          + " src=10.0.2.53 dst=10.0.1.5 sport=53 dport=40000 mark=0 use=1\n";

  /** The node's own query from 192.168.0.2, likewise. */
  private static final String NODE_ENTRY =
      "udp      17 29 src=192.168.0.2 dst=169.254.20.10 sport=40000 dport=53 [UNREPLIED]"
          + " src=10.0.2.53 dst=192.168.0.2 sport=53 dport=40000 mark=0 use=1\n";

  private static NodeState node(String iptables) {
    return TraceNodes.node(
        iptables,
        Map.of(
            "ip-addr.json",
            ADDR,
            "ip-route.json",
            ROUTES,
            "conntrack.txt",
            POD_ENTRY + NODE_ENTRY));
  }

  private static TraceResult fromPod(NodeState n) {
    return new Tracer(n)
        .trace(new PacketSpec("10.0.1.5", 40000, "169.254.20.10", 53, "udp", "cni0"));
  }

  private static TraceResult fromNode(NodeState n) {
    return new Tracer(n)
        .trace(new PacketSpec("192.168.0.2", 40000, "169.254.20.10", 53, "udp", null));
  }

  @Test
  void notrackInRaw_existingEntryWithDnat_notNatedDeliveredToTheCache() {
    TraceResult r = fromPod(node(raw("NOTRACK") + NAT));
    assertThat(r.outcomes())
        .singleElement()
        .satisfies(
            o -> {
              assertThat(o.dnat()).isNull();
              assertThat(o.delivery()).isEqualTo("local");
              assertThat(o.finalDestination()).isEqualTo("169.254.20.10:53");
              assertThat(o.steps()).noneMatch(s -> s.table().equals("nat"));
              assertThat(o.steps()).anyMatch(s -> s.text().startsWith("untracked"));
            });
  }

  @Test
  void ctNotrackInRawOutput_nodesOwnQueryWithEntry_notNated() {
    TraceResult r = fromNode(node(raw("CT --notrack") + NAT));
    assertThat(r.outcomes())
        .singleElement()
        .satisfies(
            o -> {
              assertThat(o.dnat()).isNull();
              assertThat(o.delivery()).isEqualTo("local");
              assertThat(o.finalDestination()).isEqualTo("169.254.20.10:53");
            });
  }

  @Test
  void noNotrack_existingEntry_pinsTheEntrysDnat() {
    // The control: without raw, the entry decides (and the nat rules are not consulted).
    String otherDnat = NAT.replace("10.0.2.53:53", "10.0.2.54:53");
    assertThat(fromPod(node(otherDnat)).outcomes())
        .singleElement()
        .satisfies(o -> assertThat(o.dnat()).isEqualTo("10.0.2.53:53"));
    assertThat(fromNode(node(otherDnat)).outcomes())
        .singleElement()
        .satisfies(o -> assertThat(o.dnat()).isEqualTo("10.0.2.53:53"));
  }

  @Test
  void notrack_untrackedState_matchedByCtstateUntracked() {
    String rules =
        raw("NOTRACK")
            + """
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A INPUT -m conntrack --ctstate NEW,ESTABLISHED -j DROP
            -A INPUT -m conntrack --ctstate UNTRACKED -j ACCEPT
            -A INPUT -j DROP
            COMMIT
            """;
    assertThat(fromPod(node(rules)).outcomes())
        .singleElement()
        .satisfies(o -> assertThat(o.verdict()).isEqualTo(Verdict.ACCEPT));
  }
}
