package dev.svcproxy.trace;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.testutil.KernelTests;
import dev.svcproxy.trace.bundle.BundleReader;
import dev.svcproxy.trace.engine.Tracer;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Upstream's nftables packet-flow cases (kubernetes pkg/proxy/nftables/proxier_test.go at 81810de6,
 * runPacketFlowTests of TestNoEndpointsReject, TestClusterIPGeneral, TestLoadBalancer,
 * TestNodePorts (ipv4), TestExternalTrafficPolicyLocal/Cluster, TestInternalTrafficPolicy,
 * TestTerminatingEndpointsTrafficPolicyLocal/Cluster; the "after endpoints deleted" cases are the
 * no-endpoints tables): each test's table (base.nft is upstream's baseRules; the service part
 * written from upstream's rule templates, see the resources) is loaded into a lab namespace with
 * `nft -f`, the kernel's `nft -j list ruleset` goes into a bundle, and the tracer must give
 * upstream's output (endpoints, DROP, REJECT, "" for no rewrite) and masquerade flag. The node is
 * upstream's fake one: eth0 with 192.168.0.2, 192.168.1.2 and 192.168.99.11, pods in 10.0.0.0/8
 * behind cni0.
 */
class NftUpstreamPacketFlowTest {
  static final String ADDR =
      "[{\"ifname\":\"lo\",\"flags\":[\"UP\"],\"addr_info\":[{\"family\":\"inet\",\"local\":\"127.0.0.1\",\"prefixlen\":8,\"scope\":\"host\"}]},"
          + "{\"ifname\":\"eth0\",\"flags\":[\"UP\"],\"addr_info\":["
          + "{\"family\":\"inet\",\"local\":\"192.168.0.2\",\"prefixlen\":24},"
          + "{\"family\":\"inet\",\"local\":\"192.168.1.2\",\"prefixlen\":24},"
          + "{\"family\":\"inet\",\"local\":\"192.168.99.11\",\"prefixlen\":24}]},"
          + "{\"ifname\":\"cni0\",\"flags\":[\"UP\"],\"addr_info\":[{\"family\":\"inet\",\"local\":\"10.0.0.1\",\"prefixlen\":8}]}]";
  static final String ROUTES =
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

  private static Lab lab;
  private static final Map<String, NodeState> NODES = new HashMap<>();

  @BeforeAll
  static void load() {
    KernelTests.require("nftables packet-flow tests");
    lab = Lab.create(new ProcessCommandRunner(), 1);
    CommandRunner netns = lab.runner().inNetns(lab.node("node1").netns());
    for (String f :
        List.of(
            "no-endpoints-reject.nft",
            "cluster-ip-general.nft",
            "load-balancer.nft",
            "node-ports.nft",
            "node-ports.nft nodeport-ips-alt.nft",
            "external-traffic-policy-local.nft",
            "external-traffic-policy-cluster.nft",
            "internal-traffic-policy-cluster.nft",
            "internal-traffic-policy-local-one.nft",
            "internal-traffic-policy-local-many.nft",
            "internal-traffic-policy-local-none.nft",
            "internal-traffic-policy-deleted.nft",
            "terminating-local-ready.nft",
            "terminating-local-terminating.nft",
            "terminating-local-remote-terminating.nft",
            "terminating-local-none-usable.nft",
            "terminating-cluster-ready.nft",
            "terminating-cluster-terminating.nft",
            "terminating-cluster-remote-terminating.nft")) {
      String[] parts = ("base.nft " + f).split(" ");
      String json = NftRulesets.load(netns, NftRulesets.transaction(parts));
      NODES.put(f, node(json));
    }
  }

  @AfterAll
  static void tearDown() {
    if (lab != null) {
      lab.close();
    }
  }

  static NodeState node(String nftJson) {
    return BundleReader.fromFiles(
        Map.of(
            "nft-ruleset.json",
            nftJson,
            "ip-addr.json",
            ADDR,
            "ip-route.json",
            ROUTES,
            "sysctl.txt",
            "net.ipv4.ip_forward = 1\n"));
  }

