package dev.svcproxy.render.nftables;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.model.Cidr;
import dev.svcproxy.model.LocalTrafficDetector;
import dev.svcproxy.model.ProxyConfig;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.nftables.NftRuleset;
import dev.svcproxy.testutil.States;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * Upstream's nftables tests whose expectation is a dump of the table (pkg/proxy/nftables/
 * proxier_test.go @ 81810de635aa13aa0a32992f6def3aa9d6025ebc): our full render, printed as the
 * "add" transaction of a full sync, equals upstream's expected text after upstream's own sort.
 */
class NftablesRendererUpstreamTest {
  private static final String DIR = "/dev/svcproxy/render/nftables/";

  /** NewFakeProxier(IPv4): node test-node at 192.168.0.2, pods 10.0.0.0/8, NodePorts on .2/32. */
  static ProxyConfig upstreamTestConfig() {
    return new ProxyConfig(
        "test-node",
        "192.168.0.2",
        List.of("127.0.0.1", "192.168.0.2", "192.168.1.2", "192.168.99.11"),
        "",
        new LocalTrafficDetector(LocalTrafficDetector.Mode.CLUSTER_CIDR, "10.0.0.0/8"),
        14,
        false,
        List.of(Cidr.parse("192.168.0.2/32"), Cidr.parse("2001:db8::1/128")));
  }

  static NftablesRenderer upstreamTestRenderer() {
    return new NftablesRenderer(upstreamTestConfig(), NftablesOptions.defaults());
  }

  /** The fake proxier's serviceCIDRs. */
  static ProxyState withUpstreamCidrs(ProxyState s) {
    return s.withServiceCidrs(List.of(Cidr.parse("172.30.0.0/16")));
  }

  static String fullSync(NftRuleset rs) {
    return NftablesRenderer.fullSyncTransaction(rs).text();
  }

  static String expected(String file) {
    return States.resource(DIR + "base-rules.nft") + States.resource(DIR + file);
  }

  /**
   * An upstream dump without the chains its sync had flushed but not yet deleted: those are the
   * sync's (it deletes them a second later), never part of the desired table.
   */
  static String withoutStaleChains(String dump, String... stale) {
    Set<String> drop =
        java.util.Arrays.stream(stale)
            .map(c -> "add chain ip kube-proxy " + c)
            .collect(Collectors.toSet());
    return dump.lines().filter(l -> !drop.contains(l)).collect(Collectors.joining("\n"));
  }

  static void assertUpstreamEqual(String rendered, String expected) {
    assertThat(UpstreamNftOrder.sort(rendered)).isEqualTo(UpstreamNftOrder.sort(expected));
  }

  @Test
  void render_overallNFTablesRulesInputs_equalsUpstreamExpected() {
    ProxyState state =
        withUpstreamCidrs(States.fromYaml(States.resource(DIR + "overall-input.yaml")));
    assertUpstreamEqual(
        fullSync(upstreamTestRenderer().render(state)), expected("overall-expected.nft"));
  }

  @Test
  void render_badIPsInputs_equalsUpstreamExpected() {
    String yaml =
        """
        apiVersion: v1
        kind: Service
        metadata: {namespace: ns1, name: svc1}
        spec:
          type: LoadBalancer
          clusterIP: 172.30.0.041
          ports: [{name: p80, port: 80, protocol: TCP, nodePort: 3001}]
          externalIPs: [192.168.099.022]
          loadBalancerSourceRanges: [203.0.113.000/025]
        status:
          loadBalancer: {ingress: [{ip: 1.2.3.004}]}
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {namespace: ns1, name: svc1-1, labels: {kubernetes.io/service-name: svc1}}
        addressType: IPv4
        endpoints: [{addresses: [10.180.00.001]}]
        ports: [{name: p80, port: 80, protocol: TCP}]
        """;
    ProxyState state = withUpstreamCidrs(States.fromYaml(yaml));
    assertUpstreamEqual(fullSync(upstreamTestRenderer().render(state)), expected("bad-ips.nft"));
  }

  @Test
  void render_syncProxyRulesStartupInputs_equalsUpstreamExpected() {
    String yaml =
        clusterIp("ns1", "svc1", "172.30.0.41", "p80", 80)
            + clusterIp("ns2", "svc2", "172.30.0.42", "p8080", 8080)
            + clusterIp("ns3", "svc3", "172.30.0.43", "p80", 80)
            + slice("ns1", "svc1", "p80", 80, "10.0.1.1", "10.0.1.2")
            + slice("ns2", "svc2", "p8080", 8080, "10.0.2.1");
    ProxyState state = withUpstreamCidrs(States.fromYaml(yaml));
    assertUpstreamEqual(fullSync(upstreamTestRenderer().render(state)), expected("startup.nft"));
  }

