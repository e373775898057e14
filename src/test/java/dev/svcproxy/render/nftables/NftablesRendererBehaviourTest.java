package dev.svcproxy.render.nftables;

import static dev.svcproxy.render.nftables.NftablesRendererUpstreamTest.clusterIp;
import static dev.svcproxy.render.nftables.NftablesRendererUpstreamTest.slice;
import static dev.svcproxy.render.nftables.NftablesRendererUpstreamTest.upstreamTestConfig;
import static dev.svcproxy.render.nftables.NftablesRendererUpstreamTest.withUpstreamCidrs;
import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.model.Cidr;
import dev.svcproxy.model.LocalTrafficDetector;
import dev.svcproxy.model.ProxyConfig;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.model.ServicePortName;
import dev.svcproxy.nftables.NftChain;
import dev.svcproxy.nftables.NftElement;
import dev.svcproxy.nftables.NftObjects;
import dev.svcproxy.nftables.NftRule;
import dev.svcproxy.nftables.NftRuleset;
import dev.svcproxy.nftables.NftSet;
import dev.svcproxy.testutil.States;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * Cases upstream's nftables tests check only by packet flow (TestNodePorts, TestLoadBalancer,
 * TestExternalTrafficPolicyLocal, TestInternalExternalMasquerade, TestTerminatingEndpoints...),
 * with the expected rules written down from upstream's proxier.go (syncProxyRules, setupNFTables,
 * localdetector.go), and the split into base and per-port objects.
 */
class NftablesRendererBehaviourTest {
  private static final String DIR = "/dev/svcproxy/render/nftables/";
  private static final String SVC1 = "ULMVA6XW-ns1/svc1/tcp/p80";

  private static NftRuleset render(ProxyConfig cfg, NftablesOptions opts, ProxyState state) {
    return new NftablesRenderer(cfg, opts).render(state);
  }

  private static NftRuleset render(ProxyConfig cfg, String yaml) {
    return render(cfg, NftablesOptions.defaults(), withUpstreamCidrs(States.fromYaml(yaml)));
  }

  private static List<String> rules(NftRuleset rs, String chain) {
    return rs.all().chains().stream()
        .filter(c -> c.name().equals(chain))
        .flatMap(c -> c.rules().stream())
        .map(r -> r.comment().isEmpty() ? r.body() : r.body() + " comment \"" + r.comment() + "\"")
        .toList();
  }

  private static List<String> chainNames(NftRuleset rs) {
    return rs.all().chains().stream().map(NftChain::name).toList();
  }

  private static List<String> elements(NftRuleset rs, String set) {
    return rs.all().elements().stream()
        .filter(e -> e.set().equals(set))
        .map(NftablesRendererBehaviourTest::text)
        .distinct()
        .sorted()
        .toList();
  }

  private static String text(NftElement e) {
    String c = e.comment().isEmpty() ? "" : " comment \"" + e.comment() + "\"";
    String v = e.value().isEmpty() ? "" : " : " + String.join(" . ", e.value());
    return e.keyText() + c + v;
  }

  private static ProxyConfig withDetector(ProxyConfig c, LocalTrafficDetector d) {
    return new ProxyConfig(
        c.nodeName(),
        c.nodeIP(),
        c.nodeIPs(),
        c.zone(),
        d,
        c.masqueradeBit(),
        c.masqueradeAll(),
        c.nodePortAddresses());
  }

  /** TestLoadBalancer's service: two LB IPs, source ranges, one endpoint on another node. */
  private static final String LOAD_BALANCER =
      """
      apiVersion: v1
      kind: Service
      metadata: {namespace: ns1, name: svc1}
      spec:
        type: LoadBalancer
        clusterIP: 172.30.0.41
        ports: [{name: p80, port: 80, protocol: TCP, nodePort: 3001}]
        loadBalancerSourceRanges: [192.168.0.0/24, " 203.0.113.0/25"]
      status:
        loadBalancer: {ingress: [{ip: 1.2.3.4}, {ip: 5.6.7.8}]}
      ---
      """;

