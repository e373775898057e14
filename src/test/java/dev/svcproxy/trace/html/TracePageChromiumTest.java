package dev.svcproxy.trace.html;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.svcproxy.cli.Main;
import dev.svcproxy.trace.Outcome;
import dev.svcproxy.trace.Step;
import dev.svcproxy.trace.StepKind;
import dev.svcproxy.trace.TraceResult;
import java.awt.image.BufferedImage;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The trace page in headless Chromium, on a hand-written bundle whose one rule carries markup in
 * its comment: the page renders, the markup stays text, nothing but the page's own script runs, the
 * console stays silent, and the failing step is visibly highlighted.
 */
class TracePageChromiumTest {
  /** The failing step's fill, written down here rather than read from the page's style. */
  static final int HIGHLIGHT = 0xffb0b0;

  static final String HOSTILE =
      "<img src=x onerror=document.title='pwned'><script>document.title='pwned'</script></svg>&amp;";

  @TempDir Path tmp;

  static String page(Path bundle, String... trace) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    String[] args = new String[trace.length + 5];
    args[0] = "trace";
    args[1] = "--bundle";
    args[2] = bundle.toString();
    System.arraycopy(trace, 0, args, 3, trace.length);
    args[trace.length + 3] = "--format";
    args[trace.length + 4] = "html";
    Main.execute(args, new PrintWriter(out, true), new PrintWriter(err, true));
    assertThat(err.toString()).isEmpty();
    return out.toString();
  }

  static void writeHostileBundle(Path dir) throws Exception {
    Files.createDirectories(dir);
    Files.writeString(
        dir.resolve("iptables-save.txt"),
        """
        *nat
        :PREROUTING ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        :POSTROUTING ACCEPT [0:0]
        COMMIT
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        :KUBE-SERVICES - [0:0]
        -A OUTPUT -j KUBE-SERVICES
        -A KUBE-SERVICES -d 10.96.0.99/32 -p tcp -m comment --comment "%s" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable
        COMMIT
        """
            .formatted(HOSTILE));
    Files.writeString(
        dir.resolve("ip-addr.txt"),
        """
        1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN group default qlen 1000
            inet 127.0.0.1/8 scope host lo
        2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP group default qlen 1000
            inet 192.168.1.10/24 brd 192.168.1.255 scope global eth0
        """);
    Files.writeString(
        dir.resolve("ip-route.txt"),
        """
        default via 192.168.1.1 dev eth0
        192.168.1.0/24 dev eth0 proto kernel scope link src 192.168.1.10
        """);
  }

  @Test
  void consoleLog_pageWithScriptError_isReported() throws Exception {
    // The positive control for every "no console errors" check: a page that throws, logs and
    // tries to load a remote image under a no-network policy shows up in the console lines.
    Path page = tmp.resolve("broken.html");
    Files.writeString(
        page,
        "<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\""
            + " content=\"default-src 'none'; script-src 'unsafe-inline'\"></head><body>"
            + "<script>noSuchFunction();</script><img src=\"http://192.0.2.1/x.png\"></body></html>");
    Chromium.Result r = Chromium.dumpDom(page, 800, 600);
    assertThat(r.console())
        .anyMatch(l -> l.contains("noSuchFunction is not defined"))
        .anyMatch(l -> l.contains("Content Security Policy"));
  }

  @Test
  void tracePage_hostileRuleComment_rendersAsTextAndHighlightsTheRejectingStep() throws Exception {
    Path bundle = tmp.resolve("bundle");
    writeHostileBundle(bundle);
    String html = page(bundle, "--dst", "10.96.0.99:80");
    Path file = Chromium.withProbe(html, tmp.resolve("page.html"));

    Chromium.Result dom = Chromium.dumpDom(file, 1400, 1200);
    assertThat(dom.console()).as("console").isEmpty();
    JsonNode probe = Chromium.probe(dom.stdout());
    assertThat(probe.get("errors")).isEmpty();
    assertThat(probe.get("title").asText())
        .isEqualTo("svcproxy trace: tcp (this node) \u2192 10.96.0.99:80");
    // The comment is text: no element came out of it, and it is shown (escaped) where the rule is.
    assertThat(dom.stdout())
        .doesNotContain("<img")
        .contains("&lt;img src=x onerror=document.title='pwned'&gt;&lt;script&gt;");
    assertThat(dom.stdout().split("<script>", -1)).hasSize(3); // the probe's and the page's own
    // By hand: created here (1), routed (2), conntrack (3), filter OUTPUT #1 jumps (4), and
    // KUBE-SERVICES #1 rejects (5).
    assertThat(probe.get("failingIds").toString()).isEqualTo("[\"b-o1s5\"]");

    BufferedImage shot = Chromium.screenshot(file, 1400, 1200, tmp.resolve("page.png"));
    JsonNode failing = probe.get("failing");
    assertThat(Chromium.pixels(shot, failing, HIGHLIGHT))
        .as("highlight pixels in the failing step's box " + failing)
        .isGreaterThan(Chromium.area(failing) / 2);
    assertThat(Chromium.pixels(shot, probe.get("other"), HIGHLIGHT))
        .as("highlight pixels in the packet's box")
        .isZero();
  }

  @Test
  void tracePage_failingBranchRightOfTheWindow_chartScrollsItIntoView() throws Exception {
    // Eight endpoints; the last one's path is dropped: its column lies far right of a 900px window.
    List<Outcome> outcomes = new ArrayList<>();
    for (int i = 0; i < 7; i++) {
      Step take =
          new Step(
              StepKind.JUMP,
              "PREROUTING",
              "nat",
              "KUBE-SVC-X",
              i + 1,
              "-A KUBE-SVC-X -j KUBE-SEP-" + i,
              "jump KUBE-SEP-" + i);
      outcomes.add(
          PathChartTest.delivered(
              0.125,
              List.of(PathChartTest.ARRIVES, PathChartTest.SERVICES, take, PathChartTest.OUT_A),
              PathChartTest.BACK));
    }
    outcomes.add(
        PathChartTest.dropped(
            0.125, List.of(PathChartTest.ARRIVES, PathChartTest.SERVICES, PathChartTest.DROP_B)));
    String html =
        TracePage.page(
            new TraceResult(PathChartTest.PACKET, outcomes, List.of()), RuleSources.none());
    Path file = Chromium.withProbe(html, tmp.resolve("wide.html"));
    Chromium.Result dom = Chromium.dumpDom(file, 900, 1200);
    assertThat(dom.console()).isEmpty();
    JsonNode failing = Chromium.probe(dom.stdout()).get("failing");
    assertThat(failing.get("x").asDouble() + failing.get("w").asDouble()).isLessThan(900);
    assertThat(failing.get("x").asDouble()).isPositive();
    BufferedImage shot = Chromium.screenshot(file, 900, 1200, tmp.resolve("wide.png"));
    assertThat(Chromium.pixels(shot, failing, HIGHLIGHT))
        .as("highlight pixels in the failing step's box " + failing)
        .isGreaterThan(Chromium.area(failing) / 2);
  }
}