  @Test
  void render_syncProxyRulesRepeatedSteps_equalUpstreamDumpsWithoutStaleChains() {
    String svc1 = clusterIp("ns1", "svc1", "172.30.0.41", "p80", 80);
    String svc2 = clusterIp("ns2", "svc2", "172.30.0.42", "p8080", 8080);
    String svc3 = clusterIp("ns3", "svc3", "172.30.0.43", "p80", 80);
    String svc4 = clusterIp("ns4", "svc4", "172.30.0.44", "p80", 80);
    String eps1 = slice("ns1", "svc1", "p80", 80, "10.0.1.1");
    String eps2 = slice("ns2", "svc2", "p8080", 8080, "10.0.2.1");
    String eps3 = slice("ns3", "svc3", "p80", 80, "10.0.3.1");
    String eps3b = slice("ns3", "svc3", "p80", 80, "10.0.3.2");
    String eps3c = slice("ns3", "svc3", "p80", 80, "10.0.3.2", "10.0.3.3");
    String eps3empty = slice("ns3", "svc3", "p80", 80);
    String eps4 = slice("ns4", "svc4", "p80", 80, "10.0.4.1");

    step(svc1 + svc2 + eps1 + eps2, "repeated-1.nft");
    step(svc1 + svc2 + svc3 + eps1 + eps2 + eps3, "repeated-2.nft");
    step(
        svc1 + svc3 + eps1 + eps2 + eps3,
        "repeated-3.nft",
        "service-MHHHYRWA-ns2/svc2/tcp/p8080",
        "endpoint-7RVP4LUQ-ns2/svc2/tcp/p8080__10.0.2.1/8080");
    step(svc1 + svc3 + svc4 + eps1 + eps2 + eps3, "repeated-4.nft");
    step(svc1 + svc3 + svc4 + eps1 + eps2 + eps3 + eps4, "repeated-5.nft");
    step(
        svc1 + svc3 + svc4 + eps1 + eps2 + eps3b + eps4,
        "repeated-6.nft",
        "endpoint-2OCDJSZQ-ns3/svc3/tcp/p80__10.0.3.1/80");
    step(svc1 + svc3 + svc4 + eps1 + eps2 + eps3c + eps4, "repeated-7.nft");
    step(
        svc1 + svc3 + svc4 + eps1 + eps2 + eps3empty + eps4,
        "repeated-8.nft",
        "service-4AT6LBPK-ns3/svc3/tcp/p80",
        "endpoint-SWWHDC7X-ns3/svc3/tcp/p80__10.0.3.2/80",
        "endpoint-TQ2QKHCZ-ns3/svc3/tcp/p80__10.0.3.3/80");
    // Restoring the endpoints gives step 7's table again.
    step(svc1 + svc3 + svc4 + eps1 + eps2 + eps3c + eps4, "repeated-7.nft");
  }

  private static void step(String yaml, String file, String... stale) {
    ProxyState state = withUpstreamCidrs(States.fromYaml(yaml));
    assertUpstreamEqual(
        fullSync(upstreamTestRenderer().render(state)), withoutStaleChains(expected(file), stale));
  }

  /** makeTestService with type ClusterIP and one TCP port. */
  static String clusterIp(String ns, String name, String ip, String portName, int port) {
    return """
        apiVersion: v1
        kind: Service
        metadata: {namespace: %s, name: %s}
        spec:
          type: ClusterIP
          clusterIP: %s
          ports: [{name: %s, port: %d, protocol: TCP}]
        ---
        """
        .formatted(ns, name, ip, portName, port);
  }

  /** makeTestEndpointSlice with one TCP port and ready endpoints without a node. */
  static String slice(String ns, String svc, String portName, int port, String... ips) {
    StringBuilder eps = new StringBuilder();
    for (String ip : ips) {
      eps.append(eps.isEmpty() ? "" : ", ").append("{addresses: [").append(ip).append("]}");
    }
    return """
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {namespace: %1$s, name: %2$s-1, labels: {kubernetes.io/service-name: %2$s}}
        addressType: IPv4
        endpoints: [%3$s]
        ports: [{name: %4$s, port: %5$d, protocol: TCP}]
        ---
        """
        .formatted(ns, svc, eps, portName, port);
  }
}