  /** TestExternalTrafficPolicyLocal's service: eTP=Local, external IP, LB IP, NodePort. */
  private static final String ETP_LOCAL =
      """
      apiVersion: v1
      kind: Service
      metadata: {namespace: ns1, name: svc1}
      spec:
        type: LoadBalancer
        externalTrafficPolicy: Local
        clusterIP: 172.30.0.41
        externalIPs: [192.168.99.11]
        ports: [{name: p80, port: 80, protocol: TCP, nodePort: 3001, targetPort: 80}]
        healthCheckNodePort: 30000
      status:
        loadBalancer: {ingress: [{ip: 1.2.3.4}]}
      ---
      apiVersion: discovery.k8s.io/v1
      kind: EndpointSlice
      metadata: {namespace: ns1, name: svc1-1, labels: {kubernetes.io/service-name: svc1}}
      addressType: IPv4
      endpoints:
      - addresses: [10.180.0.1]
      - addresses: [10.180.2.1]
        nodeName: test-node
      ports: [{name: p80, port: 80, protocol: TCP}]
      ---
      """;

  @Test
  void render_equalsBasePlusEachServicePort() {
    ProxyState state =
        withUpstreamCidrs(States.fromYaml(States.resource(DIR + "overall-input.yaml")));
    NftablesRenderer r = NftablesRendererUpstreamTest.upstreamTestRenderer();
    NftRuleset full = r.render(state);
    assertThat(full.base()).isEqualTo(r.base(state));
    assertThat(full.services().keySet()).isEqualTo(state.services().keySet());
    NftObjects sum = r.base(state);
    for (ServicePortName name : state.services().keySet()) {
      assertThat(full.services().get(name)).isEqualTo(r.servicePort(state, name));
      sum = sum.plus(r.servicePort(state, name));
    }
    assertThat(full.all()).isEqualTo(sum);
  }

  @Test
  void servicePort_unknownPort_isEmpty() {
    NftablesRenderer r = NftablesRendererUpstreamTest.upstreamTestRenderer();
    ServicePortName none = new ServicePortName("ns", "nope", "p", dev.svcproxy.model.Protocol.TCP);
    assertThat(r.servicePort(ProxyState.empty(), none)).isEqualTo(NftObjects.empty());
  }

  @Test
  void base_noServiceCidrs_onlyRejectsInvalidPorts() {
    NftablesRenderer r = NftablesRendererUpstreamTest.upstreamTestRenderer();
    NftRuleset rs = r.render(ProxyState.empty());
    assertThat(rules(rs, "cluster-ips-check"))
        .containsExactly(
            "ip daddr @cluster-ips reject comment \"Reject traffic to invalid ports of ClusterIPs\"");
  }

  @Test
  void base_twoServiceCidrs_dropsBothJoinedByComma() {
    NftablesRenderer r = NftablesRendererUpstreamTest.upstreamTestRenderer();
    ProxyState s =
        ProxyState.empty()
            .withServiceCidrs(
                List.of(
                    Cidr.parse("172.30.0.0/16"),
                    Cidr.parse("fd00:10:96::/112"),
                    Cidr.parse("172.50.0.0/16")));
    assertThat(rules(r.render(s), "cluster-ips-check"))
        .contains(
            "ip daddr { 172.30.0.0/16,172.50.0.0/16 } drop comment \"Drop traffic to unallocated"
                + " ClusterIPs\"");
  }

  @Test
  void base_nodePortAddressesMatchAll_usesFibAndNoNodePortSet() {
    ProxyConfig cfg = upstreamTestConfig().withNodePortAddresses(List.of(Cidr.parse("0.0.0.0/0")));
    NftRuleset rs = render(cfg, NftablesOptions.defaults(), ProxyState.empty());
    assertThat(rules(rs, "services"))
        .containsExactly(
            "ip daddr . meta l4proto . th dport vmap @service-ips",
            "fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap"
                + " @service-nodeports");
    assertThat(rules(rs, "nodeport-endpoints-check"))
        .containsExactly(
            "ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @no-endpoint-nodeports");
    assertThat(rs.all().sets().stream().map(NftSet::name)).doesNotContain("nodeport-ips");
    assertThat(elements(rs, "nodeport-ips")).isEmpty();
  }

  @Test
  void base_noNodePortAddresses_primaryNodeIpOnly() {
    ProxyConfig cfg = upstreamTestConfig().withNodePortAddresses(List.of());
    NftRuleset rs = render(cfg, NftablesOptions.defaults(), ProxyState.empty());
    assertThat(elements(rs, "nodeport-ips")).containsExactly("192.168.0.2");
    assertThat(rules(rs, "services"))
        .contains("ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports");
  }

