package dev.svcproxy.render.ipvs;

import static dev.svcproxy.render.ipvs.IpvsTestSupport.chain;
import static dev.svcproxy.render.ipvs.IpvsTestSupport.members;
import static dev.svcproxy.render.ipvs.IpvsTestSupport.reals;
import static dev.svcproxy.render.ipvs.IpvsTestSupport.render;
import static dev.svcproxy.render.ipvs.IpvsTestSupport.vs;
import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.ipvs.IpvsService;
import dev.svcproxy.kernel.KernelCapabilities;
import dev.svcproxy.model.Cidr;
import dev.svcproxy.plan.ServicePlanner;
import dev.svcproxy.testutil.States;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Upstream's pkg/proxy/ipvs/proxier_test.go (kubernetes master, late 2025), case by case: the same
 * Services and EndpointSlices (as manifests), the same node addresses, and the virtual servers,
 * real servers, ipset entries and iptables rules (jump target and matched set, nat then filter, as
 * checkIptables reads them) those tests assert. Each test names the upstream function.
 *
 * <p>Upstream's fake proxier has no node IP, the NoOp local detector (so the KUBE-CLUSTER-IP rule
 * is the "src,dst" variant) and NodePorts on every local address; IpvsTestSupport.fakeConfig() is
 * that.
 */
class UpstreamIpvsProxierTest {

  private static String svc(String ns, String name, String spec) {
    return "apiVersion: v1\nkind: Service\nmetadata: {namespace: "
        + ns
        + ", name: "
        + name
        + "}\n"
        + spec
        + "\n---\n";
  }

  private static String slice(String ns, String svc, String body) {
    return "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {namespace: "
        + ns
        + ", name: "
        + svc
        + "-1, labels: {kubernetes.io/service-name: "
        + svc
        + "}}\naddressType: IPv4\n"
        + body
        + "\n---\n";
  }

  // --- TestNodePortIPv4 -------------------------------------------------------------------

  @Test
  void nodePortIPv4_oneServiceTwoEndpoints_clusterIpAndNodeIpServers() {
    // TestNodePortIPv4 "1 service with node port, has 2 endpoints": the IPv6 slice and node IP
    // are ignored by the IPv4 proxier.
    String yaml =
        svc(
                "ns1",
                "svc1",
                "spec: {type: NodePort, clusterIP: 10.20.30.41, ports: [{name: p80, port: 80,"
                    + " protocol: TCP, nodePort: 3001}]}")
            + slice(
                "ns1",
                "svc1",
                "endpoints: [{addresses: [10.180.0.1]}]\nports: [{name: p80, port: 80, protocol:"
                    + " TCP}]");
    IpvsState s = render(yaml, List.of("100.101.102.103", "2001:db8::1:1"));
    assertThat(s.services().services())
        .extracting(x -> x.server().key())
        .containsExactlyInAnyOrder("TCP 10.20.30.41:80", "TCP 100.101.102.103:3001");
    assertThat(s.services().services()).allMatch(x -> x.server().scheduler().equals("rr"));
    assertThat(reals(s, "TCP", "10.20.30.41", 80)).containsExactly("10.180.0.1:80");
    assertThat(reals(s, "TCP", "100.101.102.103", 3001)).containsExactly("10.180.0.1:80");
    assertThat(s.services().services())
        .flatExtracting(IpvsService::reals)
        .allMatch(r -> r.weight() == 1);
  }

  @Test
  void nodePortIPv4_udpService_bitmapEntryAndNodePortChain() {
    // TestNodePortIPv4 "1 UDP service with node port, has endpoints", nodePortAddresses 0.0.0.0/0.
    String yaml =
        svc(
                "ns1",
                "svc1",
                "spec: {type: NodePort, clusterIP: 10.20.30.41, ports: [{name: p80, port: 80,"
                    + " protocol: UDP, nodePort: 3001}]}")
            + slice(
                "ns1",
                "svc1",
                "endpoints: [{addresses: [10.180.0.1]}]\nports: [{name: p80, port: 80, protocol:"
                    + " UDP}]");
    IpvsState s =
        render(
            yaml,
            IpvsTestSupport.fakeConfig().withNodePortAddresses(List.of(Cidr.parse("0.0.0.0/0"))),
            List.of("100.101.102.103"));
    assertThat(s.services().services())
        .extracting(x -> x.server().key())
        .containsExactlyInAnyOrder("UDP 10.20.30.41:80", "UDP 100.101.102.103:3001");
    assertThat(reals(s, "UDP", "10.20.30.41", 80)).containsExactly("10.180.0.1:80");
    assertThat(reals(s, "UDP", "100.101.102.103", 3001)).containsExactly("10.180.0.1:80");
    assertThat(members(s, "KUBE-NODE-PORT-UDP")).containsExactly("3001");
    assertThat(chain(s, "KUBE-NODE-PORT"))
        .containsExactly("KUBE-MARK-MASQ KUBE-NODE-PORT-UDP", "ACCEPT KUBE-HEALTH-CHECK-NODE-PORT");
    assertThat(chain(s, "KUBE-SERVICES"))
        .containsExactly(
            "RETURN", "KUBE-MARK-MASQ KUBE-CLUSTER-IP", "KUBE-NODE-PORT", "ACCEPT KUBE-CLUSTER-IP");
    assertThat(s.iptables().table("nat").orElseThrow().rules("KUBE-SERVICES").get(0).print())
        .isEqualTo("-A KUBE-SERVICES -s 127.0.0.0/8 -j RETURN");
  }

