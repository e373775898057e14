package dev.svcproxy.render.ipvs;

import static dev.svcproxy.render.ipvs.IpvsTestSupport.members;
import static dev.svcproxy.render.ipvs.IpvsTestSupport.reals;
import static dev.svcproxy.render.ipvs.IpvsTestSupport.render;
import static dev.svcproxy.render.ipvs.IpvsTestSupport.ruleLines;
import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.KernelCapabilities;
import dev.svcproxy.model.Cidr;
import dev.svcproxy.model.LocalTrafficDetector;
import dev.svcproxy.model.LocalTrafficDetector.Mode;
import dev.svcproxy.model.ProxyConfig;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.testutil.States;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Behaviour of upstream's proxier.go that its proxier_test.go does not pin down, each expectation
 * written from the upstream code path named in the test.
 */
class IpvsRendererTest {

  private static final String CLUSTER_IP_SERVICE =
      """
      apiVersion: v1
      kind: Service
      metadata: {namespace: ns1, name: svc1}
      spec: {clusterIP: 10.96.0.10, ports: [{name: p, port: 53, protocol: UDP}]}
      ---
      """;

  private static final String CLUSTER_IP_COMMENT =
      "-A KUBE-SERVICES -m comment --comment \"Kubernetes service cluster ip + port for masquerade"
          + " purpose\" -m set --match-set KUBE-CLUSTER-IP ";

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {
        // masquerade-all | detector mode | value | the rule after "--match-set KUBE-CLUSTER-IP "
        "true  | CLUSTER_CIDR          | 10.244.0.0/16 | dst,dst -j KUBE-MARK-MASQ",
        "false | CLUSTER_CIDR          | 10.244.0.0/16 | dst,dst ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ",
        "false | NODE_CIDR             | 10.244.1.0/24 | dst,dst ! -s 10.244.1.0/24 -j KUBE-MARK-MASQ",
        "false | BRIDGE_INTERFACE      | cbr0          | dst,dst ! -i cbr0 -j KUBE-MARK-MASQ",
        "false | INTERFACE_NAME_PREFIX | veth          | dst,dst ! -i veth+ -j KUBE-MARK-MASQ",
        "false | CLUSTER_CIDR          |               | src,dst -j KUBE-MARK-MASQ"
      })
  void clusterIpMasquerade_threeVariants_asWriteIptablesRules(
      boolean all, Mode mode, String value, String tail) {
    // writeIptablesRules: masqueradeAll -> "dst,dst"; localDetector.IsImplemented() ->
    // "dst,dst" + IfNotLocal(); otherwise "src,dst" (PR #63319, the node picking a VIP as source).
    ProxyConfig cfg =
        ProxyConfig.defaults("n", "", new LocalTrafficDetector(mode, value)).withMasqueradeAll(all);
    IpvsState s = render(CLUSTER_IP_SERVICE, cfg, List.of());
    assertThat(ruleLines(s)).contains(CLUSTER_IP_COMMENT + tail);
    assertThat(ruleLines(s).stream().filter(l -> l.startsWith(CLUSTER_IP_COMMENT))).hasSize(1);
  }

  @Test
  void setRules_noServices_onlyTheUnconditionalRules() {
    // writeIptablesRules: rules matching a set are written only when it is non-empty, except the
    // KUBE-NODE-PORT health-check ACCEPT and the KUBE-IPVS-FILTER rules, always written.
    IpvsState s = render("", List.of());
    assertThat(ruleLines(s))
        .containsExactly(
            "-A KUBE-SERVICES -s 127.0.0.0/8 -j RETURN",
            "-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT",
            "-A KUBE-LOAD-BALANCER -j KUBE-MARK-MASQ",
            "-A KUBE-POSTROUTING -m mark ! --mark 0x004000/0x004000 -j RETURN",
            "-A KUBE-POSTROUTING -j MARK --xor-mark 0x004000",
            "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring"
                + " SNAT\" -j MASQUERADE",
            "-A KUBE-MARK-MASQ -j MARK --or-mark 0x004000",
            "-A KUBE-SOURCE-RANGES-FIREWALL -j DROP",
            "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding rules\" -m mark --mark"
                + " 0x004000/0x004000 -j ACCEPT",
            "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding conntrack rule\" -m"
                + " conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
            "-A KUBE-NODE-PORT -m comment --comment \"Kubernetes health check node port\" -m set"
                + " --match-set KUBE-HEALTH-CHECK-NODE-PORT dst -j ACCEPT",
            "-A KUBE-IPVS-FILTER -m set --match-set KUBE-LOAD-BALANCER dst,dst -j RETURN",
            "-A KUBE-IPVS-FILTER -m set --match-set KUBE-CLUSTER-IP dst,dst -j RETURN",
            "-A KUBE-IPVS-FILTER -m set --match-set KUBE-EXTERNAL-IP dst,dst -j RETURN",
            "-A KUBE-IPVS-FILTER -m set --match-set KUBE-EXTERNAL-IP-LOCAL dst,dst -j RETURN",
            "-A KUBE-IPVS-FILTER -m set --match-set KUBE-HEALTH-CHECK-NODE-PORT dst -j RETURN",
            "-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst"
                + " -j REJECT");
    assertThat(s.ipsets()).extracting(x -> x.name()).hasSize(17);
    assertThat(s.ipsets()).allMatch(x -> x.entries().isEmpty());
  }

  private static final String ETP_LOCAL_REMOTE_ONLY =
      """
      apiVersion: v1
      kind: Service
      metadata: {namespace: ns1, name: svc1}
      spec: {type: NodePort, externalTrafficPolicy: Local, clusterIP: 10.96.0.20,
             ports: [{name: p, port: 80, protocol: TCP, nodePort: 30080}]}
      ---
      apiVersion: discovery.k8s.io/v1
      kind: EndpointSlice
      metadata: {namespace: ns1, name: svc1-1, labels: {kubernetes.io/service-name: svc1}}
      addressType: IPv4
      endpoints: [{addresses: [10.180.1.1], nodeName: other-node}]
      ports: [{name: p, port: 8080, protocol: TCP}]
      ---
      """;

  @Test
  void localPolicyWithoutLocalEndpoint_nodePortServer_fallsBackToClusterEndpoints() {
    // syncEndpoint, PR #97081: onlyNodeLocalEndpoints with no local endpoint uses
    // clusterEndpoints ("Allow access from local PODs even if no local endpoints exist").
    IpvsState s = render(ETP_LOCAL_REMOTE_ONLY, List.of("192.168.0.2"));
    assertThat(reals(s, "TCP", "192.168.0.2", 30080)).containsExactly("10.180.1.1:8080");
    assertThat(members(s, "KUBE-NODE-PORT-LOCAL-TCP")).containsExactly("30080");
  }

  @Test
  void nodePortWithoutNodeAddresses_noNodePortServersAndNoHealthCheckEntry() {
    // syncProxyRules: "if len(nodeIPs) == 0 { continue }" skips the rest of the port, its
    // health-check nodePort included.
    String yaml =
        """
        apiVersion: v1
        kind: Service
        metadata: {namespace: ns1, name: svc1}
        spec: {type: LoadBalancer, externalTrafficPolicy: Local, clusterIP: 10.96.0.20,
               healthCheckNodePort: 32000,
               ports: [{name: p, port: 80, protocol: TCP, nodePort: 30080}]}
        ---
        """;
    IpvsState none = render(yaml, List.of());
    assertThat(members(none, "KUBE-NODE-PORT-TCP")).isEmpty();
    assertThat(members(none, "KUBE-HEALTH-CHECK-NODE-PORT")).isEmpty();
    IpvsState some = render(yaml, List.of("192.168.0.2"));
    assertThat(members(some, "KUBE-HEALTH-CHECK-NODE-PORT")).containsExactly("32000");
  }

  @Test
  void nodePortAddresses_loopbackAndOtherCidrs_onlyMatchingNonLoopbackAddresses() {
    // With --nodeport-addresses: GetNodeIPs over the interfaces, "if !ip.IsLoopback()".
    ProxyConfig cfg =
        IpvsTestSupport.fakeConfig()
            .withNodePortAddresses(List.of(Cidr.parse("127.0.0.0/8"), Cidr.parse("10.0.0.0/8")));
    IpvsState s =
        render(ETP_LOCAL_REMOTE_ONLY, cfg, List.of("127.0.0.1", "10.1.2.3", "192.168.0.2"));
    assertThat(s.services().services())
        .extracting(x -> x.server().key())
        .containsExactly("TCP 10.96.0.20:80", "TCP 10.1.2.3:30080");
  }

  @Test
  void externalIpOnANodeInterface_notBoundToTheDummy() {
    // syncProxyRules: shouldBind := !nodeAddressSet.Has(serv.Address.String()).
    String yaml =
        """
        apiVersion: v1
        kind: Service
        metadata: {namespace: ns1, name: svc1}
        spec: {clusterIP: 10.96.0.30, externalIPs: [192.168.0.2, 203.0.113.9],
               ports: [{name: p, port: 80, protocol: TCP}]}
        ---
        """;
    IpvsState s = render(yaml, List.of("192.168.0.2"));
    assertThat(s.dummyAddresses()).containsExactly("10.96.0.30", "203.0.113.9");
    assertThat(members(s, "KUBE-IPVS-IPS")).containsExactly("10.96.0.30", "203.0.113.9");
    assertThat(IpvsTestSupport.vs(s, "TCP", "192.168.0.2", 80)).isPresent();
  }

  @Test
  void mhScheduler_everyServer_sourceHashFlag() {
    // "if proxier.ipvsScheduler == \"mh\" { serv.Flags |= utilipvs.FlagSourceHash }" (0x10,
    // IP_VS_SVC_F_SCHED2, which ipvsadm names mh-port for mh).
    IpvsState s =
        new IpvsRenderer(
                IpvsTestSupport.fakeConfig(),
                new IpvsOptions("mh", List.of(), false, 0, 0, 0),
                KernelCapabilities.none(),
                "6.1")
            .render(States.fromYaml(CLUSTER_IP_SERVICE), List.of());
    assertThat(s.services().services())
        .allSatisfy(
            x -> {
              assertThat(x.server().scheduler()).isEqualTo("mh");
              assertThat(x.server().schedulerFlags()).containsExactly("mh-port");
            });
  }

  @ParameterizedTest
  @CsvSource({
    "4.0.9, false",
    "4.1.0, true",
    "5.8.18-100.fc31.x86_64, true",
    "5.9.0, false",
    "6.1.0-18-amd64, false",
    "'', false"
  })
  void sysctls_kernelVersion_connReuseModeOnlyFrom41To58(String kernel, boolean reuse) {
    // NewProxier: below IPVSConnReuseModeMinSupportedKernelVersion (4.1) an error is logged and
    // it is not set; from IPVSConnReuseModeFixedKernelVersion (5.9) it is left as-is.
    List<IpvsState.Sysctl> s = IpvsRenderer.sysctls(IpvsOptions.defaults(), kernel);
    assertThat(s.contains(new IpvsState.Sysctl("net/ipv4/vs/conn_reuse_mode", "0")))
        .isEqualTo(reuse);
    assertThat(s)
        .contains(
            new IpvsState.Sysctl("net/ipv4/vs/conntrack", "1"),
            new IpvsState.Sysctl("net/ipv4/vs/expire_nodest_conn", "1"),
            new IpvsState.Sysctl("net/ipv4/vs/expire_quiescent_template", "1"),
            new IpvsState.Sysctl("net/ipv4/ip_forward", "1"))
        .doesNotContain(new IpvsState.Sysctl("net/ipv4/conf/all/arp_ignore", "1"));
  }

  @Test
  void sysctls_strictArp_arpIgnoreAndAnnounce() {
    List<IpvsState.Sysctl> s =
        IpvsRenderer.sysctls(new IpvsOptions("rr", List.of(), true, 0, 0, 0), "6.1");
    assertThat(s.subList(s.size() - 2, s.size()))
        .containsExactly(
            new IpvsState.Sysctl("net/ipv4/conf/all/arp_ignore", "1"),
            new IpvsState.Sysctl("net/ipv4/conf/all/arp_announce", "2"));
  }

  @CsvSource({"14, 0x004000", "0, 0x000001", "31, 0x80000000", "4, 0x000010"})
  @ParameterizedTest
  void masqueradeMark_bit_goPercentHash08x(int bit, String mark) {
    // fmt.Sprintf("%#08x", 1<<bit): the width counts the 0x prefix.
    assertThat(IpvsRenderer.masqueradeMark(bit)).isEqualTo(mark);
  }

  @Test
  void jumps_upstreamTable_inEnsureOrder() {
    // iptablesJumpChain.
    assertThat(IpvsRenderer.JUMPS.stream().map(IpvsText::jump))
        .containsExactly(
            "-t nat -I OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
            "-t nat -I PREROUTING -m comment --comment \"kubernetes service portals\" -j"
                + " KUBE-SERVICES",
            "-t nat -I POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j"
                + " KUBE-POSTROUTING",
            "-t filter -I FORWARD -m comment --comment \"kubernetes forwarding rules\" -j"
                + " KUBE-FORWARD",
            "-t filter -I INPUT -m comment --comment \"kubernetes health check rules\" -j"
                + " KUBE-NODE-PORT",
            "-t filter -I INPUT -m comment --comment \"kube-proxy firewall rules\" -j"
                + " KUBE-PROXY-FIREWALL",
            "-t filter -I FORWARD -m comment --comment \"kube-proxy firewall rules\" -j"
                + " KUBE-PROXY-FIREWALL",
            "-t filter -I INPUT -m comment --comment \"kubernetes ipvs access filter\" -j"
                + " KUBE-IPVS-FILTER",
            "-t filter -I OUTPUT -m comment --comment \"kubernetes ipvs access filter\" -j"
                + " KUBE-IPVS-OUT-FILTER");
  }

  @Test
  void render_emptyState_pureAndRepeatable() {
    IpvsRenderer r =
        new IpvsRenderer(
            IpvsTestSupport.fakeConfig(), IpvsOptions.defaults(), KernelCapabilities.none(), "");
    assertThat(r.render(ProxyState.empty(), List.of()))
        .isEqualTo(r.render(ProxyState.empty(), List.of()));
  }
}
