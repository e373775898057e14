package dev.svcproxy.plan;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.model.Endpoint;
import dev.svcproxy.model.LocalTrafficDetector;
import dev.svcproxy.model.Protocol;
import dev.svcproxy.model.ProxyConfig;
import dev.svcproxy.model.ServicePortInfo;
import dev.svcproxy.model.ServicePortName;
import dev.svcproxy.model.TrafficPolicy;
import dev.svcproxy.plan.ServicePortPlan.ClusterIpMasquerade;
import dev.svcproxy.plan.ServicePortPlan.ExternalMasquerade;
import dev.svcproxy.plan.ServicePortPlan.Policy;
import dev.svcproxy.plan.ServicePortPlan.Unreachable;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Expected values are reasoned from upstream's syncProxyRules (pkg/proxy/iptables/proxier.go; the
 * nftables proxier decides the same) and written down per case, not taken from our output.
 */
class ServicePlannerTest {
  private static final LocalTrafficDetector PODS =
      new LocalTrafficDetector(LocalTrafficDetector.Mode.CLUSTER_CIDR, "10.0.0.0/8");
  private static final ProxyConfig NODE = ProxyConfig.defaults("node-a", "192.168.0.2", PODS);
  private static final ServicePlanner PLANNER = new ServicePlanner(NODE);

  private static final Endpoint ON_A = Endpoint.ready("10.1.0.5", 80, "node-a");
  private static final Endpoint ON_B = Endpoint.ready("10.2.0.5", 80, "node-b");
  private static final Endpoint TERMINATING_ON_B =
      new Endpoint("10.2.0.6", 80, false, true, true, "node-b", "", Set.of(), Set.of());

  private static ServicePortInfo svc(
      int nodePort,
      List<String> lbIps,
      List<String> ranges,
      TrafficPolicy external,
      TrafficPolicy internal) {
    return new ServicePortInfo(
        new ServicePortName("ns", "web", "http", Protocol.TCP),
        "172.30.0.10",
        80,
        nodePort,
        List.of(),
        lbIps,
        ranges,
        0,
        false,
        0,
        external,
        internal);
  }

  private static ServicePortInfo clusterIp(TrafficPolicy internal) {
    return svc(0, List.of(), List.of(), TrafficPolicy.CLUSTER, internal);
  }

  private static ServicePortInfo nodePort(TrafficPolicy external) {
    return svc(30080, List.of(), List.of(), external, TrafficPolicy.CLUSTER);
  }

  @Test
  void plan_noEndpointsAnywhere_rejectsBothInternalAndExternal_usesNoChain() {
    // Upstream: !hasEndpoints -> REJECT "has no endpoints" for both, and no nat chains at all.
    // Even with eTP=Local the reason is "no endpoints", not "no local endpoints".
    ServicePortPlan p = PLANNER.plan(nodePort(TrafficPolicy.LOCAL), List.of());
    assertThat(p.hasEndpoints()).isFalse();
    assertThat(p.internalUnreachable()).isEqualTo(Unreachable.REJECT_NO_ENDPOINTS);
    assertThat(p.externalUnreachable()).isEqualTo(Unreachable.REJECT_NO_ENDPOINTS);
    assertThat(p.usesClusterChain()).isFalse();
    assertThat(p.usesLocalChain()).isFalse();
    assertThat(p.usesExternalChain()).isFalse();
    assertThat(p.reachableEndpoints()).isEmpty();
  }

  @Test
  void plan_externalLocalWithEndpointsOnlyElsewhere_dropsExternal_internalStillServed() {
    // Seed S3: NodePort, eTP=Local, the only endpoint on node-b. hasEndpoints is true, so no
    // REJECT; the external policy is Local and node-a has no local endpoint, so external traffic
    // is DROPped ("has no local endpoints") while the cluster IP (iTP=Cluster) still goes to the
    // cluster chain. The EXT chain exists (hasEndpoints && externally accessible) so that the
    // node's own and pods' traffic reach the cluster chain; no SVL chain (no local endpoints).
    ServicePortPlan p = PLANNER.plan(nodePort(TrafficPolicy.LOCAL), List.of(ON_B));
    assertThat(p.hasEndpoints()).isTrue();
    assertThat(p.internalUnreachable()).isEqualTo(Unreachable.NONE);
    assertThat(p.externalUnreachable()).isEqualTo(Unreachable.DROP_NO_LOCAL_ENDPOINTS);
    assertThat(p.internalPolicy()).isEqualTo(Policy.CLUSTER);
    assertThat(p.externalPolicy()).isEqualTo(Policy.LOCAL);
    assertThat(p.usesClusterChain()).isTrue();
    assertThat(p.usesLocalChain()).isFalse();
    assertThat(p.usesExternalChain()).isTrue();
    assertThat(p.clusterEndpoints()).containsExactly(ON_B);
    assertThat(p.localEndpoints()).isEmpty();
    // eTP=Local keeps client sources: only node-sourced traffic is masqueraded, pods
    // short-circuit to the cluster chain because the detector knows them.
    assertThat(p.externalMasquerade()).isEqualTo(ExternalMasquerade.NODE_SOURCES_ONLY);
    assertThat(p.shortCircuitPods()).isTrue();
  }

