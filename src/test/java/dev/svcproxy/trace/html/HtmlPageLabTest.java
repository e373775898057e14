package dev.svcproxy.trace.html;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.svcproxy.cli.Main;
import dev.svcproxy.lab.Connection;
import dev.svcproxy.lab.DemoCluster;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.testutil.DemoClusterExtension;
import dev.svcproxy.trace.bundle.BundleCapture;
import java.awt.image.BufferedImage;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The trace and doctor pages of real traces: bundles captured from the two-node demo cluster, each
 * case first shown with a real connection, then the page rendered in headless Chromium.
 */
class HtmlPageLabTest {
  /** The packet box's fill: proves the chart was painted. */
  private static final int PACKET_FILL = 0xe6f4ea;

  @RegisterExtension static final DemoClusterExtension demo = DemoClusterExtension.iptables();
  private final DemoCluster cluster = demo.cluster();
  private final Lab lab = demo.lab();
  @TempDir Path tmp;

  @BeforeAll
  static void chromium() {
    Chromium.binary();
  }

  private Path capture(String node, String name) {
    Path dir = tmp.resolve(name);
    BundleCapture.captureInto(lab.runner().inNetns(lab.node(node).netns()), dir);
    return dir;
  }

  private static String run(int exit, String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    assertThat(Main.execute(args, new PrintWriter(out, true), new PrintWriter(err, true)))
        .as(err.toString())
        .isEqualTo(exit);
    return out.toString();
  }

  /** The element with {@code id} as the dumped DOM has it (up to its end tag). */
  private static String element(String dom, String tag, String id) {
    int at = dom.indexOf("id=\"" + id + "\"");
    assertThat(at).as(id + " in the page").isGreaterThan(0);
    int start = dom.lastIndexOf("<" + tag, at);
    return dom.substring(start, dom.indexOf("</" + tag + ">", at));
  }

  /** Renders the page, checks the console and the highlight; returns the dumped DOM and probe. */
  private record Seen(String dom, JsonNode probe) {}

  private Seen render(String html, String name) throws Exception {
    Path file = Chromium.withProbe(html, tmp.resolve(name + ".html"));
    Chromium.Result dom = Chromium.dumpDom(file, 1400, 1200);
    assertThat(dom.console()).as("console").isEmpty();
    JsonNode probe = Chromium.probe(dom.stdout());
    assertThat(probe.get("errors")).isEmpty();
    assertThat(probe.get("boxes").asInt()).isPositive();
    JsonNode failing = probe.get("failing");
    int height =
        failing.isNull()
            ? 1200
            // Headless Chromium's screenshot is shorter than --window-size by up to ~90 px
            // (seen: a box ending 40 px above the window's bottom was cut off): leave room.
            : Math.max(
                1200, (int) (failing.get("y").asDouble() + failing.get("h").asDouble()) + 200);
    BufferedImage shot = Chromium.screenshot(file, 1400, height, tmp.resolve(name + ".png"));
    JsonNode other = probe.get("other");
    assertThat(Chromium.pixels(shot, other, PACKET_FILL))
        .as("the packet's box is painted " + other)
        .isGreaterThan(Chromium.area(other) / 2);
    assertThat(Chromium.pixels(shot, other, TracePageChromiumTest.HIGHLIGHT)).isZero();
    if (!failing.isNull()) {
      assertThat(Chromium.pixels(shot, failing, TracePageChromiumTest.HIGHLIGHT))
          .as("highlight pixels in the failing step's box " + failing)
          .isGreaterThan(Chromium.area(failing) / 2);
    }
    return new Seen(dom.stdout(), probe);
  }

  @Test
  void tracePage_externalToNodePortWithoutLocalEndpoint_highlightsKubeProxysDrop()
      throws Exception {
    // Seed 002: web-local (externalTrafficPolicy Local) has its only endpoint on node2, so node1
    // drops external traffic to its NodePort.
    Lab.Node n1 = lab.node("node1");
    Lab.Client ext = lab.client("ext");
    assertThat(
            lab.connect(ext.netns(), n1.ip(), DemoCluster.WEB_LOCAL_NODEPORT, Duration.ofSeconds(2))
                .outcome())
        .isEqualTo(Connection.Outcome.TIMED_OUT);
    Path bundle = capture("node1", "etp");
    String html =
        run(
            1,
            "trace",
            "--bundle",
            bundle.toString(),
            "--src",
            ext.ip(),
            "--dst",
            n1.ip() + ":" + DemoCluster.WEB_LOCAL_NODEPORT,
            "--in-iface",
            "eth0",
            "--format",
            "html");
    Seen seen = render(html, "etp");
    assertThat(seen.probe().get("failingIds")).hasSize(1);
    String box = seen.probe().get("failingIds").get(0).asText();
    // Upstream's rule for it: filter KUBE-EXTERNAL-SERVICES, "... has no local endpoints", DROP.
    assertThat(element(seen.dom(), "a", box)).contains("filter KUBE-EXTERNAL-SERVICES #");
    assertThat(element(seen.dom(), "tr", box.substring(2)))
        .contains("has no local endpoints")
        .contains("-j DROP")
        .contains("iptables-save.txt:");
  }

  @Test
  void tracePage_clusterIpWithTwoEndpoints_drawsTwoBranchesOfOneHalf() throws Exception {
    Lab.Pod client = lab.pod("client");
    assertThat(lab.connect(client.netns(), DemoCluster.WEB, 80).outcome())
        .isEqualTo(Connection.Outcome.REPLIED);
    Path bundle = capture("node1", "web");
    String html =
        run(
            0,
            "trace",
            "--bundle",
            bundle.toString(),
            "--src",
            client.ip(),
            "--dst",
            DemoCluster.WEB + ":80",
            "--format",
            "html");
    Seen seen = render(html, "web");
    assertThat(seen.probe().get("failingIds")).isEmpty();
    // web has two endpoints (web-a, web-b): kube-proxy's statistic rule gives each one half.
    assertThat(seen.dom().split("p 0\\.5000 \\(50\\.0%\\)", -1)).hasSize(3);
    assertThat(seen.dom()).contains("DNAT to " + lab.pod("web-a").ip() + ":8080");
    assertThat(seen.dom()).contains("DNAT to " + lab.pod("web-b").ip() + ":8080");
  }

  @Test
  void doctorPage_forwardingOff_namesTheFindingAndHighlightsTheRoutingStep() throws Exception {
    Lab.Node n1 = lab.node("node1");
    Lab.Pod client = lab.pod("client");
    lab.in(n1.netns(), "sysctl", "-w", "net.ipv4.ip_forward=0");
    try {
      assertThat(lab.connect(client.netns(), DemoCluster.WEB, 80).outcome())
          .isEqualTo(Connection.Outcome.TIMED_OUT);
      Path bundle = capture("node1", "noforward");
      String html =
          run(
              1,
              "doctor",
              "--bundle",
              bundle.toString(),
              "--src",
              client.ip(),
              "--dst",
              DemoCluster.WEB + ":80",
              "--format",
              "html");
      Seen seen = render(html, "noforward");
      assertThat(element(seen.dom(), "article", "f1"))
          .contains("ip-forward-off")
          .contains("sysctl.txt:")
          .contains("net.ipv4.ip_forward = 0");
      assertThat(seen.probe().get("failingIds")).isNotEmpty();
      for (JsonNode id : seen.probe().get("failingIds")) {
        assertThat(element(seen.dom(), "a", id.asText())).contains("routing decision");
      }
    } finally {
      lab.in(n1.netns(), "sysctl", "-w", "net.ipv4.ip_forward=1");
    }
  }
}