  @Test
  void nodePortIPv4_noEndpoints_serversWithoutRealServers() {
    // TestNodePortIPv4 "service has node port but no endpoints".
    String yaml =
        svc(
            "ns1",
            "svc1",
            "spec: {type: NodePort, clusterIP: 10.20.30.41, ports: [{name: p80, port: 80,"
                + " protocol: TCP, nodePort: 3001}]}");
    IpvsState s = render(yaml, List.of("100.101.102.103"));
    assertThat(s.services().services())
        .extracting(x -> x.server().key())
        .containsExactlyInAnyOrder("TCP 10.20.30.41:80", "TCP 100.101.102.103:3001");
    assertThat(reals(s, "TCP", "10.20.30.41", 80)).isEmpty();
    assertThat(reals(s, "TCP", "100.101.102.103", 3001)).isEmpty();
  }

  @Test
  void nodePortIPv4_sctpOnThreeNodeIps_oneServerAndHashEntryPerNodeIp() {
    // TestNodePortIPv4 "node port service with protocol sctp on a node with multiple nodeIPs".
    String yaml =
        svc(
                "ns1",
                "svc1",
                "spec: {type: NodePort, clusterIP: 10.20.30.41, ports: [{name: p80, port: 80,"
                    + " protocol: SCTP, nodePort: 3001}]}")
            + slice(
                "ns1",
                "svc1",
                "endpoints: [{addresses: [10.180.0.1]}]\nports: [{name: p80, port: 80, protocol:"
                    + " SCTP}]");
    IpvsState s =
        render(
            yaml,
            List.of(
                "100.101.102.103",
                "100.101.102.104",
                "100.101.102.105",
                "2001:db8::1:1",
                "2001:db8::1:2",
                "2001:db8::1:3"));
    assertThat(s.services().services())
        .extracting(x -> x.server().key())
        .containsExactlyInAnyOrder(
            "SCTP 10.20.30.41:80",
            "SCTP 100.101.102.103:3001",
            "SCTP 100.101.102.104:3001",
            "SCTP 100.101.102.105:3001");
    for (String ip : List.of("100.101.102.103", "100.101.102.104", "100.101.102.105")) {
      assertThat(reals(s, "SCTP", ip, 3001)).containsExactly("10.180.0.1:80");
    }
    assertThat(reals(s, "SCTP", "10.20.30.41", 80)).containsExactly("10.180.0.1:80");
    assertThat(members(s, "KUBE-NODE-PORT-SCTP-HASH"))
        .containsExactlyInAnyOrder(
            "100.101.102.103,sctp:3001", "100.101.102.104,sctp:3001", "100.101.102.105,sctp:3001");
  }

  @Test
  void nodePortIPv4_sctpLocalPolicy_localEntriesAndOnlyLocalRealServer() {
    // TestNodePortIPv4 "node port service with protocol sctp and externalTrafficPolicy local".
    String yaml =
        svc(
                "ns1",
                "svc1",
                "spec: {type: NodePort, externalTrafficPolicy: Local, clusterIP: 10.20.30.41,"
                    + " ports: [{name: p80, port: 80, protocol: SCTP, nodePort: 3001}]}")
            + slice(
                "ns1",
                "svc1",
                "endpoints: [{addresses: [10.180.0.1], nodeName: test-node}, {addresses:"
                    + " [10.180.1.1], nodeName: other-node}]\n"
                    + "ports: [{name: p80, port: 80, protocol: SCTP}]");
    IpvsState s = render(yaml, List.of("100.101.102.103"));
    assertThat(reals(s, "SCTP", "10.20.30.41", 80))
        .containsExactly("10.180.0.1:80", "10.180.1.1:80");
    assertThat(reals(s, "SCTP", "100.101.102.103", 3001)).containsExactly("10.180.0.1:80");
    assertThat(members(s, "KUBE-NODE-PORT-SCTP-HASH")).containsExactly("100.101.102.103,sctp:3001");
    assertThat(members(s, "KUBE-NODE-PORT-LOCAL-SCTP-HASH"))
        .containsExactly("100.101.102.103,sctp:3001");
    assertThat(chain(s, "KUBE-NODE-PORT"))
        .containsExactly(
            "RETURN KUBE-NODE-PORT-LOCAL-SCTP-HASH",
            "KUBE-MARK-MASQ KUBE-NODE-PORT-SCTP-HASH",
            "ACCEPT KUBE-HEALTH-CHECK-NODE-PORT");
  }

  // --- TestIPv4Proxier ---------------------------------------------------------------------

  @Test
  void ipv4Proxier_clusterIpServices_ipv6ServiceIgnored() {
    // TestIPv4Proxier "2 services with Cluster IP, each with endpoints" and "cluster IP service
    // with no endpoints". The IPv6 service of the first case is not expressible in our IPv4 model
    // and is left out: upstream's IPv4 proxier ignores it.
    String yaml =
        svc(
                "ns1",
                "svc1",
                "spec: {clusterIP: 10.20.30.41, ports: [{name: p80, port: 80, protocol: TCP}]}")
            + slice(
                "ns1",
                "svc1",
                "endpoints: [{addresses: [10.180.0.1]}]\nports: [{name: p80, port: 80, protocol:"
                    + " TCP}]");
    IpvsState s = render(yaml, List.of());
    assertThat(s.services().services())
        .extracting(x -> x.server().key())
        .containsExactly("TCP 10.20.30.41:80");
    assertThat(reals(s, "TCP", "10.20.30.41", 80)).containsExactly("10.180.0.1:80");

    IpvsState none =
        render(
            svc(
                "ns1",
                "svc1",
                "spec: {clusterIP: 10.20.30.41, ports: [{name: p80, port: 80, protocol: TCP}]}"),
            List.of());
    assertThat(reals(none, "TCP", "10.20.30.41", 80)).isEmpty();
  }