  @Test
  void plan_internalLocalWithEndpointsOnlyElsewhere_dropsInternalNotRejects() {
    // iTP=Local, ClusterIP only, endpoint on node-b: the port has endpoints (no REJECT), but the
    // internal policy is Local with none here -> DROP "has no local endpoints". A ClusterIP-only
    // port with iTP=Local uses no cluster endpoints (UsesClusterEndpoints is false), so neither
    // chain exists and nothing is reachable from this node.
    ServicePortPlan p = PLANNER.plan(clusterIp(TrafficPolicy.LOCAL), List.of(ON_B));
    assertThat(p.hasEndpoints()).isTrue();
    assertThat(p.internalUnreachable()).isEqualTo(Unreachable.DROP_NO_LOCAL_ENDPOINTS);
    assertThat(p.internalUnreachable().reason()).isEqualTo("has no local endpoints");
    assertThat(p.usesClusterChain()).isFalse();
    assertThat(p.usesLocalChain()).isFalse();
    assertThat(p.usesExternalChain()).isFalse();
    assertThat(p.reachableEndpoints()).isEmpty();
  }

  @Test
  void plan_internalLocalWithLocalEndpoint_usesOnlyTheLocalChain() {
    // iTP=Local with an endpoint here and one elsewhere: cluster IP traffic goes to the SVL chain
    // holding only the local endpoint; no SVC chain for a ClusterIP-only port.
    ServicePortPlan p = PLANNER.plan(clusterIp(TrafficPolicy.LOCAL), List.of(ON_A, ON_B));
    assertThat(p.internalPolicy()).isEqualTo(Policy.LOCAL);
    assertThat(p.internalUnreachable()).isEqualTo(Unreachable.NONE);
    assertThat(p.usesLocalChain()).isTrue();
    assertThat(p.usesClusterChain()).isFalse();
    assertThat(p.localEndpoints()).containsExactly(ON_A);
    assertThat(p.reachableEndpoints()).containsExactly(ON_A);
  }

  @Test
  void plan_onlyServingTerminatingEndpoints_fallsBackToThemInsteadOfRejecting() {
    // KEP-1669: with no ready endpoint, serving-terminating ones are used, so the port has
    // endpoints and nothing is rejected.
    ServicePortPlan p = PLANNER.plan(clusterIp(TrafficPolicy.CLUSTER), List.of(TERMINATING_ON_B));
    assertThat(p.hasEndpoints()).isTrue();
    assertThat(p.internalUnreachable()).isEqualTo(Unreachable.NONE);
    assertThat(p.clusterEndpoints()).containsExactly(TERMINATING_ON_B);
    assertThat(p.usesClusterChain()).isTrue();
  }

  @Test
  void plan_clusterPolicyExternal_masqueradesAllExternalTraffic() {
    // eTP=Cluster: the client may be anywhere and the endpoint on another node, so every external
    // packet is SNATed (upstream: "masquerade traffic for ... external destinations").
    ServicePortPlan p = PLANNER.plan(nodePort(TrafficPolicy.CLUSTER), List.of(ON_B));
    assertThat(p.externalMasquerade()).isEqualTo(ExternalMasquerade.ALL);
    assertThat(p.shortCircuitPods()).isFalse();
    assertThat(p.externalUnreachable()).isEqualTo(Unreachable.NONE);
  }

  @Test
  void plan_clusterIpMasquerade_followsMasqueradeAllThenTheDetector() {
    ServicePortInfo s = clusterIp(TrafficPolicy.CLUSTER);
    // A detector: only traffic not from pods is marked (upstream's IfNotLocal match).
    assertThat(PLANNER.plan(s, List.of(ON_B)).clusterIpMasquerade())
        .isEqualTo(ClusterIpMasquerade.NON_POD_SOURCES);
    // --masquerade-all wins over the detector.
    assertThat(new ServicePlanner(NODE.withMasqueradeAll(true)).plan(s, List.of(ON_B)))
        .extracting(ServicePortPlan::clusterIpMasquerade)
        .isEqualTo(ClusterIpMasquerade.ALL);
    // No cluster CIDR and no masquerade-all: no masquerade rule at all, and eTP=Local cannot
    // short-circuit pods (it cannot tell them).
    ServicePlanner blind =
        new ServicePlanner(
            ProxyConfig.defaults("node-a", "192.168.0.2", LocalTrafficDetector.none()));
    assertThat(blind.plan(s, List.of(ON_B)).clusterIpMasquerade())
        .isEqualTo(ClusterIpMasquerade.NONE);
    assertThat(blind.plan(nodePort(TrafficPolicy.LOCAL), List.of(ON_A)).shortCircuitPods())
        .isFalse();
  }