  @Test
  void base_noNodePortAddressesWithoutPrimaryDefault_matchesAll() {
    ProxyConfig cfg = upstreamTestConfig().withNodePortAddresses(List.of());
    NftRuleset rs = render(cfg, new NftablesOptions(false), ProxyState.empty());
    assertThat(rules(rs, "services").get(1)).startsWith("fib daddr type local");
    assertThat(elements(rs, "nodeport-ips")).isEmpty();
  }

  @Test
  void base_multipleNodePortAddresses_everyMatchingNodeIpButLoopback() {
    // TestNodePorts "ipv4, multiple nodeport-addresses", plus a loopback CIDR upstream refuses.
    ProxyConfig cfg =
        upstreamTestConfig()
            .withNodePortAddresses(
                List.of(
                    Cidr.parse("192.168.0.0/24"),
                    Cidr.parse("192.168.1.0/24"),
                    Cidr.parse("2001:db8::/64"),
                    Cidr.parse("127.0.0.0/8")));
    NftRuleset rs = render(cfg, NftablesOptions.defaults(), ProxyState.empty());
    assertThat(elements(rs, "nodeport-ips")).containsExactly("192.168.0.2", "192.168.1.2");
  }

  @Test
  void base_masqueradeBit12_markIs0x1000() {
    ProxyConfig c = upstreamTestConfig();
    ProxyConfig cfg =
        new ProxyConfig(
            c.nodeName(),
            c.nodeIP(),
            c.nodeIPs(),
            c.zone(),
            c.localDetector(),
            12,
            false,
            c.nodePortAddresses());
    NftRuleset rs = render(cfg, NftablesOptions.defaults(), ProxyState.empty());
    assertThat(rules(rs, "mark-for-masquerade")).containsExactly("mark set mark or 0x1000");
    assertThat(rules(rs, "masquerading"))
        .containsExactly(
            "mark and 0x1000 == 0 return", "mark set mark xor 0x1000", "masquerade fully-random");
  }

  @Test
  void render_loadBalancerSourceRangesHoldingNodeIp_admitsLbIpSources() {
    NftRuleset rs =
        render(upstreamTestConfig(), LOAD_BALANCER + slice("ns1", "svc1", "p80", 80, "10.180.0.1"));
    assertThat(rules(rs, "firewall-" + SVC1))
        .containsExactly(
            "ip saddr != { 192.168.0.0/24 , 203.0.113.0/25 , 1.2.3.4 , 5.6.7.8 } drop");
    assertThat(elements(rs, "firewall-ips"))
        .containsExactly(
            "1.2.3.4 . tcp . 80 : goto firewall-" + SVC1,
            "5.6.7.8 . tcp . 80 : goto firewall-" + SVC1);
  }

  @Test
  void render_noEndpointsWithSourceRanges_rejectsAndKeepsFirewall() {
    // TestNoEndpointsReject: REJECT everywhere; nftables' firewall does not depend on endpoints.
    NftRuleset rs = render(upstreamTestConfig(), LOAD_BALANCER);
    assertThat(chainNames(rs)).contains("firewall-" + SVC1);
    assertThat(chainNames(rs)).noneMatch(n -> n.startsWith("service-") && n.contains("/"));
    assertThat(chainNames(rs)).noneMatch(n -> n.startsWith("external-"));
    assertThat(elements(rs, "no-endpoint-services"))
        .containsExactly(
            "1.2.3.4 . tcp . 80 comment \"ns1/svc1:p80\" : goto reject-chain",
            "172.30.0.41 . tcp . 80 comment \"ns1/svc1:p80\" : goto reject-chain",
            "5.6.7.8 . tcp . 80 comment \"ns1/svc1:p80\" : goto reject-chain");
    assertThat(elements(rs, "no-endpoint-nodeports"))
        .containsExactly("tcp . 3001 comment \"ns1/svc1:p80\" : goto reject-chain");
    assertThat(elements(rs, "service-ips")).isEmpty();
    assertThat(elements(rs, "service-nodeports")).isEmpty();
    assertThat(elements(rs, "firewall-ips")).hasSize(2);
  }