  // --- TestMasqueradeRule ------------------------------------------------------------------

  @ParameterizedTest
  @ValueSource(booleans = {false, true})
  void masqueradeRule_randomFully_onlyWhenTheKernelHasIt(boolean randomFully) {
    // TestMasqueradeRule: the first -j MASQUERADE of KUBE-POSTROUTING has --random-fully iff
    // HasRandomFully().
    IpvsState s =
        new IpvsRenderer(
                IpvsTestSupport.fakeConfig(),
                IpvsOptions.defaults(),
                KernelCapabilities.none().withRandomFully(randomFully),
                "6.1.0")
            .render(dev.svcproxy.model.ProxyState.empty(), List.of());
    var masq =
        s.iptables().table("nat").orElseThrow().rules("KUBE-POSTROUTING").stream()
            .filter(r -> r.target().equals("MASQUERADE"))
            .findFirst()
            .orElseThrow();
    assertThat(masq.print().contains("--random-fully")).isEqualTo(randomFully);
  }

  // --- TestExternalIPsNoEndpoint / TestExternalIPs / TestOnlyLocalExternalIPs --------------

  @Test
  void externalIPsNoEndpoint_twoServers_externalWithoutRealServers() {
    // TestExternalIPsNoEndpoint.
    String yaml =
        svc(
            "ns1",
            "svc1",
            "spec: {type: ClusterIP, clusterIP: 10.20.30.41, externalIPs: [50.60.70.81], ports:"
                + " [{name: p80, port: 80, protocol: TCP, targetPort: 80}]}");
    IpvsState s = render(yaml, List.of());
    assertThat(s.services().services()).hasSize(2);
    assertThat(reals(s, "TCP", "50.60.70.81", 80)).isEmpty();
  }

  @Test
  void externalIPs_threeExternalIps_ipv6IgnoredAndRealServersAreTheEndpoint() {
    // TestExternalIPs: externalIPs 50.60.70.81, 2012::51, 127.0.0.1 give 3 servers (ClusterIP and
    // the two IPv4 ones); every destination of an external server is 10.180.0.1:80. (Upstream's
    // slice says UDP, so its TCP port has no endpoint and the check passes vacuously; the slice
    // here is TCP so that the destination is checked.)
    String yaml =
        svc(
                "ns1",
                "svc1",
                "spec: {type: ClusterIP, clusterIP: 10.20.30.41, externalIPs: [50.60.70.81,"
                    + " 2012::51, 127.0.0.1], ports: [{name: p80, port: 80, protocol: TCP,"
                    + " targetPort: 80}]}")
            + slice(
                "ns1",
                "svc1",
                "endpoints: [{addresses: [10.180.0.1]}]\nports: [{name: p80, port: 80, protocol:"
                    + " TCP}]");
    IpvsState s = render(yaml, List.of());
    assertThat(s.services().services()).hasSize(3);
    assertThat(reals(s, "TCP", "50.60.70.81", 80)).containsExactly("10.180.0.1:80");
    assertThat(reals(s, "TCP", "127.0.0.1", 80)).containsExactly("10.180.0.1:80");
  }

  @Test
  void onlyLocalExternalIPs_localPolicy_externalServerHasOnlyTheLocalEndpoint() {
    // TestOnlyLocalExternalIPs.
    String yaml =
        svc(
                "ns1",
                "svc1",
                "spec: {type: NodePort, externalTrafficPolicy: Local, clusterIP: 10.20.30.41,"
                    + " externalIPs: [50.60.70.81, 2012::51, 127.0.0.1], ports: [{name: p80, port:"
                    + " 80, protocol: TCP, targetPort: 80}]}")
            + slice(
                "ns1",
                "svc1",
                "endpoints: [{addresses: [10.180.0.1], nodeName: test-node}, {addresses:"
                    + " [10.180.1.1], nodeName: other-node}]\n"
                    + "ports: [{name: p80, port: 80, protocol: TCP}]");
    IpvsState s = render(yaml, List.of());
    assertThat(s.services().services()).hasSize(3);
    assertThat(reals(s, "TCP", "50.60.70.81", 80)).containsExactly("10.180.0.1:80");
    assertThat(reals(s, "TCP", "127.0.0.1", 80)).containsExactly("10.180.0.1:80");
  }

  // --- TestLoadBalancer / TestOnlyLocalNodePorts / TestHealthCheckNodePort -----------------

