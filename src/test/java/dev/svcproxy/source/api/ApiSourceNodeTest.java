package dev.svcproxy.source.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.svcproxy.source.NodeInfo;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.NamespacedKubernetesClient;
import io.fabric8.kubernetes.client.dsl.NonDeletingOperation;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * This Node through ApiSource, against the CRUD mock server. Expected facts follow upstream: node
 * IPs as utilnode.GetNodeHostIPs orders them (InternalIP before ExternalIP, whatever the order in
 * status.addresses), eligibility as pkg/proxy/healthcheck's nodeEligible (not being deleted, no
 * ToBeDeletedByClusterAutoscaler taint).
 */
class ApiSourceNodeTest {
  /**
   * The bound of every wait for a condition here (the source has seen the Node, a watch is open):
   * each ends when its condition holds, so this bounds a hang. Under load (2 cores, load 40) a cold
   * JVM's first list took longer than the former 20 s.
   */
  private static final Duration WAIT = Duration.ofMinutes(2);

  private static final Duration WRITE_LIMIT = Duration.ofMinutes(2);
  private final List<AutoCloseable> open = new ArrayList<>();

  @AfterEach
  void closeAll() throws Exception {
    for (int i = open.size() - 1; i >= 0; i--) {
      open.get(i).close();
    }
  }

  private MockApiServer server() {
    MockApiServer s = MockApiServer.start(0);
    open.add(s);
    return s;
  }

  /**
   * The test's own client. Its request timeout bounds a hang only: the mock runs in this JVM, and
   * its first request in a cold JVM on a loaded machine took longer than the default 10 s (and 20 s
   * with the client's retries). Its creates are createOr(update): a retried POST that had reached
   * the mock was answered 409 AlreadyExists.
   */
  private KubernetesClient writer(MockApiServer s) {
    NamespacedKubernetesClient base = s.client();
    open.add(base);
    KubernetesClient c =
        new KubernetesClientBuilder()
            .withConfig(
                new ConfigBuilder(base.getConfiguration())
                    .withRequestTimeout((int) WRITE_LIMIT.toMillis())
                    .build())
            .build();
    open.add(c);
    return c;
  }

  private ApiSource source(MockApiServer s, String node) {
    KubernetesClient c =
        ApiClientConfig.client(
            ApiClientConfig.choose(null, null, s.url(), null, Map.of()).orElseThrow());
    ApiSource src = ApiSource.start(c, node, Duration.ofMinutes(15));
    open.add(src);
    return src;
  }

  private static Node node(String name) {
    return new NodeBuilder()
        .withNewMetadata()
        .withName(name)
        .withLabels(Map.of("topology.kubernetes.io/zone", "zone-b"))
        .endMetadata()
        .withNewSpec()
        .withPodCIDR("10.244.7.0/24")
        .withPodCIDRs("fd00:7::/64", "10.244.7.0/24")
        .endSpec()
        .withNewStatus()
        .addNewAddress()
        .withType("Hostname")
        .withAddress("n7")
        .endAddress()
        .addNewAddress()
        .withType("ExternalIP")
        .withAddress("203.0.113.7")
        .endAddress()
        .addNewAddress()
        .withType("InternalIP")
        .withAddress("fd00::7")
        .endAddress()
        .addNewAddress()
        .withType("InternalIP")
        .withAddress("192.168.7.7")
        .endAddress()
        .endStatus()
        .build();
  }

  @Test
  void node_thisNodesObject_givesItsFacts() throws Exception {
    MockApiServer s = server();
    KubernetesClient k = writer(s);
    k.nodes().resource(node("other")).createOr(NonDeletingOperation::update);
    k.nodes().resource(node("n7")).createOr(NonDeletingOperation::update);
    ApiSource src = source(s, "n7");
    NodeInfo n = src.awaitNode(i -> true, WAIT).orElseThrow();
    assertThat(n.name()).isEqualTo("n7");
    assertThat(n.addresses()).containsExactly("192.168.7.7", "203.0.113.7");
    assertThat(n.primaryIp()).contains("192.168.7.7");
    assertThat(n.podCidrIpv4()).contains("10.244.7.0/24");
    assertThat(n.zone()).isEqualTo("zone-b");
    assertThat(n.eligible()).isTrue();
    assertThat(src.nodeEligible()).isTrue();
    // What run hands the health server: the API feed's Node; manifests have none.
    assertThat(Feed.of(src).node()).contains(n);
  }

  /** Upstream's TestHealthzServer: only the autoscaler's ToBeDeleted taint drains the node. */
  @Test
  void nodeInfo_otherTaint_staysEligible_toBeDeletedTaint_not() {
    Node tainted =
        new NodeBuilder(node("n7"))
            .editSpec()
            .addNewTaint()
            .withKey("other")
            .withEffect("NoSchedule")
            .endTaint()
            .endSpec()
            .build();
    assertThat(ApiSource.nodeInfo(tainted).eligible()).isTrue();
    Node deleting =
        new NodeBuilder(tainted)
            .editSpec()
            .addNewTaint()
            .withKey(NodeInfo.TO_BE_DELETED_TAINT)
            .withEffect("NoSchedule")
            .endTaint()
            .endSpec()
            .build();
    assertThat(ApiSource.nodeInfo(deleting).eligible()).isFalse();
  }

