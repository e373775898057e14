package dev.svcproxy.trace;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.testutil.KernelTests;
import dev.svcproxy.trace.bundle.BundleCapture;
import dev.svcproxy.trace.bundle.BundleReader;
import dev.svcproxy.trace.engine.Tracer;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Tables people keep beside kube-proxy's evaluate: firewalld's `inet firewalld` (firewalld.nft)
 * with upstream's NodePort table, Docker's nftables rules (docker.nft), and iptables-nft's own
 * tables, which must be evaluated once (from iptables-save.txt), not a second time from the nft
 * ruleset. Each is loaded into a lab namespace and read back as the kernel lists it; expected
 * outcomes are reasoned by hand from the rules (comments).
 */
class NftOtherTablesKernelTest {
  private static Lab lab;
  private static CommandRunner netns;

  @BeforeAll
  static void setUp() {
    KernelTests.require("nftables tables of other owners");
    lab = Lab.create(new ProcessCommandRunner(), 1);
    netns = lab.runner().inNetns(lab.node("node1").netns());
  }

  @AfterAll
  static void tearDown() {
    if (lab != null) {
      lab.close();
    }
  }

  private static TraceResult trace(NodeState n, String src, String dst, int port) {
    return new Tracer(n).trace(new PacketSpec(src, 40000, dst, port, "tcp", null));
  }

  private static NodeState firewalldAndKubeProxy() {
    return NftUpstreamPacketFlowTest.node(
        NftRulesets.load(
            netns, NftRulesets.transaction("base.nft", "node-ports.nft", "firewalld.nft")));
  }

  /**
   * External to a NodePort: kube-proxy DNATs at dstnat, firewalld's nat chain (dstnat + 10) is not
   * consulted after that binding, and its filter_FORWARD (filter + 10) accepts by `ct status dnat`:
   * both endpoints, masqueraded.
   */
  @Test
  void firewalld_nodePort_forwardedByCtStatusDnat() {
    TraceResult r = trace(firewalldAndKubeProxy(), "203.0.113.2", "192.168.0.2", 3001);
    assertThat(r.outcomes())
        .as(TraceFormatter.text(r))
        .hasSize(2)
        .allSatisfy(
            o -> {
              assertThat(o.verdict()).isEqualTo(Verdict.ACCEPT);
              assertThat(o.masquerade()).isTrue();
              assertThat(o.steps())
                  .anySatisfy(
                      s -> {
                        assertThat(s.table()).isEqualTo("nft inet firewalld");
                        assertThat(s.chain()).isEqualTo("filter_FORWARD");
                        assertThat(s.text()).contains("ct status dnat accept");
                      });
              assertThat(o.steps()).noneMatch(s -> s.chain().equals("nat_PRE_public"));
            });
    assertThat(r.warnings()).noneMatch(w -> w.contains("not evaluated"));
  }

  /** ssh is allowed in the public zone; another local port meets the final reject. */
  @Test
  void firewalld_localPorts_sshAcceptedOtherRejected() {
    NodeState n = firewalldAndKubeProxy();
    TraceResult ssh = trace(n, "203.0.113.2", "192.168.0.2", 22);
    assertThat(ssh.outcomes())
        .singleElement()
        .satisfies(
            o -> {
              assertThat(o.verdict()).isEqualTo(Verdict.ACCEPT);
              assertThat(o.delivery()).isEqualTo("local");
            });
    TraceResult other = trace(n, "203.0.113.2", "192.168.0.2", 8081);
    assertThat(other.outcomes())
        .singleElement()
        .satisfies(
            o -> {
              assertThat(o.verdict()).isEqualTo(Verdict.REJECT);
              assertThat(o.steps().get(o.steps().size() - 1).chain()).isEqualTo("filter_INPUT");
            });
  }

  private static NodeState docker() {
    String json = NftRulesets.load(netns, NftRulesets.transaction("docker.nft"));
    return BundleReader.fromFiles(
        Map.of(
            "nft-ruleset.json",
            json,
            "ip-addr.json",
            "[{\"ifname\":\"lo\",\"flags\":[\"UP\"],\"addr_info\":[{\"family\":\"inet\",\"local\":\"127.0.0.1\",\"prefixlen\":8,\"scope\":\"host\"}]},"
                + "{\"ifname\":\"eth0\",\"flags\":[\"UP\"],\"addr_info\":[{\"family\":\"inet\",\"local\":\"192.168.0.2\",\"prefixlen\":24}]},"
                + "{\"ifname\":\"docker0\",\"flags\":[\"UP\"],\"addr_info\":[{\"family\":\"inet\",\"local\":\"172.17.0.1\",\"prefixlen\":16}]}]",
            "ip-route.json",
            """
            default via 192.168.0.1 dev eth0
            192.168.0.0/24 dev eth0 proto kernel scope link src 192.168.0.2
            172.17.0.0/16 dev docker0 proto kernel scope link src 172.17.0.1
            local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1
            local 192.168.0.2 dev eth0 table local proto kernel scope host src 192.168.0.2
            local 172.17.0.1 dev docker0 table local proto kernel scope host src 172.17.0.1
            """,
            "sysctl.txt",
            "net.ipv4.ip_forward = 1\n"));
  }