  @Test
  void render_externalPolicyLocalWithLocalEndpoint_goesToLocalChain() {
    NftRuleset rs = render(upstreamTestConfig(), ETP_LOCAL);
    String local = "local-" + SVC1;
    assertThat(rules(rs, "external-" + SVC1))
        .containsExactly(
            "ip saddr 10.0.0.0/8 goto service-" + SVC1 + " comment \"short-circuit pod traffic\"",
            "fib saddr type local jump mark-for-masquerade comment \"masquerade local traffic\"",
            "fib saddr type local goto service-"
                + SVC1
                + " comment \"short-circuit local traffic\"",
            "goto " + local);
    List<String> localRules = rules(rs, local);
    assertThat(localRules).hasSize(1);
    assertThat(localRules.getFirst())
        .matches(
            "numgen random mod 1 vmap \\{ 0 : goto endpoint-\\w{8}-ns1/svc1/tcp/p80__10\\.180\\.2\\.1/80 \\}");
    assertThat(rules(rs, "service-" + SVC1).get(1)).startsWith("numgen random mod 2 vmap");
    assertThat(elements(rs, "no-endpoint-services")).isEmpty();
    assertThat(elements(rs, "no-endpoint-nodeports")).isEmpty();
  }

  @Test
  void render_noLocalTrafficDetector_noClusterIpMasqueradeNorPodShortCircuit() {
    ProxyConfig cfg = withDetector(upstreamTestConfig(), LocalTrafficDetector.none());
    NftRuleset rs = render(cfg, ETP_LOCAL);
    assertThat(rules(rs, "service-" + SVC1)).noneMatch(r -> r.contains("mark-for-masquerade"));
    assertThat(rules(rs, "external-" + SVC1))
        .noneMatch(r -> r.contains("short-circuit pod traffic"))
        .hasSize(3);
  }

  @Test
  void render_masqueradeAll_masqueradesEveryClusterIpConnection() {
    ProxyConfig cfg = upstreamTestConfig().withMasqueradeAll(true);
    NftRuleset rs =
        render(
            cfg,
            clusterIp("ns1", "svc1", "172.30.0.41", "p80", 80)
                + slice("ns1", "svc1", "p80", 80, "10.180.0.1"));
    assertThat(rules(rs, "service-" + SVC1).getFirst())
        .isEqualTo("ip daddr 172.30.0.41 jump mark-for-masquerade");
  }

  /** localdetector.go with kubernetes#134024 (interface names, not indexes). */
  @Test
  void render_bridgeAndPrefixDetectors_matchInputInterfaceName() {
    String yaml = ETP_LOCAL;
    NftRuleset bridge =
        render(
            withDetector(
                upstreamTestConfig(),
                new LocalTrafficDetector(LocalTrafficDetector.Mode.BRIDGE_INTERFACE, "cni0")),
            yaml);
    assertThat(rules(bridge, "service-" + SVC1).getFirst())
        .isEqualTo("ip daddr 172.30.0.41 iifname != cni0 jump mark-for-masquerade");
    assertThat(rules(bridge, "external-" + SVC1).getFirst())
        .startsWith("iifname cni0 goto service-" + SVC1);
    NftRuleset prefix =
        render(
            withDetector(
                upstreamTestConfig(),
                new LocalTrafficDetector(LocalTrafficDetector.Mode.INTERFACE_NAME_PREFIX, "veth")),
            yaml);
    assertThat(rules(prefix, "service-" + SVC1).getFirst())
        .isEqualTo("ip daddr 172.30.0.41 iifname != veth* jump mark-for-masquerade");
  }

  @Test
  void render_internalPolicyLocalWithoutLocalEndpoints_dropsClusterIp() {
    // TestInternalTrafficPolicy "no local endpoints": DROP, and no chains at all.
    String yaml =
        """
        apiVersion: v1
        kind: Service
        metadata: {namespace: ns1, name: svc1}
        spec:
          clusterIP: 172.30.1.1
          internalTrafficPolicy: Local
          ports: [{name: "", port: 80, protocol: TCP}]
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {namespace: ns1, name: svc1-1, labels: {kubernetes.io/service-name: svc1}}
        addressType: IPv4
        endpoints:
        - {addresses: [10.0.1.1], nodeName: node0}
        - {addresses: [10.0.1.2], nodeName: node1}
        ports: [{name: "", port: 80, protocol: TCP}]
        ---
        """;
    NftRuleset rs = render(upstreamTestConfig(), yaml);
    assertThat(chainNames(rs)).noneMatch(NftChainNames::isServiceChain);
    assertThat(elements(rs, "no-endpoint-services"))
        .containsExactly("172.30.1.1 . tcp . 80 comment \"ns1/svc1\" : drop");
    assertThat(elements(rs, "cluster-ips")).containsExactly("172.30.1.1");
  }