  @Test
  void node_taintedForAutoscalerDeletion_isIneligible() throws Exception {
    MockApiServer s = server();
    KubernetesClient k = writer(s);
    k.nodes().resource(node("n7")).createOr(NonDeletingOperation::update);
    ApiSource src = source(s, "n7");
    List<NodeInfo> changes = new CopyOnWriteArrayList<>();
    src.onNodeChange(changes::add);
    src.awaitNode(NodeInfo::eligible, WAIT).orElseThrow();
    // The CRUD mock replays nothing to a watch that starts after a change (a real API server
    // does, from the list's resourceVersion): change the Node only once the watch is open.
    assertThat(s.awaitWatches(WAIT, "nodes")).isTrue();
    k.nodes()
        .withName("n7")
        .edit(
            n ->
                new NodeBuilder(n)
                    .editSpec()
                    .addNewTaint()
                    .withKey("ToBeDeletedByClusterAutoscaler")
                    .withValue("1700000000")
                    .withEffect("NoSchedule")
                    .endTaint()
                    .endSpec()
                    .build());
    NodeInfo n = src.awaitNode(i -> !i.eligible(), WAIT).orElseThrow();
    assertThat(n.toBeDeleted()).isTrue();
    assertThat(n.deleting()).isFalse();
    assertThat(src.nodeEligible()).isFalse();
    // Listeners are told after the Node is stored: wait for the call, do not race it.
    long end = System.nanoTime() + WAIT.toNanos();
    while (changes.stream().allMatch(NodeInfo::eligible) && System.nanoTime() < end) {
      Thread.sleep(10);
    }
    assertThat(changes).anySatisfy(c -> assertThat(c.eligible()).isFalse());
  }

  @Test
  void node_deleted_isIneligible() throws Exception {
    MockApiServer s = server();
    KubernetesClient k = writer(s);
    k.nodes().resource(node("n7")).createOr(NonDeletingOperation::update);
    ApiSource src = source(s, "n7");
    src.awaitNode(NodeInfo::eligible, WAIT).orElseThrow();
    // The CRUD mock replays nothing to a watch that starts after a change (a real API server
    // does, from the list's resourceVersion): change the Node only once the watch is open.
    assertThat(s.awaitWatches(WAIT, "nodes")).isTrue();
    k.nodes().withName("n7").delete();
    NodeInfo n = src.awaitNode(i -> !i.eligible(), WAIT).orElseThrow();
    assertThat(n.deleting()).isTrue();
  }

  @Test
  void serviceCidrs_fromServiceCidrObjects_followThem() throws Exception {
    MockApiServer s = server();
    KubernetesClient k = writer(s);
    k.network()
        .v1()
        .serviceCIDRs()
        .resource(
            new io.fabric8.kubernetes.api.model.networking.v1.ServiceCIDRBuilder()
                .withNewMetadata()
                .withName("kubernetes")
                .endMetadata()
                .withNewSpec()
                .withCidrs("10.96.0.0/16", "fd00:96::/112")
                .endSpec()
                .build())
        .createOr(NonDeletingOperation::update);
    ApiSource src = source(s, "n7");
    await(
        () ->
            src.serviceCidrs()
                .equals(
                    List.of(
                        dev.svcproxy.model.Cidr.parse("10.96.0.0/16"),
                        dev.svcproxy.model.Cidr.parse("fd00:96::/112"))));
    // A delete reaches only a watch open at the time: the watch the CRUD mock opens later is sent
    // the objects that exist, so a delete between the list and the watch would never be seen.
    assertThat(s.awaitWatches(WAIT, "servicecidrs")).isTrue();
    k.network().v1().serviceCIDRs().withName("kubernetes").delete();
    await(() -> src.serviceCidrs().isEmpty());
  }

  private static void await(java.util.function.BooleanSupplier ok) throws InterruptedException {
    long end = System.nanoTime() + WAIT.toNanos();
    while (!ok.getAsBoolean()) {
      assertThat(System.nanoTime()).as("condition met in time").isLessThan(end);
      Thread.sleep(20);
    }
  }

  @Test
  void nodeFacts_await_takesIpPodCidrAndZoneFromTheNode() throws Exception {
    MockApiServer s = server();
    writer(s).nodes().resource(node("n7")).createOr(NonDeletingOperation::update);
    ApiSource src = source(s, "n7");
    NodeFacts f = NodeFacts.await(src, "n7", true, true, true, WAIT, WAIT);
    assertThat(f).isEqualTo(new NodeFacts("192.168.7.7", "10.244.7.0/24", "zone-b"));
  }

  @Test
  void nodeFacts_await_onlyWhatIsAskedFor() throws Exception {
    MockApiServer s = server();
    writer(s).nodes().resource(node("n7")).createOr(NonDeletingOperation::update);
    ApiSource src = source(s, "n7");
    NodeFacts f = NodeFacts.await(src, "n7", false, true, false, WAIT, WAIT);
    assertThat(f).isEqualTo(new NodeFacts(null, "10.244.7.0/24", null));
  }

  @Test
  void nodeFacts_podCidrNeverSet_failsNamingTheNode() throws Exception {
    MockApiServer s = server();
    Node bare =
        new NodeBuilder(node("n7")).editSpec().withPodCIDR(null).withPodCIDRs().endSpec().build();
    writer(s).nodes().resource(bare).createOr(NonDeletingOperation::update);
    ApiSource src = source(s, "n7");
    src.awaitNode(i -> true, WAIT).orElseThrow();
    assertThatThrownBy(
            () -> NodeFacts.await(src, "n7", false, true, false, WAIT, Duration.ofMillis(300)))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("Node n7")
        .hasMessageContaining("spec.podCIDRs");
  }

  @Test
  void nodeFacts_noNode_keepsTheFlagDefaults() throws Exception {
    MockApiServer s = server();
    ApiSource src = source(s, "n7");
    NodeFacts f = NodeFacts.await(src, "n7", true, false, true, Duration.ofMillis(300), WAIT);
    assertThat(f).isEqualTo(new NodeFacts(null, null, null));
    assertThat(src.node()).isEqualTo(Optional.empty());
    assertThat(src.nodeEligible()).isTrue();
  }
}
