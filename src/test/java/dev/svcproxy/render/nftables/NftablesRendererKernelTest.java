package dev.svcproxy.render.nftables;

import static dev.svcproxy.render.nftables.NftablesRendererUpstreamTest.upstreamTestConfig;
import static dev.svcproxy.render.nftables.NftablesRendererUpstreamTest.withUpstreamCidrs;
import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.model.Cidr;
import dev.svcproxy.model.LocalTrafficDetector;
import dev.svcproxy.model.ProxyConfig;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.testutil.KernelTests;
import dev.svcproxy.testutil.States;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The kernel takes what we render: each full-sync transaction loads with {@code nft -f} into a lab
 * node's namespace (one atomic transaction, refused whole on any error), and reads back.
 */
class NftablesRendererKernelTest {
  private static Lab lab;
  private static CommandRunner node;

  @BeforeAll
  static void setUp() {
    KernelTests.require("nftables renderer kernel test");
    lab = Lab.create(new ProcessCommandRunner(), 1);
    node = lab.runner().inNetns(lab.node("node1").netns());
  }

  @AfterAll
  static void tearDown() {
    if (lab != null) {
      lab.close();
    }
  }

  private static String load(ProxyConfig cfg, ProxyState state) {
    node.run("nft", "delete", "table", "ip", "kube-proxy");
    String tx =
        NftablesRenderer.fullSyncTransaction(
                new NftablesRenderer(cfg, NftablesOptions.defaults()).render(state))
            .text();
    CommandResult r = node.run(List.of("nft", "-f", "-"), tx, Duration.ofSeconds(30));
    assertThat(r.ok()).as(r.stderr()).isTrue();
    return node.run("nft", "list", "table", "ip", "kube-proxy").orThrow().stdout();
  }

  private static ProxyState overall() {
    return withUpstreamCidrs(
        States.fromYaml(States.resource("/dev/svcproxy/render/nftables/overall-input.yaml")));
  }

  private static ProxyConfig withDetector(LocalTrafficDetector d) {
    ProxyConfig c = upstreamTestConfig();
    return new ProxyConfig(
        c.nodeName(), c.nodeIP(), c.nodeIPs(), c.zone(), d, 14, false, c.nodePortAddresses());
  }

  @Test
  void fullSync_overallInputs_loadsIntoKernel() {
    String listed = load(upstreamTestConfig(), overall());
    assertThat(listed)
        .contains("chain filter-prerouting-pre-dnat {")
        .contains("type filter hook prerouting priority dstnat - 10; policy accept;")
        .contains(
            "numgen random mod 2 vmap { 0 : goto endpoint-UNZV3OEC-ns4/svc4/tcp/p80__10.180.0.4/80")
        .contains("comment \"ns6/svc6:p80\" : goto reject-chain")
        .contains("timeout 3h")
        .contains("update @affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80 { ip saddr }")
        .contains("ip saddr != 203.0.113.0/25 drop");
  }

  @Test
  void fullSync_sourceRangesWithNodeIp_loadsAsOneAnonymousSet() {
    String yaml =
        """
        apiVersion: v1
        kind: Service
        metadata: {namespace: ns1, name: svc1}
        spec:
          type: LoadBalancer
          clusterIP: 172.30.0.41
          ports: [{name: p80, port: 80, protocol: TCP, nodePort: 3001}]
          loadBalancerSourceRanges: [192.168.0.0/24, 203.0.113.0/25]
        status:
          loadBalancer: {ingress: [{ip: 1.2.3.4}, {ip: 5.6.7.8}]}
        ---
        """
            + NftablesRendererUpstreamTest.slice("ns1", "svc1", "p80", 80, "10.180.0.1");
    String listed = load(upstreamTestConfig(), withUpstreamCidrs(States.fromYaml(yaml)));
    assertThat(listed)
        .contains("ip saddr != { 1.2.3.4, 5.6.7.8, 192.168.0.0/24, 203.0.113.0/25 } drop");
  }

  @Test
  void fullSync_matchAllMasqueradeAllAndInterfaceDetectors_loadIntoKernel() {
    load(
        upstreamTestConfig()
            .withNodePortAddresses(List.of(Cidr.parse("0.0.0.0/0")))
            .withMasqueradeAll(true),
        overall());
    String bridge =
        load(
            withDetector(
                new LocalTrafficDetector(LocalTrafficDetector.Mode.BRIDGE_INTERFACE, "cni0")),
            overall());
    assertThat(bridge).contains("iifname \"cni0\" goto service-42NFTM6N-ns2/svc2/tcp/p80");
    String prefix =
        load(
            withDetector(
                new LocalTrafficDetector(LocalTrafficDetector.Mode.INTERFACE_NAME_PREFIX, "veth")),
            overall());
    assertThat(prefix).contains("iifname != \"veth*\" jump mark-for-masquerade");
  }
}