  @ParameterizedTest(name = "{0}: {1}")
  @CsvSource(
      delimiter = '|',
      textBlock =
          """
          no-endpoints-reject.nft | pod to cluster IP with no endpoints | 10.0.0.2 | tcp | 172.30.0.41 | 80 | REJECT | false
          no-endpoints-reject.nft | external to external IP with no endpoints | 203.0.113.2 | tcp | 192.168.99.11 | 80 | REJECT | false
          no-endpoints-reject.nft | pod to NodePort with no endpoints | 10.0.0.2 | tcp | 192.168.0.2 | 3001 | REJECT | false
          no-endpoints-reject.nft | external to NodePort with no endpoints | 203.0.113.2 | tcp | 192.168.0.2 | 3001 | REJECT | false
          no-endpoints-reject.nft | pod to LoadBalancer IP with no endpoints | 10.0.0.2 | tcp | 1.2.3.4 | 80 | REJECT | false
          no-endpoints-reject.nft | external to LoadBalancer IP with no endpoints | 203.0.113.2 | tcp | 1.2.3.4 | 80 | REJECT | false
          cluster-ip-general.nft | simple clusterIP | 10.180.0.2 | tcp | 172.30.0.41 | 80 | 10.180.0.1:80 | false
          cluster-ip-general.nft | hairpin to cluster IP | 10.180.0.1 | tcp | 172.30.0.41 | 80 | 10.180.0.1:80 | true
          cluster-ip-general.nft | clusterIP with multiple endpoints | 10.180.0.2 | tcp | 172.30.0.42 | 80 | 10.180.0.1:80, 10.180.2.1:80 | false
          cluster-ip-general.nft | clusterIP with TargetPort | 10.180.0.2 | tcp | 172.30.0.42 | 443 | 10.180.0.1:8443, 10.180.2.1:8443 | false
          cluster-ip-general.nft | clusterIP with TCP, UDP, and SCTP on same port (TCP) | 10.180.0.2 | tcp | 172.30.0.42 | 53 | 10.180.0.1:5353, 10.180.2.1:5353 | false
          cluster-ip-general.nft | clusterIP with TCP, UDP, and SCTP on same port (UDP) | 10.180.0.2 | udp | 172.30.0.42 | 53 | 10.180.0.1:53, 10.180.2.1:53 | false
          cluster-ip-general.nft | clusterIP with TCP, UDP, and SCTP on same port (SCTP) | 10.180.0.2 | sctp | 172.30.0.42 | 53 | 10.180.0.1:53, 10.180.2.1:53 | false
          cluster-ip-general.nft | TCP-only port does not match UDP traffic | 10.180.0.2 | udp | 172.30.0.42 | 80 | REJECT | false
          cluster-ip-general.nft | svc1 does not accept svc2's ports | 10.180.0.2 | tcp | 172.30.0.41 | 443 | REJECT | false
          cluster-ip-general.nft | packet to unallocated cluster ip | 10.180.0.2 | tcp | 172.30.0.50 | 80 | DROP | false
          load-balancer.nft | pod to cluster IP | 10.0.0.2 | tcp | 172.30.0.41 | 80 | 10.180.0.1:80 | false
          load-balancer.nft | external to nodePort | 203.0.113.2 | tcp | 192.168.0.2 | 3001 | 10.180.0.1:80 | true
          load-balancer.nft | nodePort bypasses LoadBalancerSourceRanges | 203.0.113.130 | tcp | 192.168.0.2 | 3001 | 10.180.0.1:80 | true
          load-balancer.nft | accepted external to LB1 | 203.0.113.2 | tcp | 1.2.3.4 | 80 | 10.180.0.1:80 | true
          load-balancer.nft | accepted external to LB2 | 203.0.113.2 | tcp | 5.6.7.8 | 80 | 10.180.0.1:80 | true
          load-balancer.nft | blocked external to LB1 | 203.0.113.130 | tcp | 1.2.3.4 | 80 | DROP | false
          load-balancer.nft | blocked external to LB2 | 203.0.113.130 | tcp | 5.6.7.8 | 80 | DROP | false
          load-balancer.nft | pod to LB1 (blocked by LoadBalancerSourceRanges) | 10.0.0.2 | tcp | 1.2.3.4 | 80 | DROP | false
          load-balancer.nft | pod to LB2 (blocked by LoadBalancerSourceRanges) | 10.0.0.2 | tcp | 5.6.7.8 | 80 | DROP | false
          load-balancer.nft | node to LB1 (allowed by LoadBalancerSourceRanges) | 192.168.0.2 | tcp | 1.2.3.4 | 80 | 10.180.0.1:80 | true
          load-balancer.nft | node to LB2 (allowed by LoadBalancerSourceRanges) | 192.168.0.2 | tcp | 5.6.7.8 | 80 | 10.180.0.1:80 | true
          load-balancer.nft | same node to LB1, SNATted to LB1 (implicitly allowed) | 1.2.3.4 | tcp | 1.2.3.4 | 80 | 10.180.0.1:80 | true
          load-balancer.nft | same node to LB2, SNATted to LB2 (implicitly allowed) | 5.6.7.8 | tcp | 5.6.7.8 | 80 | 10.180.0.1:80 | true
          node-ports.nft | pod to cluster IP | 10.0.0.2 | tcp | 172.30.0.41 | 80 | 10.180.0.1:80, 10.180.2.1:80 | false
          node-ports.nft | external to nodePort | 203.0.113.2 | tcp | 192.168.0.2 | 3001 | 10.180.0.1:80, 10.180.2.1:80 | true
          node-ports.nft | node to nodePort | 192.168.0.2 | tcp | 192.168.0.2 | 3001 | 10.180.0.1:80, 10.180.2.1:80 | true
          node-ports.nft | secondary nodeIP ignores NodePorts | 203.0.113.2 | tcp | 192.168.1.2 | 3001 | '' | false
          node-ports.nft nodeport-ips-alt.nft | pod to cluster IP | 10.0.0.2 | tcp | 172.30.0.41 | 80 | 10.180.0.1:80, 10.180.2.1:80 | false
          node-ports.nft nodeport-ips-alt.nft | external to nodePort | 203.0.113.2 | tcp | 192.168.0.2 | 3001 | 10.180.0.1:80, 10.180.2.1:80 | true
          node-ports.nft nodeport-ips-alt.nft | node to nodePort | 192.168.0.2 | tcp | 192.168.0.2 | 3001 | 10.180.0.1:80, 10.180.2.1:80 | true
          node-ports.nft nodeport-ips-alt.nft | external to nodePort on secondary IP | 203.0.113.2 | tcp | 192.168.1.2 | 3001 | 10.180.0.1:80, 10.180.2.1:80 | true
          external-traffic-policy-local.nft | pod to cluster IP hits both endpoints, unmasqueraded | 10.0.0.2 | tcp | 172.30.0.41 | 80 | 10.180.0.1:80, 10.180.2.1:80 | false
          external-traffic-policy-local.nft | pod to external IP hits both endpoints, unmasqueraded | 10.0.0.2 | tcp | 192.168.99.11 | 80 | 10.180.0.1:80, 10.180.2.1:80 | false
          external-traffic-policy-local.nft | external to external IP hits only local endpoint, unmasqueraded | 203.0.113.2 | tcp | 192.168.99.11 | 80 | 10.180.2.1:80 | false
          external-traffic-policy-local.nft | pod to LB IP hits only both endpoints, unmasqueraded | 10.0.0.2 | tcp | 1.2.3.4 | 80 | 10.180.0.1:80, 10.180.2.1:80 | false
          external-traffic-policy-local.nft | external to LB IP hits only local endpoint, unmasqueraded | 203.0.113.2 | tcp | 1.2.3.4 | 80 | 10.180.2.1:80 | false
          external-traffic-policy-local.nft | pod to NodePort hits both endpoints, unmasqueraded | 10.0.0.2 | tcp | 192.168.0.2 | 3001 | 10.180.0.1:80, 10.180.2.1:80 | false
          external-traffic-policy-local.nft | external to NodePort hits only local endpoint, unmasqueraded | 203.0.113.2 | tcp | 192.168.0.2 | 3001 | 10.180.2.1:80 | false
          external-traffic-policy-cluster.nft | pod to cluster IP hits both endpoints, unmasqueraded | 10.0.0.2 | tcp | 172.30.0.41 | 80 | 10.180.0.1:80, 10.180.2.1:80 | false
          external-traffic-policy-cluster.nft | pod to external IP hits both endpoints, masqueraded | 10.0.0.2 | tcp | 192.168.99.11 | 80 | 10.180.0.1:80, 10.180.2.1:80 | true
          external-traffic-policy-cluster.nft | external to external IP hits both endpoints, masqueraded | 203.0.113.2 | tcp | 192.168.99.11 | 80 | 10.180.0.1:80, 10.180.2.1:80 | true
          external-traffic-policy-cluster.nft | pod to LB IP hits both endpoints, masqueraded | 10.0.0.2 | tcp | 1.2.3.4 | 80 | 10.180.0.1:80, 10.180.2.1:80 | true
          external-traffic-policy-cluster.nft | external to LB IP hits both endpoints, masqueraded | 203.0.113.2 | tcp | 1.2.3.4 | 80 | 10.180.0.1:80, 10.180.2.1:80 | true
          external-traffic-policy-cluster.nft | pod to NodePort hits both endpoints, masqueraded | 10.0.0.2 | tcp | 192.168.0.2 | 3001 | 10.180.0.1:80, 10.180.2.1:80 | true
          external-traffic-policy-cluster.nft | external to NodePort hits both endpoints, masqueraded | 203.0.113.2 | tcp | 192.168.0.2 | 3001 | 10.180.0.1:80, 10.180.2.1:80 | true
          internal-traffic-policy-cluster.nft | pod to ClusterIP hits all endpoints | 10.0.0.2 | tcp | 172.30.1.1 | 80 | 10.0.1.1:80, 10.0.1.2:80, 10.0.1.3:80 | false
          internal-traffic-policy-local-one.nft | pod to ClusterIP hits only local endpoint | 10.0.0.2 | tcp | 172.30.1.1 | 80 | 10.0.1.1:80 | false
          internal-traffic-policy-local-many.nft | pod to ClusterIP hits all local endpoints | 10.0.0.2 | tcp | 172.30.1.1 | 80 | 10.0.1.1:80, 10.0.1.2:80 | false
          internal-traffic-policy-local-none.nft | no endpoints | 10.0.0.2 | tcp | 172.30.1.1 | 80 | DROP | false
          internal-traffic-policy-deleted.nft | endpoints deleted | 10.0.0.2 | tcp | 172.30.1.1 | 80 | REJECT | false
          terminating-local-ready.nft | pod to clusterIP | 10.0.0.2 | tcp | 172.30.1.1 | 80 | 10.0.1.1:80, 10.0.1.2:80, 10.0.1.5:80 | false
          terminating-local-ready.nft | external to LB | 203.0.113.2 | tcp | 1.2.3.4 | 80 | 10.0.1.1:80, 10.0.1.2:80 | false
          terminating-local-terminating.nft | pod to clusterIP | 10.0.0.2 | tcp | 172.30.1.1 | 80 | 10.0.1.5:80 | false
          terminating-local-terminating.nft | external to LB | 203.0.113.2 | tcp | 1.2.3.4 | 80 | 10.0.1.2:80, 10.0.1.3:80 | false
          terminating-local-remote-terminating.nft | pod to clusterIP | 10.0.0.2 | tcp | 172.30.1.1 | 80 | 10.0.1.5:80 | false
          terminating-local-remote-terminating.nft | external to LB, no locally-usable endpoints | 203.0.113.2 | tcp | 1.2.3.4 | 80 | DROP | false
          terminating-local-none-usable.nft | pod to clusterIP, no usable endpoints | 10.0.0.2 | tcp | 172.30.1.1 | 80 | REJECT | false
          terminating-local-none-usable.nft | external to LB, no usable endpoints | 203.0.113.2 | tcp | 1.2.3.4 | 80 | REJECT | false
          terminating-cluster-ready.nft | pod to clusterIP | 10.0.0.2 | tcp | 172.30.1.1 | 80 | 10.0.1.1:80, 10.0.1.2:80, 10.0.1.5:80 | false
          terminating-cluster-ready.nft | external to LB | 203.0.113.2 | tcp | 1.2.3.4 | 80 | 10.0.1.1:80, 10.0.1.2:80, 10.0.1.5:80 | true
          terminating-cluster-terminating.nft | pod to clusterIP | 10.0.0.2 | tcp | 172.30.1.1 | 80 | 10.0.1.2:80, 10.0.1.3:80, 10.0.1.5:80 | false
          terminating-cluster-terminating.nft | external to LB | 203.0.113.2 | tcp | 1.2.3.4 | 80 | 10.0.1.2:80, 10.0.1.3:80, 10.0.1.5:80 | true
          terminating-cluster-remote-terminating.nft | pod to clusterIP | 10.0.0.2 | tcp | 172.30.1.1 | 80 | 10.0.1.5:80 | false
          terminating-cluster-remote-terminating.nft | external to LB | 203.0.113.2 | tcp | 1.2.3.4 | 80 | 10.0.1.5:80 | true
          """)
  void upstreamCase_sameOutputAndMasquerade(
      String table,
      String name,
      String src,
      String proto,
      String dst,
      int port,
      String output,
      boolean masq) {
    TraceResult r =
        new Tracer(NODES.get(table)).trace(new PacketSpec(src, 40000, dst, port, proto, null));
    List<Outcome> os = r.outcomes();
    String why = TraceFormatter.text(r);
    switch (output) {
      case "DROP", "REJECT" ->
          assertThat(os).as(why).extracting(o -> o.verdict().name()).containsOnly(output);
      case "" ->
          assertThat(os)
              .as(why)
              .singleElement()
              .satisfies(
                  o -> {
                    assertThat(o.verdict()).isEqualTo(Verdict.ACCEPT);
                    assertThat(o.dnat()).isNull();
                  });
      default -> {
        assertThat(os)
            .as(why)
            .allSatisfy(
                o -> {
                  assertThat(o.verdict()).isEqualTo(Verdict.ACCEPT);
                  assertThat(o.masquerade()).isEqualTo(masq);
                });
        assertThat(new TreeSet<>(os.stream().map(Outcome::dnat).toList()))
            .as(why)
            .containsExactlyElementsOf(new TreeSet<>(Arrays.asList(output.split(", "))));
      }
    }
  }
}