  @Test
  void loadBalancer_lbIp_lbSetAndChains() {
    // TestLoadBalancer: the fake proxier has no node address, so no NodePort server: 2 servers.
    String yaml =
        svc(
                "ns1",
                "svc1",
                "spec: {type: LoadBalancer, clusterIP: 10.20.30.41, ports: [{name: p80, port: 80,"
                    + " protocol: TCP, nodePort: 3001}]}\n"
                    + "status: {loadBalancer: {ingress: [{ip: 1.2.3.4}]}}")
            + slice(
                "ns1",
                "svc1",
                "endpoints: [{addresses: [10.180.0.1]}]\nports: [{name: p80, port: 80, protocol:"
                    + " UDP}]");
    IpvsState s = render(yaml, List.of());
    assertThat(s.services().services()).hasSize(2);
    assertThat(vs(s, "TCP", "1.2.3.4", 80)).isPresent();
    assertThat(members(s, "KUBE-LOAD-BALANCER")).containsExactly("1.2.3.4,tcp:80");
    assertThat(chain(s, "KUBE-SERVICES"))
        .containsExactly(
            "RETURN",
            "KUBE-LOAD-BALANCER KUBE-LOAD-BALANCER",
            "KUBE-MARK-MASQ KUBE-CLUSTER-IP",
            "KUBE-NODE-PORT",
            "ACCEPT KUBE-CLUSTER-IP",
            "ACCEPT KUBE-LOAD-BALANCER");
    assertThat(chain(s, "KUBE-LOAD-BALANCER")).containsExactly("KUBE-MARK-MASQ");
  }

  private static final String ONLY_LOCAL_NODE_PORT =
      svc(
              "ns1",
              "svc1",
              "spec: {type: NodePort, externalTrafficPolicy: Local, clusterIP: 10.20.30.41,"
                  + " ports: [{name: p80, port: 80, protocol: TCP, nodePort: 3001}]}")
          + slice(
              "ns1",
              "svc1",
              "endpoints: [{addresses: [10.180.0.1], nodeName: test-node}, {addresses:"
                  + " [10.180.1.1], nodeName: other-node}]\n"
                  + "ports: [{name: p80, port: 80, protocol: TCP}]");

  @Test
  void onlyLocalNodePorts_nodePortAddressesCidr_localSetsAndLocalRealServer() {
    // TestOnlyLocalNodePorts: interfaces eth0 100.101.102.103/24 and eth1 2001:db8::/64,
    // nodePortAddresses 100.101.102.0/24.
    IpvsState s =
        render(
            ONLY_LOCAL_NODE_PORT,
            IpvsTestSupport.fakeConfig()
                .withNodePortAddresses(List.of(Cidr.parse("100.101.102.0/24"))),
            List.of("100.101.102.103", "2001:db8::"));
    assertThat(s.services().services()).hasSize(2);
    assertThat(reals(s, "TCP", "100.101.102.103", 3001)).containsExactly("10.180.0.1:80");
    assertThat(members(s, "KUBE-NODE-PORT-TCP")).containsExactly("3001");
    assertThat(members(s, "KUBE-NODE-PORT-LOCAL-TCP")).containsExactly("3001");
    assertThat(chain(s, "KUBE-SERVICES"))
        .containsExactly(
            "RETURN", "KUBE-MARK-MASQ KUBE-CLUSTER-IP", "KUBE-NODE-PORT", "ACCEPT KUBE-CLUSTER-IP");
    assertThat(chain(s, "KUBE-NODE-PORT"))
        .containsExactly(
            "RETURN KUBE-NODE-PORT-LOCAL-TCP",
            "KUBE-MARK-MASQ KUBE-NODE-PORT-TCP",
            "ACCEPT KUBE-HEALTH-CHECK-NODE-PORT");
  }

  @Test
  void healthCheckNodePort_onlyLocalPolicyServices_inTheHealthCheckSet() {
    // TestHealthCheckNodePort: three LB services sharing ClusterIP and nodePort 3000; only the
    // two with eTP=Local keep their healthCheckNodePort.
    String base =
        "spec: {type: LoadBalancer, externalTrafficPolicy: %s, clusterIP: 10.20.30.41,"
            + " healthCheckNodePort: %d, ports: [{name: p80, port: 80, protocol: TCP, nodePort:"
            + " 3000}]}";
    String yaml =
        svc("ns1", "valid-svc1", base.formatted("Local", 30000))
            + svc("ns1", "valid-svc2", base.formatted("Local", 30001))
            + svc("ns1", "invalid-svc3", base.formatted("Cluster", 30002));
    IpvsState s =
        render(
            yaml,
            IpvsTestSupport.fakeConfig()
                .withNodePortAddresses(List.of(Cidr.parse("100.101.102.0/24"))),
            List.of("100.101.102.103", "2001:db8::"));
    assertThat(members(s, "KUBE-HEALTH-CHECK-NODE-PORT"))
        .containsExactlyInAnyOrder("30000", "30001");
    assertThat(chain(s, "KUBE-NODE-PORT"))
        .containsExactly(
            "RETURN KUBE-NODE-PORT-LOCAL-TCP",
            "KUBE-MARK-MASQ KUBE-NODE-PORT-TCP",
            "ACCEPT KUBE-HEALTH-CHECK-NODE-PORT");
  }

  // --- TestLoadBalancerSourceRanges / TestAcceptIPVSTraffic / TestOnlyLocalLoadBalancing ---