  @Test
  void plan_sourceRanges_firewallWithOrWithoutEndpointsAndAdmitsLbIpWhenARangeHoldsTheNode() {
    ServicePortInfo lb =
        svc(
            30080,
            List.of("5.6.7.8"),
            List.of("203.0.113.0/25", "192.168.0.0/24"),
            TrafficPolicy.CLUSTER,
            TrafficPolicy.CLUSTER);
    // 192.168.0.0/24 holds the node IP 192.168.0.2: the node's own traffic to its LB IP (whose
    // source may then be the LB IP) must pass the firewall too.
    ServicePortPlan p = PLANNER.plan(lb, List.of(ON_B));
    assertThat(p.usesFirewall()).isTrue();
    assertThat(p.firewall().sourceRanges()).containsExactly("203.0.113.0/25", "192.168.0.0/24");
    assertThat(p.firewall().allowLoadBalancerIpSources()).isTrue();
    ServicePortInfo farOnly =
        svc(
            30080,
            List.of("5.6.7.8"),
            List.of("203.0.113.0/25"),
            TrafficPolicy.CLUSTER,
            TrafficPolicy.CLUSTER);
    assertThat(PLANNER.plan(farOnly, List.of(ON_B)).firewall().allowLoadBalancerIpSources())
        .isFalse();
    // Without endpoints the firewall still applies: upstream's nftables proxier decides
    // usesFWChain from LB VIPs and source ranges alone (its firewall-check, at -110, runs before
    // the no-endpoint checks). Only the iptables proxier also requires hasEndpoints, and its
    // renderer adds that condition.
    ServicePortPlan none = PLANNER.plan(lb, List.of());
    assertThat(none.usesFirewall()).isTrue();
    assertThat(none.firewall().sourceRanges()).containsExactly("203.0.113.0/25", "192.168.0.0/24");
    assertThat(none.firewall().allowLoadBalancerIpSources()).isTrue();
    assertThat(none.externalUnreachable()).isEqualTo(Unreachable.REJECT_NO_ENDPOINTS);
  }

  private static ServicePortInfo affinity(boolean clientIp, int timeoutSeconds) {
    return new ServicePortInfo(
        new ServicePortName("ns", "web", "http", Protocol.TCP),
        "172.30.0.10",
        80,
        0,
        List.of(),
        List.of(),
        List.of(),
        0,
        clientIp,
        timeoutSeconds,
        TrafficPolicy.CLUSTER,
        TrafficPolicy.CLUSTER);
  }

  @Test
  void plan_clientIpAffinityWithTimeoutZero_keepsAffinityWithTheApiDefault() {
    // Upstream keys affinity on SessionAffinityType == ClientIP (both proxiers). The timeout is
    // never 0 there: the API server defaults a missing clientIP.timeoutSeconds to
    // DefaultClientIPServiceAffinitySeconds = 10800 (SetDefaults_Service). A source that leaves
    // it 0 must still get ClientIP affinity, with that default.
    ServicePortPlan p = PLANNER.plan(affinity(true, 0), List.of(ON_A));
    assertThat(p.sessionAffinity()).isEqualTo(ServicePortPlan.SessionAffinity.CLIENT_IP);
    assertThat(p.affinityTimeoutSeconds()).isEqualTo(10800);
    ServicePortPlan given = PLANNER.plan(affinity(true, 600), List.of(ON_A));
    assertThat(given.sessionAffinity()).isEqualTo(ServicePortPlan.SessionAffinity.CLIENT_IP);
    assertThat(given.affinityTimeoutSeconds()).isEqualTo(600);
    // sessionAffinity None: no affinity, whatever timeout the port carries.
    assertThat(PLANNER.plan(affinity(false, 600), List.of(ON_A)).sessionAffinity())
        .isEqualTo(ServicePortPlan.SessionAffinity.NONE);
  }

  @Test
  void plan_state_onePlanPerServicePortInOrder() {
    ServicePortInfo a = clusterIp(TrafficPolicy.CLUSTER);
    ServicePortInfo b =
        new ServicePortInfo(
            new ServicePortName("ns", "api", "http", Protocol.TCP),
            "172.30.0.11",
            80,
            0,
            List.of(),
            List.of(),
            List.of(),
            0,
            true,
            600,
            TrafficPolicy.CLUSTER,
            TrafficPolicy.CLUSTER);
    var state =
        new dev.svcproxy.model.ProxyState(
            new java.util.TreeMap<>(java.util.Map.of(a.name(), a, b.name(), b)),
            java.util.Map.of(b.name(), List.of(ON_B)));
    var plans = PLANNER.plan(state);
    assertThat(plans.keySet()).containsExactly(b.name(), a.name());
    assertThat(plans.get(a.name()).internalUnreachable())
        .isEqualTo(Unreachable.REJECT_NO_ENDPOINTS);
    assertThat(plans.get(b.name()).sessionAffinity())
        .isEqualTo(ServicePortPlan.SessionAffinity.CLIENT_IP);
    assertThat(plans.get(b.name()).affinityTimeoutSeconds()).isEqualTo(600);
    assertThat(plans.get(a.name()).sessionAffinity())
        .isEqualTo(ServicePortPlan.SessionAffinity.NONE);
  }
}
