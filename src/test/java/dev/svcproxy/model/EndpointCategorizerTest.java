package dev.svcproxy.model;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class EndpointCategorizerTest {
  private static final String NODE = "node-a";

  private static ServicePortInfo svc(TrafficPolicy etp, TrafficPolicy itp, int nodePort) {
    return new ServicePortInfo(
        new ServicePortName("ns", "s", "p", Protocol.TCP),
        "10.96.0.1",
        80,
        nodePort,
        List.of(),
        List.of(),
        List.of(),
        0,
        false,
        0,
        etp,
        itp);
  }

  private static Endpoint ep(String ip, String node, boolean ready, boolean serving, boolean term) {
    return new Endpoint(ip, 80, ready, serving, term, node, "", Set.of(), Set.of());
  }

  private static List<String> ips(List<Endpoint> eps) {
    return eps.stream().map(Endpoint::ip).toList();
  }

  @Test
  void categorize_clusterPolicy_usesReadyEndpointsOnly() {
    var c =
        EndpointCategorizer.categorize(
            List.of(
                ep("10.0.0.1", NODE, true, true, false), ep("10.0.0.2", "b", false, false, false)),
            svc(TrafficPolicy.CLUSTER, TrafficPolicy.CLUSTER, 0),
            NODE,
            "");
    assertThat(ips(c.cluster())).containsExactly("10.0.0.1");
    assertThat(c.local()).isEmpty();
    assertThat(c.hasAny()).isTrue();
  }

  @Test
  void categorize_noReadyEndpoints_fallsBackToServingTerminating() {
    var c =
        EndpointCategorizer.categorize(
            List.of(
                ep("10.0.0.1", "b", false, true, true), ep("10.0.0.2", "b", false, false, true)),
            svc(TrafficPolicy.CLUSTER, TrafficPolicy.CLUSTER, 0),
            NODE,
            "");
    assertThat(ips(c.cluster())).containsExactly("10.0.0.1");
    assertThat(c.hasAny()).isTrue();
  }

  @Test
  void categorize_externalLocal_localSetAndUnionOfBoth() {
    var c =
        EndpointCategorizer.categorize(
            List.of(
                ep("10.0.0.1", "b", true, true, false), ep("10.0.0.2", NODE, false, true, true)),
            svc(TrafficPolicy.LOCAL, TrafficPolicy.CLUSTER, 30000),
            NODE,
            "");
    assertThat(ips(c.cluster())).containsExactly("10.0.0.1");
    // The local set falls back to serving-terminating independently of the cluster set.
    assertThat(ips(c.local())).containsExactly("10.0.0.2");
    assertThat(ips(c.allReachable())).containsExactly("10.0.0.1", "10.0.0.2");
  }

  @Test
  void categorize_internalLocalWithoutLocalEndpoints_hasAnyButNoLocal() {
    var c =
        EndpointCategorizer.categorize(
            List.of(ep("10.0.0.1", "b", true, true, false)),
            svc(TrafficPolicy.CLUSTER, TrafficPolicy.LOCAL, 0),
            NODE,
            "");
    assertThat(c.cluster()).isEmpty();
    assertThat(c.local()).isEmpty();
    assertThat(c.allReachable()).isEmpty();
    assertThat(c.hasAny()).isTrue();
  }

  @Test
  void categorize_zoneHintsForThisZone_filtersClusterSet() {
    Endpoint a = new Endpoint("10.0.0.1", 80, true, true, false, "x", "z1", Set.of("z1"), Set.of());
    Endpoint b = new Endpoint("10.0.0.2", 80, true, true, false, "y", "z2", Set.of("z2"), Set.of());
    var c =
        EndpointCategorizer.categorize(
            List.of(a, b), svc(TrafficPolicy.CLUSTER, TrafficPolicy.CLUSTER, 0), NODE, "z1");
    assertThat(ips(c.cluster())).containsExactly("10.0.0.1");
  }

  @Test
  void categorize_someEndpointsWithoutHints_ignoresHints() {
    Endpoint a = new Endpoint("10.0.0.1", 80, true, true, false, "x", "z1", Set.of("z1"), Set.of());
    Endpoint b = new Endpoint("10.0.0.2", 80, true, true, false, "y", "z2", Set.of(), Set.of());
    var c =
        EndpointCategorizer.categorize(
            List.of(a, b), svc(TrafficPolicy.CLUSTER, TrafficPolicy.CLUSTER, 0), NODE, "z1");
    assertThat(ips(c.cluster())).containsExactly("10.0.0.1", "10.0.0.2");
  }

  @Test
  void categorize_nodeHintsForThisNode_preferSameNode() {
    Endpoint a = new Endpoint("10.0.0.1", 80, true, true, false, NODE, "", Set.of(), Set.of(NODE));
    Endpoint b = new Endpoint("10.0.0.2", 80, true, true, false, "y", "", Set.of(), Set.of("y"));
    var c =
        EndpointCategorizer.categorize(
            List.of(a, b), svc(TrafficPolicy.CLUSTER, TrafficPolicy.CLUSTER, 0), NODE, "");
    assertThat(ips(c.cluster())).containsExactly("10.0.0.1");
  }

  @Test
  void categorize_nothingUsable_hasNoEndpoints() {
    var c =
        EndpointCategorizer.categorize(
            List.of(ep("10.0.0.1", NODE, false, false, false)),
            svc(TrafficPolicy.LOCAL, TrafficPolicy.CLUSTER, 30000),
            NODE,
            "");
    assertThat(c.hasAny()).isFalse();
    assertThat(c.allReachable()).isEmpty();
  }
}