  @Test
  void render_internalPolicyLocalWithLocalEndpoint_clusterIpToLocalChain() {
    String yaml =
        """
        apiVersion: v1
        kind: Service
        metadata: {namespace: ns1, name: svc1}
        spec:
          clusterIP: 172.30.1.1
          internalTrafficPolicy: Local
          ports: [{name: "", port: 80, protocol: TCP}]
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {namespace: ns1, name: svc1-1, labels: {kubernetes.io/service-name: svc1}}
        addressType: IPv4
        endpoints:
        - {addresses: [10.0.1.1], nodeName: test-node}
        - {addresses: [10.0.1.2], nodeName: node1}
        ports: [{name: "", port: 80, protocol: TCP}]
        ---
        """;
    NftRuleset rs = render(upstreamTestConfig(), yaml);
    String local =
        "local-"
            + NftChainNames.servicePortBase(
                new ServicePortName("ns1", "svc1", "", dev.svcproxy.model.Protocol.TCP), "tcp");
    assertThat(elements(rs, "service-ips"))
        .containsExactly("172.30.1.1 . tcp . 80 : goto " + local);
    assertThat(rules(rs, local).getFirst())
        .isEqualTo("ip daddr 172.30.1.1 ip saddr != 10.0.0.0/8 jump mark-for-masquerade");
    assertThat(rules(rs, local).get(1)).startsWith("numgen random mod 1 vmap");
    assertThat(chainNames(rs)).noneMatch(n -> n.startsWith("service-") && n.contains("/"));
    // Only the local endpoint is reachable from this node: the remote one has no chain.
    assertThat(chainNames(rs).stream().filter(n -> n.startsWith("endpoint-")))
        .singleElement()
        .asString()
        .endsWith("__10.0.1.1/80");
  }

  @Test
  void render_onlyTerminatingEndpoints_fallBackPerPolicy() {
    // TestTerminatingEndpointsTrafficPolicyLocal "only terminating endpoints exist": cluster
    // traffic goes to the ready remote 10.0.1.5, external traffic to the serving-terminating
    // local 10.0.1.2 and 10.0.1.3.
    String yaml =
        """
        apiVersion: v1
        kind: Service
        metadata: {namespace: ns1, name: svc1}
        spec:
          type: LoadBalancer
          externalTrafficPolicy: Local
          clusterIP: 172.30.1.1
          ports: [{name: "", port: 80, protocol: TCP, targetPort: 80}]
          healthCheckNodePort: 30000
        status:
          loadBalancer: {ingress: [{ip: 1.2.3.4}]}
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {namespace: ns1, name: svc1-1, labels: {kubernetes.io/service-name: svc1}}
        addressType: IPv4
        endpoints:
        - addresses: [10.0.1.2]
          conditions: {ready: false, serving: true, terminating: true}
          nodeName: test-node
        - addresses: [10.0.1.3]
          conditions: {ready: false, serving: true, terminating: true}
          nodeName: test-node
        - addresses: [10.0.1.4]
          conditions: {ready: false, serving: false, terminating: true}
          nodeName: test-node
        - addresses: [10.0.1.5]
          conditions: {ready: true, serving: true, terminating: false}
          nodeName: node-1
        ports: [{name: "", port: 80, protocol: TCP}]
        ---
        """;
    NftRuleset rs = render(upstreamTestConfig(), yaml);
    String base =
        NftChainNames.servicePortBase(
            new ServicePortName("ns1", "svc1", "", dev.svcproxy.model.Protocol.TCP), "tcp");
    assertThat(String.join("\n", rules(rs, "service-" + base)))
        .contains("numgen random mod 1 vmap { 0 : goto endpoint-")
        .contains("__10.0.1.5/80 }");
    String localLb = String.join("\n", rules(rs, "local-" + base));
    assertThat(localLb)
        .contains("numgen random mod 2 vmap")
        .contains("10.0.1.2/80")
        .contains("10.0.1.3/80");
    assertThat(chainNames(rs)).noneMatch(n -> n.contains("10.0.1.4"));
  }