  @Test
  void loadBalancerSourceRanges_rangeWithoutNodeIp_firewallSetsAndChains() {
    // TestLoadBalancerSourceRanges (the fake proxier has no node IP, so the range never holds it).
    String yaml =
        svc(
                "ns1",
                "svc1",
                "spec: {type: LoadBalancer, clusterIP: 10.20.30.41, loadBalancerSourceRanges:"
                    + " [10.0.0.0/8], ports: [{name: p80, port: 80, protocol: TCP}]}\n"
                    + "status: {loadBalancer: {ingress: [{ip: 1.2.3.4}]}}")
            + slice(
                "ns1",
                "svc1",
                "endpoints: [{addresses: [10.180.0.1]}]\nports: [{name: p80, port: 80, protocol:"
                    + " TCP}]");
    IpvsState s = render(yaml, List.of());
    assertThat(s.services().services()).hasSize(2);
    assertThat(reals(s, "TCP", "1.2.3.4", 80)).containsExactly("10.180.0.1:80");
    assertThat(members(s, "KUBE-LOAD-BALANCER")).containsExactly("1.2.3.4,tcp:80");
    assertThat(members(s, "KUBE-LOAD-BALANCER-FW")).containsExactly("1.2.3.4,tcp:80");
    assertThat(members(s, "KUBE-LOAD-BALANCER-SOURCE-CIDR"))
        .containsExactly("1.2.3.4,tcp:80,10.0.0.0/8");
    assertThat(chain(s, "KUBE-SERVICES"))
        .containsExactly(
            "RETURN",
            "KUBE-LOAD-BALANCER KUBE-LOAD-BALANCER",
            "KUBE-MARK-MASQ KUBE-CLUSTER-IP",
            "KUBE-NODE-PORT",
            "ACCEPT KUBE-CLUSTER-IP",
            "ACCEPT KUBE-LOAD-BALANCER");
    assertThat(chain(s, "KUBE-PROXY-FIREWALL"))
        .containsExactly("KUBE-SOURCE-RANGES-FIREWALL KUBE-LOAD-BALANCER-FW");
    assertThat(chain(s, "KUBE-SOURCE-RANGES-FIREWALL"))
        .containsExactly("RETURN KUBE-LOAD-BALANCER-SOURCE-CIDR", "DROP");
  }

  @Test
  void acceptIpvsTraffic_clusterLbAndExternalIps_acceptRulesLast() {
    // TestAcceptIPVSTraffic.
    String yaml =
        svc(
                "ns1",
                "svc1",
                "spec: {type: ClusterIP, clusterIP: 10.20.30.40, externalIPs: [5.6.7.8], ports:"
                    + " [{name: p80, port: 80, protocol: TCP, nodePort: 80}]}")
            + svc(
                "ns1",
                "svc2",
                "spec: {type: LoadBalancer, clusterIP: 10.20.30.41, ports: [{name: p80, port: 80,"
                    + " protocol: TCP, nodePort: 80}]}\n"
                    + "status: {loadBalancer: {ingress: [{ip: 1.2.3.4}]}}")
            + svc(
                "ns1",
                "svc3",
                "spec: {type: NodePort, clusterIP: 10.20.30.42, ports: [{name: p80, port: 80,"
                    + " protocol: TCP, nodePort: 80}]}");
    IpvsState s = render(yaml, List.of());
    assertThat(chain(s, "KUBE-SERVICES"))
        .containsExactly(
            "RETURN",
            "KUBE-LOAD-BALANCER KUBE-LOAD-BALANCER",
            "KUBE-MARK-MASQ KUBE-CLUSTER-IP",
            "KUBE-MARK-MASQ KUBE-EXTERNAL-IP",
            "ACCEPT KUBE-EXTERNAL-IP",
            "ACCEPT KUBE-EXTERNAL-IP",
            "KUBE-NODE-PORT",
            "ACCEPT KUBE-CLUSTER-IP",
            "ACCEPT KUBE-LOAD-BALANCER");
  }

  @Test
  void onlyLocalLoadBalancing_localPolicy_localSetReturnsAndLocalRealServer() {
    // TestOnlyLocalLoadBalancing.
    String yaml =
        svc(
                "ns1",
                "svc1",
                "spec: {type: LoadBalancer, externalTrafficPolicy: Local, clusterIP: 10.20.30.41,"
                    + " ports: [{name: p80, port: 80, protocol: TCP, nodePort: 3001}]}\n"
                    + "status: {loadBalancer: {ingress: [{ip: 1.2.3.4}]}}")
            + slice(
                "ns1",
                "svc1",
                "endpoints: [{addresses: [10.180.0.1], nodeName: test-node}, {addresses:"
                    + " [10.180.1.1], nodeName: other-node}]\n"
                    + "ports: [{name: p80, port: 80, protocol: TCP}]");
    IpvsState s = render(yaml, List.of());
    assertThat(s.services().services()).hasSize(2);
    assertThat(reals(s, "TCP", "1.2.3.4", 80)).containsExactly("10.180.0.1:80");
    assertThat(members(s, "KUBE-LOAD-BALANCER")).containsExactly("1.2.3.4,tcp:80");
    assertThat(members(s, "KUBE-LOAD-BALANCER-LOCAL")).containsExactly("1.2.3.4,tcp:80");
    assertThat(chain(s, "KUBE-SERVICES"))
        .containsExactly(
            "RETURN",
            "KUBE-LOAD-BALANCER KUBE-LOAD-BALANCER",
            "KUBE-MARK-MASQ KUBE-CLUSTER-IP",
            "KUBE-NODE-PORT",
            "ACCEPT KUBE-CLUSTER-IP",
            "ACCEPT KUBE-LOAD-BALANCER");
    assertThat(chain(s, "KUBE-LOAD-BALANCER"))
        .containsExactly("RETURN KUBE-LOAD-BALANCER-LOCAL", "KUBE-MARK-MASQ");
  }