  /**
   * Docker: the published port is DNATed to the container (fib daddr type local) and let through
   * the bridge's forward chain, without masquerade; the container's own traffic out is masqueraded;
   * direct access to the container from outside is dropped in raw.
   */
  @Test
  void docker_publishedPortEgressAndDirectAccess() {
    NodeState n = docker();
    TraceResult in = trace(n, "203.0.113.2", "192.168.0.2", 8080);
    assertThat(in.outcomes())
        .as(TraceFormatter.text(in))
        .singleElement()
        .satisfies(
            o -> {
              assertThat(o.verdict()).isEqualTo(Verdict.ACCEPT);
              assertThat(o.dnat()).isEqualTo("172.17.0.2:80");
              assertThat(o.masquerade()).isFalse();
            });
    TraceResult out = trace(n, "172.17.0.2", "203.0.113.2", 443);
    assertThat(out.outcomes())
        .as(TraceFormatter.text(out))
        .singleElement()
        .satisfies(
            o -> {
              assertThat(o.verdict()).isEqualTo(Verdict.ACCEPT);
              assertThat(o.snat()).isEqualTo("192.168.0.2:40000");
              assertThat(o.masquerade()).isTrue();
            });
    TraceResult direct = trace(n, "203.0.113.2", "172.17.0.2", 80);
    assertThat(direct.outcomes())
        .singleElement()
        .satisfies(
            o -> {
              assertThat(o.verdict()).isEqualTo(Verdict.DROP);
              assertThat(o.steps().get(o.steps().size() - 1).text()).contains("DROP DIRECT ACCESS");
            });
  }

  /**
   * iptables-nft writes its rules into nft tables `ip filter` and `ip nat`, which the capture's
   * nft-ruleset.json shows as well as iptables-save.txt: they are evaluated once, as iptables
   * rules, and the trace says why the nft copies are left out.
   */
  @Test
  void iptablesNftTables_evaluatedOnceFromIptablesSave() {
    NftRulesets.load(netns, NftRulesets.transaction("base.nft", "node-ports.nft"));
    String rules =
        """
        *filter
        :FORWARD ACCEPT [0:0]
        -A FORWARD -m comment --comment "seen once" -j LOG --log-prefix "fwd "
        COMMIT
        *nat
        :POSTROUTING ACCEPT [0:0]
        -A POSTROUTING -s 10.0.0.0/8 -o eth0 -j MASQUERADE
        COMMIT
        """;
    CommandResult r =
        netns.run(List.of("iptables-nft-restore", "--noflush"), rules, Duration.ofSeconds(30));
    assertThat(r.ok()).as(r.stderr()).isTrue();
    Map<String, String> files = new HashMap<>(BundleCapture.capture(netns));
    assertThat(files.get("nft-ruleset.json")).contains("\"name\": \"filter\"");
    files.put("ip-addr.json", NftUpstreamPacketFlowTest.ADDR);
    files.put("ip-route.json", NftUpstreamPacketFlowTest.ROUTES);
    files.remove("ip-rule.json");
    NodeState n = BundleReader.fromFiles(files);
    TraceResult t = trace(n, "10.0.0.2", "203.0.113.2", 443);
    assertThat(t.outcomes())
        .as(TraceFormatter.text(t))
        .singleElement()
        .satisfies(
            o -> {
              assertThat(o.verdict()).isEqualTo(Verdict.ACCEPT);
              assertThat(o.snat()).isEqualTo("192.168.0.2:40000");
              assertThat(o.steps()).filteredOn(s -> s.text().contains("seen once")).hasSize(1);
              assertThat(o.steps()).noneMatch(s -> s.table().startsWith("nft ip filter"));
              assertThat(o.steps()).noneMatch(s -> s.table().startsWith("nft ip nat"));
            });
    assertThat(t.warnings())
        .contains(
            "nft table ip filter is iptables-nft's (iptables-save.txt holds it): evaluated once,"
                + " from iptables-save.txt");
  }
}