  @Test
  void render_zoneHintsForThisZone_clusterChainUsesOnlyHintedEndpoints() {
    // CategorizeEndpoints' PreferSameZone: every endpoint hinted and one for this node's zone.
    ProxyConfig c = upstreamTestConfig();
    ProxyConfig cfg =
        new ProxyConfig(
            c.nodeName(),
            c.nodeIP(),
            c.nodeIPs(),
            "zone-a",
            c.localDetector(),
            14,
            false,
            c.nodePortAddresses());
    String yaml =
        clusterIp("ns1", "svc1", "172.30.0.41", "p80", 80)
            + """
            apiVersion: discovery.k8s.io/v1
            kind: EndpointSlice
            metadata: {namespace: ns1, name: svc1-1, labels: {kubernetes.io/service-name: svc1}}
            addressType: IPv4
            endpoints:
            - {addresses: [10.180.0.1], zone: zone-a, hints: {forZones: [{name: zone-a}]}}
            - {addresses: [10.180.0.2], zone: zone-b, hints: {forZones: [{name: zone-b}]}}
            ports: [{name: p80, port: 80, protocol: TCP}]
            ---
            """;
    NftRuleset rs = render(cfg, yaml);
    assertThat(rules(rs, "service-" + SVC1).get(1))
        .isEqualTo(
            "numgen random mod 1 vmap { 0 : goto endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 }");
    assertThat(chainNames(rs)).noneMatch(n -> n.contains("10.180.0.2"));
  }

  @Test
  void render_affinityTimeout_setTimeoutInSeconds() {
    String yaml =
        """
        apiVersion: v1
        kind: Service
        metadata: {namespace: ns1, name: svc1}
        spec:
          clusterIP: 172.30.0.41
          ports: [{name: p80, port: 80, protocol: TCP}]
          sessionAffinity: ClientIP
          sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}
        ---
        """
            + slice("ns1", "svc1", "p80", 80, "10.180.0.1", "10.180.0.2");
    NftRuleset rs = render(upstreamTestConfig(), yaml);
    List<NftSet> sets =
        rs.all().sets().stream().filter(s -> s.name().startsWith("affinity-")).toList();
    assertThat(sets).hasSize(2);
    assertThat(sets)
        .allSatisfy(
            s -> {
              assertThat(s.timeout()).isEqualTo("60s");
              assertThat(s.flags()).containsExactly("dynamic", "timeout");
              assertThat(s.type()).isEqualTo("ipv4_addr");
            });
    assertThat(rules(rs, "service-" + SVC1))
        .filteredOn(r -> r.startsWith("ip saddr @affinity-"))
        .hasSize(2);
  }

  @Test
  void fullSyncTransaction_twoPortsOneClusterIp_declaresBeforeUseAndElementOnce() {
    String yaml =
        """
        apiVersion: v1
        kind: Service
        metadata: {namespace: ns1, name: svc1}
        spec:
          clusterIP: 172.30.0.41
          ports: [{name: a, port: 80, protocol: TCP}, {name: b, port: 53, protocol: UDP}]
        ---
        """;
    NftRuleset rs = render(upstreamTestConfig(), yaml);
    List<String> lines = NftablesRenderer.fullSyncTransaction(rs).lines();
    assertThat(lines.getFirst())
        .isEqualTo("add table ip kube-proxy { comment \"rules for kube-proxy\" ; }");
    assertThat(
            lines.stream()
                .filter(l -> l.equals("add element ip kube-proxy cluster-ips { 172.30.0.41 }")))
        .hasSize(1);
    int lastSet = -1;
    int firstChain = Integer.MAX_VALUE;
    int lastChain = -1;
    int firstRule = Integer.MAX_VALUE;
    int lastRule = -1;
    int firstElement = Integer.MAX_VALUE;
    for (int i = 0; i < lines.size(); i++) {
      String kind = lines.get(i).split(" ")[1];
      switch (kind) {
        case "set", "map" -> lastSet = i;
        case "chain" -> {
          firstChain = Math.min(firstChain, i);
          lastChain = i;
        }
        case "rule" -> {
          firstRule = Math.min(firstRule, i);
          lastRule = i;
        }
        case "element" -> firstElement = Math.min(firstElement, i);
        default -> {}
      }
    }
    assertThat(lastSet).isLessThan(firstChain);
    assertThat(lastChain).isLessThan(firstRule);
    assertThat(lastRule).isLessThan(firstElement);
    assertThat(
            rs.services().values().stream()
                .flatMap(o -> o.elements().stream())
                .filter(e -> e.set().equals("cluster-ips"))
                .collect(Collectors.toList()))
        .hasSize(2);
  }

  @Test
  void base_rulesOfBaseChains_allComeWithTheirChain() {
    NftRuleset rs = NftablesRendererUpstreamTest.upstreamTestRenderer().render(ProxyState.empty());
    for (NftChain c : rs.base().chains()) {
      for (NftRule r : c.rules()) {
        assertThat(r.chain()).isEqualTo(c.name());
      }
    }
    assertThat(rs.services()).isEmpty();
  }
}
