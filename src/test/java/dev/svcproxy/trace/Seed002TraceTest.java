package dev.svcproxy.trace;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.lab.Connection;
import dev.svcproxy.lab.DemoCluster;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.testutil.KernelTests;
import dev.svcproxy.trace.bundle.BundleCapture;
import dev.svcproxy.trace.bundle.BundleReader;
import dev.svcproxy.trace.engine.Tracer;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Seed 002 on a real lab: a NodePort Service with externalTrafficPolicy=Local whose only endpoint
 * is on node2, traced on bundles captured from the nodes and checked against real packets.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class Seed002TraceTest {
  private DemoCluster cluster;
  private Lab lab;
  private NodeState node1;
  private NodeState node2;

  @BeforeAll
  void start() {
    KernelTests.require("lab tests");
    cluster = DemoCluster.start(new ProcessCommandRunner());
    lab = cluster.lab();
    node1 =
        BundleReader.fromFiles(
            BundleCapture.capture(lab.runner().inNetns(lab.node("node1").netns())));
    node2 =
        BundleReader.fromFiles(
            BundleCapture.capture(lab.runner().inNetns(lab.node("node2").netns())));
  }

  @AfterAll
  void stop() {
    if (cluster != null) {
      cluster.close();
    }
  }

  private TraceResult trace(NodeState n, String src, String dst, int port) {
    TraceResult r = new Tracer(n).trace(new PacketSpec(src, 40000, dst, port, "tcp", null));
    System.out.println(TraceFormatter.text(r));
    return r;
  }

  @Test
  void externalToNodeWithoutEndpoint_isDropped_asRealPacketsAre() {
    String ext = lab.client("ext").ip();
    TraceResult r = trace(node1, ext, lab.node("node1").ip(), DemoCluster.WEB_LOCAL_NODEPORT);
    assertThat(r.outcomes())
        .singleElement()
        .satisfies(
            o -> {
              assertThat(o.verdict()).isEqualTo(Verdict.DROP);
              assertThat(o.steps())
                  .anyMatch(
                      s ->
                          s.chain().equals("KUBE-EXTERNAL-SERVICES")
                              && s.effect().startsWith("DROP"));
            });
    Connection real =
        lab.connect(
            lab.client("ext").netns(), lab.node("node1").ip(), DemoCluster.WEB_LOCAL_NODEPORT);
    assertThat(real.outcome()).isEqualTo(Connection.Outcome.TIMED_OUT);
  }

  @Test
  void nodeToItsOwnNodePort_goesToEveryEndpointThroughTheClusterChain() {
    Lab.Node n1 = lab.node("node1");
    TraceResult r = trace(node1, null, n1.ip(), DemoCluster.WEB_LOCAL_NODEPORT);
    assertThat(r.outcomes())
        .allSatisfy(
            o -> {
              assertThat(o.verdict()).isEqualTo(Verdict.ACCEPT);
              assertThat(o.steps()).anyMatch(s -> s.effect().startsWith("jump KUBE-SVC-"));
              assertThat(o.masquerade()).isTrue();
            });
    assertThat(r.outcomes())
        .extracting(Outcome::dnat)
        .containsExactly(lab.pod("web-b").ip() + ":" + DemoCluster.BACKEND_PORT);
    Connection real = lab.connect(n1.netns(), n1.ip(), DemoCluster.WEB_LOCAL_NODEPORT);
    assertThat(real.outcome()).isEqualTo(Connection.Outcome.REPLIED);
    assertThat(real.backend()).isEqualTo("web-b");
    assertThat(real.peer()).isEqualTo(r.outcomes().get(0).snat().split(":")[0]);
  }

  @Test
  void externalToNodeWithEndpoint_goesToTheLocalEndpointOnly_keepingTheClient() {
    String ext = lab.client("ext").ip();
    TraceResult r = trace(node2, ext, lab.node("node2").ip(), DemoCluster.WEB_LOCAL_NODEPORT);
    assertThat(r.outcomes())
        .singleElement()
        .satisfies(
            o -> {
              assertThat(o.verdict()).isEqualTo(Verdict.ACCEPT);
              assertThat(o.dnat())
                  .isEqualTo(lab.pod("web-b").ip() + ":" + DemoCluster.BACKEND_PORT);
              assertThat(o.snat()).isNull();
              assertThat(o.steps()).anyMatch(s -> s.effect().startsWith("jump KUBE-SVL-"));
            });
    Connection real =
        lab.connect(
            lab.client("ext").netns(), lab.node("node2").ip(), DemoCluster.WEB_LOCAL_NODEPORT);
    assertThat(real.peer()).isEqualTo(ext);
  }

  @Test
  void podToClusterIp_branchesEvenlyOverBothEndpoints() {
    Lab.Pod client = lab.pod("client");
    TraceResult r = trace(node1, client.ip(), DemoCluster.WEB, 80);
    assertThat(r.outcomes()).hasSize(2);
    assertThat(r.outcomes())
        .allSatisfy(
            o ->
                assertThat(o.probability())
                    .isCloseTo(0.5, org.assertj.core.data.Offset.offset(1e-6)));
    assertThat(r.outcomes())
        .extracting(Outcome::dnat)
        .containsExactlyInAnyOrder(
            lab.pod("web-a").ip() + ":8080", lab.pod("web-b").ip() + ":8080");
    assertThat(r.outcomes()).extracting(Outcome::snat).containsOnly((String) null);
    List<String> delivery = r.outcomes().stream().map(Outcome::delivery).toList();
    assertThat(delivery).containsOnly("forward");
  }

  @Test
  void captureAndTraceCommands_onALabNode_agreeWithTheKernel(
      @org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
    java.io.StringWriter out = new java.io.StringWriter();
    java.io.PrintWriter pw = new java.io.PrintWriter(out, true);
    String ns = lab.node("node2").netns();
    assertThat(
            dev.svcproxy.cli.Main.execute(
                new String[] {"capture", "--netns", ns, "--out", dir.toString()}, pw, pw))
        .isEqualTo(0);
    assertThat(dir.resolve("iptables-save.txt")).content().contains("KUBE-SERVICES");
    assertThat(dir.resolve("ip-route.json")).exists();
    assertThat(dir.resolve("sysctl.txt")).content().contains("ip_forward");
    out.getBuffer().setLength(0);
    int code =
        dev.svcproxy.cli.Main.execute(
            new String[] {
              "trace",
              "--live",
              "--netns",
              ns,
              "--src",
              lab.client("ext").ip(),
              "--dst",
              lab.node("node2").ip() + ":" + DemoCluster.WEB_LOCAL_NODEPORT,
              "-o",
              "json"
            },
            pw,
            pw);
    assertThat(code).isEqualTo(0);
    assertThat(out.toString())
        .contains("\"dnat\" : \"" + lab.pod("web-b").ip() + ":" + DemoCluster.BACKEND_PORT + "\"");
  }
}
