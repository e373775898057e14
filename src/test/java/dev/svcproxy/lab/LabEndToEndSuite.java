package dev.svcproxy.lab;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.lab.Connection.Outcome;
import dev.svcproxy.testutil.KernelTests;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * svcproxy run in both nodes of the two-node lab; real packets, and what the backends saw. The
 * tests that change manifests or stop a proxy run last, in order. One subclass per proxy mode: the
 * expectations are the same, since the modes promise the same behaviour.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
abstract class LabEndToEndSuite {
  private DemoCluster cluster;
  private Lab lab;

  @BeforeAll
  void start() {
    KernelTests.require("lab tests");
    CommandRunner runner = new ProcessCommandRunner();
    Lab.removeStale(runner);
    cluster = DemoCluster.start(runner, mode());
    lab = cluster.lab();
  }

  @AfterAll
  void stop() {
    if (cluster != null) {
      cluster.close();
    }
  }

  private Lab.Pod client() {
    return lab.pod("client");
  }

  private List<Connection> connectMany(String netns, String ip, int port, int n) {
    List<Connection> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      out.add(lab.connect(netns, ip, port));
    }
    return out;
  }

  @Test
  @Order(1)
  void podToClusterIp_reachesEveryEndpoint_withThePodsOwnAddress() {
    List<Connection> cs = connectMany(client().netns(), DemoCluster.WEB, 80, 24);
    assertThat(cs).allSatisfy(c -> assertThat(c.outcome()).isEqualTo(Outcome.REPLIED));
    assertThat(cs)
        .extracting(Connection::backend)
        .containsOnly("web-a", "web-b")
        .contains("web-a", "web-b");
    assertThat(cs).extracting(Connection::peer).containsOnly(client().ip());
  }

  @Test
  @Order(1)
  void nodeToClusterIp_works() {
    Lab.Node n1 = lab.node("node1");
    Set<String> backends = new HashSet<>();
    for (Connection c : connectMany(n1.netns(), DemoCluster.WEB, 80, 12)) {
      assertThat(c.outcome()).isEqualTo(Outcome.REPLIED);
      backends.add(c.backend());
    }
    assertThat(backends).containsExactlyInAnyOrder("web-a", "web-b");
  }

  @Test
  @Order(1)
  void externalToNodePort_clusterPolicy_isSnatedToTheNode() {
    Lab.Client ext = lab.client("ext");
    Lab.Node n1 = lab.node("node1");
    List<Connection> cs = connectMany(ext.netns(), n1.ip(), DemoCluster.WEB_NODEPORT, 12);
    assertThat(cs).allSatisfy(c -> assertThat(c.outcome()).isEqualTo(Outcome.REPLIED));
    assertThat(cs).extracting(Connection::backend).contains("web-b");
    // Remote endpoints see node1's fabric address, the local one node1's bridge address.
    assertThat(cs).extracting(Connection::peer).containsOnly(n1.ip(), n1.bridgeIp());
  }

  @Test
  @Order(1)
  void externalToNodePort_localPolicy_keepsClientAddressOnEndpointNode() {
    Lab.Client ext = lab.client("ext");
    Connection c = lab.connect(ext.netns(), lab.node("node2").ip(), DemoCluster.WEB_LOCAL_NODEPORT);
    assertThat(c.outcome()).isEqualTo(Outcome.REPLIED);
    assertThat(c.backend()).isEqualTo("web-b");
    assertThat(c.peer()).isEqualTo(ext.ip());
  }

  @Test
  @Order(1)
  void externalToNodePort_localPolicy_droppedOnNodeWithoutEndpoint() {
    Connection c =
        lab.connect(
            lab.client("ext").netns(), lab.node("node1").ip(), DemoCluster.WEB_LOCAL_NODEPORT);
    assertThat(c.outcome()).isEqualTo(Outcome.TIMED_OUT);
  }

  @Test
  @Order(1)
  void serviceWithoutEndpoints_isRefusedAtOnce() {
    long start = System.nanoTime();
    Connection c = lab.connect(client().netns(), DemoCluster.EMPTY, 80);
    long ms = (System.nanoTime() - start) / 1_000_000;
    assertThat(c.outcome()).isEqualTo(Outcome.REFUSED);
    assertThat(ms).isLessThan(1500);
  }

  @Test
  @Order(1)
  void podToItsOwnService_hairpinIsMasqueraded() {
    Lab.Pod webA = lab.pod("web-a");
    Connection c = lab.connect(webA.netns(), DemoCluster.SELF, 80);
    assertThat(c.outcome()).isEqualTo(Outcome.REPLIED);
    assertThat(c.backend()).isEqualTo("web-a");
    assertThat(c.peer()).isEqualTo(webA.node().bridgeIp());
  }

  @Test
  @Order(1)
  void loadBalancerSourceRanges_admitListedClientAndDropOthers() {
    Connection allowed = lab.connect(lab.client("ext").netns(), DemoCluster.LB_VIP, 80);
    assertThat(allowed.outcome()).isEqualTo(Outcome.REPLIED);
    Connection blocked = lab.connect(lab.client("ext2").netns(), DemoCluster.LB_VIP, 80);
    assertThat(blocked.outcome()).isEqualTo(Outcome.TIMED_OUT);
  }

  @Test
  @Order(1)
  void externalIp_reachesTheService() {
    Lab.Client ext = lab.client("ext");
    Connection c = lab.connect(ext.netns(), DemoCluster.EXTERNAL_IP, 80);
    assertThat(c.outcome()).isEqualTo(Outcome.REPLIED);
    assertThat(c.peer()).isNotEqualTo(ext.ip());
  }

  @Test
  @Order(1)
  void clientIpAffinity_sticksToOneBackend() {
    List<Connection> cs = connectMany(client().netns(), DemoCluster.STICKY, 80, 12);
    assertThat(cs).allSatisfy(c -> assertThat(c.outcome()).isEqualTo(Outcome.REPLIED));
    assertThat(cs.stream().map(Connection::backend).distinct()).hasSize(1);
  }

  /** The proxy mode svcproxy runs in on both nodes. */
  abstract String mode();

  /** The node's service rules as the kernel lists them (the mode's own NAT state). */
  abstract String natRules(Lab.Node n);

  /**
   * Whether {@code rules} still send anything to the endpoint {@code ipPort} ("10.244.1.2:8080").
   */
  abstract boolean sendsTo(String rules, String ipPort);

  /** iptables mode's view of the rules. */
  abstract static class IptablesMode extends LabEndToEndSuite {
    @Override
    String mode() {
      return "iptables";
    }

    @Override
    String natRules(Lab.Node n) {
      return lab()
          .in(n.netns(), "iptables-save", "-t", "nat")
          .stdout()
          .lines()
          .filter(l -> l.startsWith("-A"))
          .reduce("", (a, b) -> a + b + "\n");
    }

    @Override
    boolean sendsTo(String rules, String ipPort) {
      return rules.contains("web:http -> " + ipPort);
    }
  }

  Lab lab() {
    return lab;
  }

  @Test
  @Order(2)
  void malformedManifest_leavesWorkingRulesUntouched() throws Exception {
    Lab.Node n1 = lab.node("node1");
    String before = natRules(n1);
    int warned = cluster.proxy(1).count("manifest problem");
    cluster.writeManifest(
        "broken.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: bad}\nspec: {clusterIP: 10.96.0.999, ports: [{port: 80}]}\n---\nkind: [unclosed\n");
    cluster.proxy(1).awaitLog("manifest problem", warned + 1, Duration.ofSeconds(5));
    assertThat(cluster.proxy(1).log()).contains("broken.yaml: document 1:").contains("10.96.0.999");
    Thread.sleep(1500);
    assertThat(natRules(n1)).isEqualTo(before);
    assertThat(lab.connect(client().netns(), DemoCluster.WEB, 80).outcome())
        .isEqualTo(Outcome.REPLIED);
    java.nio.file.Files.delete(cluster.manifests().resolve("broken.yaml"));
  }

  @Test
  @Order(3)
  void endpointSliceEdit_takesEffectWithinTwoSeconds() {
    Lab.Node n1 = lab.node("node1");
    String webB = lab.pod("web-b").ip() + ":" + DemoCluster.BACKEND_PORT;
    assertThat(sendsTo(natRules(n1), webB)).as("node1 sends to web-b before the edit").isTrue();
    long start = System.nanoTime();
    cluster.writeManifest("endpoints.yaml", cluster.endpointSlices(false));
    long elapsedMs = -1;
    while (System.nanoTime() - start < Duration.ofSeconds(5).toNanos()) {
      if (!sendsTo(natRules(n1), webB)) {
        elapsedMs = (System.nanoTime() - start) / 1_000_000;
        break;
      }
    }
    assertThat(elapsedMs).as("ms until node1 dropped web-b").isBetween(0L, 2000L);
    assertThat(connectMany(client().netns(), DemoCluster.WEB, 80, 8))
        .extracting(Connection::backend)
        .containsOnly("web-a");
  }
}
