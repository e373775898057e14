package dev.svcproxy.render.iptables;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.model.Cidr;
import dev.svcproxy.model.Endpoint;
import dev.svcproxy.model.Protocol;
import dev.svcproxy.model.ProxyConfig;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.model.ServicePortInfo;
import dev.svcproxy.model.ServicePortName;
import dev.svcproxy.model.TrafficPolicy;
import dev.svcproxy.netfilter.Rule;
import dev.svcproxy.testutil.States;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * How the iptables renderer reads the mode-independent plan where iptables differs from other
 * modes. Expected rules are reasoned from upstream's pkg/proxy/iptables/proxier.go, per case.
 */
class PlanRenderingTest {
  private static final IptablesRenderer RENDERER = OverallRulesTest.upstreamTestRenderer();

  private static final String LB_WITH_RANGES_NO_ENDPOINTS =
      """
      apiVersion: v1
      kind: Service
      metadata: {namespace: ns1, name: svc1}
      spec:
        clusterIP: 172.30.0.41
        ports: [{name: p80, port: 80, protocol: TCP, nodePort: 3001}]
        type: LoadBalancer
        loadBalancerSourceRanges: [203.0.113.0/25]
      status:
        loadBalancer: {ingress: [{ip: 1.2.3.4}]}
      """;

  @Test
  void renderServicePort_lbSourceRangesWithoutEndpoints_noFirewallChainOnlyRejects() {
    // iptables: usesFWChain := hasEndpoints && len(LoadBalancerVIPs) > 0 && len(ranges) > 0, so
    // a port without endpoints gets no KUBE-FW chain and no KUBE-PROXY-FIREWALL DROP; its LB IP
    // and NodePort are REJECTed in KUBE-EXTERNAL-SERVICES, its cluster IP in KUBE-SERVICES.
    ProxyState state = States.fromYaml(LB_WITH_RANGES_NO_ENDPOINTS);
    String text = RENDERER.render(state).text();
    assertThat(text).doesNotContain("KUBE-FW-").doesNotContain("-A KUBE-PROXY-FIREWALL");
    assertThat(text)
        .contains(
            "-A KUBE-EXTERNAL-SERVICES -m comment --comment \"ns1/svc1:p80 has no endpoints\""
                + " -m tcp -p tcp -d 1.2.3.4 --dport 80 -j REJECT\n")
        .contains(
            "-A KUBE-SERVICES -m comment --comment \"ns1/svc1:p80 has no endpoints\""
                + " -m tcp -p tcp -d 172.30.0.41 --dport 80 -j REJECT\n");
  }

  private static ServicePortInfo clientIpAffinity(int timeoutSeconds) {
    return new ServicePortInfo(
        new ServicePortName("ns1", "svc1", "p80", Protocol.TCP),
        "172.30.0.41",
        80,
        0,
        List.of(),
        List.of(),
        List.of(),
        0,
        true,
        timeoutSeconds,
        TrafficPolicy.CLUSTER,
        TrafficPolicy.CLUSTER);
  }

  @Test
  void renderServicePort_clientIpAffinityTimeoutZero_writesRecentRulesWithApiDefault() {
    // Upstream writes the recent rules when SessionAffinityType is ClientIP; the timeout an API
    // source hands over is then the API default 10800 (the API server fills a missing one in).
    // The rules' shape is upstream's writeServiceToEndpointRules / endpoint chain for ClientIP.
    ServicePortRules r =
        RENDERER.renderServicePort(
            RENDERER
                .planner()
                .plan(clientIpAffinity(0), List.of(Endpoint.ready("10.180.0.1", 80, "test-node"))),
            false);
    List<String> rules = r.chainRules().stream().map(Rule::print).toList();
    assertThat(rules)
        .contains(
            "-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment \"ns1/svc1:p80 -> 10.180.0.1:80\""
                + " -m recent --name KUBE-SEP-SXIVWICOYRO3J4NJ --rcheck --seconds 10800 --reap"
                + " -j KUBE-SEP-SXIVWICOYRO3J4NJ",
            "-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80"
                + " -m recent --name KUBE-SEP-SXIVWICOYRO3J4NJ --set -m tcp -p tcp"
                + " -j DNAT --to-destination 10.180.0.1:80");
  }

  private static String renderOverall(String... nodePortAddresses) {
    ProxyConfig cfg =
        OverallRulesTest.upstreamTestConfig()
            .withNodePortAddresses(List.of(nodePortAddresses).stream().map(Cidr::parse).toList());
    return new IptablesRenderer(
            cfg, IptablesOptions.defaults(), OverallRulesTest.upstreamTestCapabilities())
        .render(States.fromYaml(States.resource("/golden/overall/input.yaml")))
        .text();
  }

  @Test
  void render_explicitZeroCidrOrOnlyIpv6NodePortAddresses_sameAsMatchAll() {
    // NewNodePortAddresses(IPv4, ...) is match-all for an explicit 0.0.0.0/0 (any other CIDRs are
    // ignored) and for a list without IPv4 CIDRs (it falls back to 0.0.0.0/0), exactly as for an
    // empty list: the same "-m addrtype --dst-type LOCAL -j KUBE-NODEPORTS" rule, and the
    // localhost NodePorts stay on.
    String matchAll = renderOverall();
    assertThat(matchAll)
        .contains(
            "-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must"
                + " be the last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n");
    assertThat(renderOverall("0.0.0.0/0")).isEqualTo(matchAll);
    assertThat(renderOverall("192.168.0.0/24", "0.0.0.0/0")).isEqualTo(matchAll);
    assertThat(renderOverall("fd00::/64")).isEqualTo(matchAll);
  }
}