  // --- TestSessionAffinity -----------------------------------------------------------------

  @Test
  void sessionAffinity_clientIp_everyServerPersistentFor10800() {
    // TestSessionAffinity: node IP 100.101.102.103, ClusterIP + externalIP + NodePort servers.
    String yaml =
        svc(
            "ns1",
            "svc1",
            "spec: {type: NodePort, clusterIP: 10.20.30.41, externalIPs: [50.60.70.81],"
                + " sessionAffinity: ClientIP, sessionAffinityConfig: {clientIP: {timeoutSeconds:"
                + " 10800}}, ports: [{name: p80, port: 80, protocol: TCP, nodePort: 3001}]}");
    IpvsState s = render(yaml, List.of("100.101.102.103"));
    assertThat(s.services().services()).hasSize(3);
    assertThat(s.services().services())
        .allMatch(x -> x.server().persistenceTimeout() == 10800, "persistent for 10800 s");
  }

  // --- TestEndpointSliceE2E / TestTestInternalTrafficPolicyE2E ----------------------------

  @Test
  void endpointSliceE2E_localAndRemoteEndpoints_loopbackHoldsTheLocalOne() {
    // TestEndpointSliceE2E (upstream's service port has no number; 80 here). The not-ready
    // endpoint is no real server.
    String yaml =
        svc(
                "ns1",
                "svc1",
                "spec: {clusterIP: 172.20.1.1, ports: [{name: '', port: 80, protocol: TCP,"
                    + " targetPort: 80}]}")
            + slice(
                "ns1",
                "svc1",
                "ports: [{name: '', port: 80, protocol: TCP}]\n"
                    + "endpoints: [{addresses: [10.0.1.1], conditions: {ready: true}, nodeName:"
                    + " test-node}, {addresses: [10.0.1.2], conditions: {ready: true}, nodeName:"
                    + " node2}, {addresses: [10.0.1.3], conditions: {ready: true}, nodeName: node3},"
                    + " {addresses: [10.0.1.4], conditions: {ready: false}, nodeName: node3}]");
    IpvsState s = render(yaml, List.of());
    assertThat(members(s, "KUBE-LOOP-BACK")).containsExactly("10.0.1.1,tcp:80,10.0.1.1");
    assertThat(s.services().services()).hasSize(1);
    assertThat(reals(s, "TCP", "172.20.1.1", 80))
        .containsExactly("10.0.1.1:80", "10.0.1.2:80", "10.0.1.3:80");
  }

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {
        // policy | endpoint nodes | local loop-back entries | real servers ("" = not asserted)
        "Cluster | test-node node1 node2 | 1 | 10.0.1.1:80 10.0.1.2:80 10.0.1.3:80",
        "Cluster | node0 node1 node2     | 0 | ",
        "Local   | test-node node1 node2 | 1 | 10.0.1.1:80",
        "Local   | node0 node1 node2     | 0 | "
      })
  void internalTrafficPolicyE2E_policyAndLocality_realServersAsUpstream(
      String policy, String nodes, int loopback, String expectedReals) {
    // TestTestInternalTrafficPolicyE2E: the four cases; upstream asserts the servers only where
    // expectVirtualServer is true.
    String[] n = nodes.strip().split("\\s+");
    String yaml =
        svc(
                "ns1",
                "svc1",
                "spec: {clusterIP: 172.20.1.1, internalTrafficPolicy: "
                    + policy.strip()
                    + ", ports: [{name: '', port: 80, protocol: TCP, targetPort: 80}]}")
            + slice(
                "ns1",
                "svc1",
                ("ports: [{name: '', port: 80, protocol: TCP}]\nendpoints: [{addresses: [10.0.1.1],"
                        + " conditions: {ready: true}, nodeName: %s}, {addresses: [10.0.1.2],"
                        + " conditions: {ready: true}, nodeName: %s}, {addresses: [10.0.1.3],"
                        + " conditions: {ready: true}, nodeName: %s}]")
                    .formatted(n[0], n[1], n[2]));
    IpvsState s = render(yaml, List.of());
    assertThat(members(s, "KUBE-LOOP-BACK")).hasSize(loopback);
    if (expectedReals != null && !expectedReals.isBlank()) {
      assertThat(s.services().services()).hasSize(1);
      assertThat(reals(s, "TCP", "172.20.1.1", 80))
          .containsExactly(expectedReals.strip().split(" "));
    }
  }

  // --- Test_EndpointSlice{Ready,Only}And Terminating{Cluster,Local} -------------------------

  private static String terminatingCase(String etp, String endpoints) {
    return svc(
            "ns1",
            "svc1",
            "spec: {type: NodePort, clusterIP: 172.20.1.1, externalTrafficPolicy: "
                + etp
                + ", internalTrafficPolicy: Cluster, externalIPs: [1.2.3.4], ports: [{name: '',"
                + " port: 80, protocol: TCP, targetPort: 80}]}")
        + slice(
            "ns1", "svc1", "ports: [{name: '', port: 80, protocol: TCP}]\nendpoints: " + endpoints);
  }

  private static String ep(
      String ip, boolean ready, boolean serving, boolean terminating, String node) {
    return "{addresses: [%s], conditions: {ready: %s, serving: %s, terminating: %s}, nodeName: %s}"
        .formatted(ip, ready, serving, terminating, node);
  }

  private static final String READY_AND_TERMINATING =
      "["
          + String.join(
              ", ",
              ep("10.0.1.1", true, true, false, "test-node"),
              ep("10.0.1.2", true, true, false, "test-node"),
              ep("10.0.1.3", false, true, true, "test-node"),
              ep("10.0.1.4", false, false, true, "test-node"),
              ep("10.0.1.5", true, true, false, "another-node"))
          + "]";

  /**
   * Upstream's slices of the two "Only" tests differ in 10.0.1.5 alone (ready in the Local one).
   */
  private static String onlyTerminating(boolean fifthReady) {
    return "["
        + String.join(
            ", ",
            ep("10.0.1.1", false, true, true, "test-node"),
            ep("10.0.1.2", false, true, true, "test-node"),
            ep("10.0.1.3", false, false, true, "test-node"),
            ep("10.0.1.4", false, true, true, "another-node"),
            ep("10.0.1.5", fifthReady, fifthReady, false, "another-node"))
        + "]";
  }

  @Test
  void endpointSliceReadyAndTerminatingCluster_readyOnes_bothServers() {
    // Test_EndpointSliceReadyAndTerminatingCluster.
    IpvsState s = render(terminatingCase("Cluster", READY_AND_TERMINATING), List.of());
    assertThat(members(s, "KUBE-LOOP-BACK"))
        .containsExactlyInAnyOrder(
            "10.0.1.1,tcp:80,10.0.1.1",
            "10.0.1.2,tcp:80,10.0.1.2",
            "10.0.1.3,tcp:80,10.0.1.3",
            "10.0.1.4,tcp:80,10.0.1.4");
    assertThat(s.services().services()).hasSize(2);
    assertThat(reals(s, "TCP", "172.20.1.1", 80))
        .containsExactly("10.0.1.1:80", "10.0.1.2:80", "10.0.1.5:80");
    assertThat(reals(s, "TCP", "1.2.3.4", 80))
        .containsExactly("10.0.1.1:80", "10.0.1.2:80", "10.0.1.5:80");
  }

  @Test
  void endpointSliceReadyAndTerminatingLocal_localPolicy_externalUsesLocalReadyOnly() {
    // Test_EndpointSliceReadyAndTerminatingLocal.
    IpvsState s = render(terminatingCase("Local", READY_AND_TERMINATING), List.of());
    assertThat(members(s, "KUBE-LOOP-BACK")).hasSize(4);
    assertThat(s.services().services()).hasSize(2);
    assertThat(reals(s, "TCP", "172.20.1.1", 80))
        .containsExactly("10.0.1.1:80", "10.0.1.2:80", "10.0.1.5:80");
    assertThat(reals(s, "TCP", "1.2.3.4", 80)).containsExactly("10.0.1.1:80", "10.0.1.2:80");
  }

  @Test
  void endpointSliceOnlyReadyAndTerminatingCluster_noneReady_servingTerminatingFallback() {
    // Test_EndpointSliceOnlyReadyAndTerminatingCluster.
    IpvsState s = render(terminatingCase("Cluster", onlyTerminating(false)), List.of());
    assertThat(members(s, "KUBE-LOOP-BACK"))
        .containsExactlyInAnyOrder(
            "10.0.1.1,tcp:80,10.0.1.1", "10.0.1.2,tcp:80,10.0.1.2", "10.0.1.3,tcp:80,10.0.1.3");
    assertThat(s.services().services()).hasSize(2);
    assertThat(reals(s, "TCP", "172.20.1.1", 80))
        .containsExactly("10.0.1.1:80", "10.0.1.2:80", "10.0.1.4:80");
    assertThat(reals(s, "TCP", "1.2.3.4", 80))
        .containsExactly("10.0.1.1:80", "10.0.1.2:80", "10.0.1.4:80");
  }

  @Test
  void endpointSliceOnlyReadyAndTerminatingLocal_noLocalReady_localServingTerminating() {
    // Test_EndpointSliceOnlyReadyAndTerminatingLocal.
    IpvsState s = render(terminatingCase("Local", onlyTerminating(true)), List.of());
    assertThat(members(s, "KUBE-LOOP-BACK")).hasSize(3);
    assertThat(s.services().services()).hasSize(2);
    assertThat(reals(s, "TCP", "172.20.1.1", 80)).containsExactly("10.0.1.5:80");
    assertThat(reals(s, "TCP", "1.2.3.4", 80)).containsExactly("10.0.1.1:80", "10.0.1.2:80");
  }

  // --- TestNoEndpointsMetric ---------------------------------------------------------------

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {
        // iTP | eTP | endpoint nodes | internal | external
        "Local   |       | test-node node1 node2 | 0 | 0",
        "        | Local | test-node node1 node2 | 0 | 0",
        "Local   | Local | test-node node1 node2 | 0 | 0",
        "Local   |       | node0 node1 node2     | 1 | 0",
        "        | Local | node0 node1 node2     | 0 | 1",
        "Local   | Local | node0 node1 node2     | 1 | 1",
        "Local   | Local |                       | 0 | 0"
      })
  void noEndpointsMetric_policiesAndLocality_countsAsUpstream(
      String itp, String etp, String nodes, int internal, int external) {
    // TestNoEndpointsMetric: node address 10.0.0.1, port p80 80/TCP nodePort 30000; with eTP the
    // type is NodePort.
    StringBuilder spec = new StringBuilder("spec: {clusterIP: 172.20.1.1");
    if (itp != null) {
      spec.append(", internalTrafficPolicy: ").append(itp.strip());
    }
    if (etp != null) {
      spec.append(", type: NodePort, externalTrafficPolicy: ").append(etp.strip());
    }
    spec.append(
        ", ports: [{name: p80, port: 80, protocol: TCP, targetPort: 80, nodePort: 30000}]}");
    StringBuilder eps = new StringBuilder("[");
    if (nodes != null) {
      String[] n = nodes.strip().split("\\s+");
      for (int i = 0; i < n.length; i++) {
        eps.append(i == 0 ? "" : ", ")
            .append(
                "{addresses: [10.0.1.%d], conditions: {ready: true}, nodeName: %s}"
                    .formatted(i + 1, n[i]));
      }
    }
    eps.append("]");
    String yaml =
        svc("ns1", "svc1", spec.toString())
            + slice(
                "ns1", "svc1", "ports: [{name: p80, port: 80, protocol: TCP}]\nendpoints: " + eps);
    Map<String, Set<String>> counts =
        IpvsRenderer.noLocalEndpoints(
            new ServicePlanner(IpvsTestSupport.fakeConfig()).plan(States.fromYaml(yaml)).values());
    assertThat(counts.get("internal")).hasSize(internal);
    assertThat(counts.get("external")).hasSize(external);
  }

  // --- TestDismissLocalhostRuleExist / TestCreateAndLinkKubeChain ------------------------

  @Test
  void dismissLocalhostRuleExist_noServices_firstServicesRuleReturnsLoopback() {
    // TestDismissLocalhostRuleExist "ipv4 rule".
    IpvsState s = render("", List.of());
    var first = s.iptables().table("nat").orElseThrow().rules("KUBE-SERVICES").get(0);
    assertThat(first.target()).isEqualTo("RETURN");
    assertThat(first.param("-s").orElseThrow().value().text()).isEqualTo("127.0.0.0/8");
  }

  @Test
  void createAndLinkKubeChain_anyState_chainDeclarationsInUpstreamOrder() {
    // TestCreateAndLinkKubeChain: expectedNATChains and expectedFilterChains.
    IpvsState s = render("", List.of());
    assertThat(s.iptables().table("nat").orElseThrow().chainDecls())
        .extracting(c -> c.print())
        .containsExactly(
            ":KUBE-SERVICES - [0:0]",
            ":KUBE-POSTROUTING - [0:0]",
            ":KUBE-NODE-PORT - [0:0]",
            ":KUBE-LOAD-BALANCER - [0:0]",
            ":KUBE-MARK-MASQ - [0:0]");
    assertThat(s.iptables().table("filter").orElseThrow().chainDecls())
        .extracting(c -> c.print())
        .containsExactly(
            ":KUBE-FORWARD - [0:0]",
            ":KUBE-NODE-PORT - [0:0]",
            ":KUBE-PROXY-FIREWALL - [0:0]",
            ":KUBE-SOURCE-RANGES-FIREWALL - [0:0]",
            ":KUBE-IPVS-FILTER - [0:0]",
            ":KUBE-IPVS-OUT-FILTER - [0:0]");
  }

  // --- TestMultiPortServiceBindAddr / TestLoadBalancerIngressRouteTypeProxy ---------------

  @Test
  void multiPortServiceBindAddr_threePorts_oneAddressOnTheDummy() {
    // TestMultiPortServiceBindAddr (service3): one ClusterIP, three ports: one bound address.
    String yaml =
        svc(
            "ns1",
            "svc1",
            "spec: {type: ClusterIP, clusterIP: 172.16.55.4, ports: [{name: port1, port: 1234,"
                + " protocol: TCP}, {name: port2, port: 1235, protocol: TCP}, {name: port3, port:"
                + " 1236, protocol: UDP}]}");
    assertThat(render(yaml, List.of()).dummyAddresses()).containsExactly("172.16.55.4");
    assertThat(render("", List.of()).dummyAddresses()).isEmpty();
  }

  @ParameterizedTest
  @CsvSource({"Proxy, 1", "VIP, 2"})
  void loadBalancerIngressRouteTypeProxy_ipMode_proxyIpHasNoServer(String mode, int services) {
    // TestLoadBalancerIngressRouteTypeProxy, LoadBalancerIPMode enabled (GA).
    String yaml =
        svc(
                "ns1",
                "svc1",
                "spec: {type: LoadBalancer, clusterIP: 10.20.30.41, ports: [{name: p80, port: 80,"
                    + " protocol: TCP, nodePort: 3001}]}\n"
                    + "status: {loadBalancer: {ingress: [{ip: 1.2.3.4, ipMode: "
                    + mode
                    + "}]}}")
            + slice(
                "ns1",
                "svc1",
                "endpoints: [{addresses: [10.180.0.1]}]\nports: [{name: p80, port: 80, protocol:"
                    + " TCP}]");
    assertThat(render(yaml, List.of()).services().services()).hasSize(services);
  }
}
