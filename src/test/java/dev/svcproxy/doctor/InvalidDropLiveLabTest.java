package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.kernel.Spawned;
import dev.svcproxy.lab.DemoCluster;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.testutil.KernelTests;
import dev.svcproxy.testutil.LiveAndBundle;
import dev.svcproxy.trace.bundle.BundleCapture;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * conntrack-invalid-drop from real packets, named on the live node and on a fresh capture (both
 * read the rule counters now), and cleared by nf_conntrack_tcp_be_liberal=1.
 *
 * <p>The path (kubernetes/kubernetes#74839's asymmetric routing): ext connects to web-a through
 * node1, and the handshake goes both ways through node1, so node1's conntrack entry is ESTABLISHED.
 * After the SYN-ACK, web-a routes its segments to ext around node1 (a second link, chosen by a mark
 * on every segment without SYN). The server speaks first ("hello"); ext's ACK of it, and its
 * request after it, acknowledge data node1 never saw: conntrack's window check fails ("ACK is over
 * upper bound (ACKed data not seen yet)", nf_conntrack_proto_tcp.c), the segment is INVALID and
 * KUBE-FORWARD's {@code --ctstate INVALID -j DROP} drops it. ext gets the banner, the server never
 * gets the request. With be_liberal=1 conntrack accepts out-of-window segments (the same check
 * returns ACCEPT), so the same exchange completes while the DROP rule is still in place.
 *
 * <p>"Cleared" with cumulative counters: the check names the drops only while be_liberal is 0, so
 * the fix clears the finding at once even though the counters keep their count; to see whether
 * drops go on, the counters are zeroed ({@code iptables -Z KUBE-FORWARD}) and the node captured
 * again after traffic. This test does both: zeroed after the fix, the exchange works and the
 * kernel's count stays 0; with be_liberal back to 0 the zeroed rule gives no finding until the
 * exchange fails again and the count grows.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class InvalidDropLiveLabTest {
  private static final String ID = "conntrack-invalid-drop";
  private static final String LIBERAL = "net.netfilter.nf_conntrack_tcp_be_liberal";
  private static final int PORT = 9090;
  private static final Pattern COUNTED = Pattern.compile("^\\[(\\d+):(\\d+)\\] (-A .*)$");

  private DemoCluster cluster;
  private Lab lab;
  private Lab.Node n1;
  private Lab.Client ext;
  private Lab.Pod webA;
  private CommandRunner node;
  @TempDir Path tmp;

  @BeforeAll
  void start() {
    KernelTests.require("doctor lab tests");
    cluster = DemoCluster.start(new ProcessCommandRunner());
    lab = cluster.lab();
    n1 = lab.node("node1");
    ext = lab.client("ext");
    webA = lab.pod("web-a");
    node = lab.runner().inNetns(n1.netns());
  }

  @AfterAll
  void stop() {
    if (cluster != null) {
      cluster.close();
    }
  }

  private static List<Finding> only(DoctorInput in) {
    return Doctor.standard().examine(in).findings().stream()
        .filter(f -> f.id().equals(ID))
        .toList();
  }

  @Test
  void invalidDrop_serverSegmentsAroundTheNode_namedLiveAndOnBundle_clearedByBeLiberal()
      throws Exception {
    asymmetricPath();
    try {
      assertThat(sysctl(node, LIBERAL)).isEqualTo("0");
      assertThat(invalidRule()).as("svcproxy's KUBE-FORWARD INVALID drop").isNotEmpty();

      // Broken: the banner arrives (around node1), the request never reaches the server.
      assertThat(exchange()).isEqualTo("hello/");
      long dropped = kernelCount();
      assertThat(dropped).as("packets the kernel counted on the INVALID drop").isPositive();

      // Named live and on a fresh capture (each file:line re-read).
      LiveAndBundle lb = LiveAndBundle.on(node, Optional.empty());
      Path dir = tmp.resolve("broken");
      LiveAndBundle.Named named = lb.named(ID, dir);

      // Live: the rule with its counters, and be_liberal.
      Finding live = named.live();
      Evidence liveRule = live.evidence().get(0);
      assertThat(liveRule.where()).startsWith("$ iptables-save -c (line ");
      long livePackets = packets(liveRule.text());
      assertThat(livePackets).isGreaterThanOrEqualTo(dropped);
      assertThat(live.summary()).startsWith(livePackets + " packet(s)");
      assertThat(live.evidence())
          .anyMatch(e -> e.text().matches(Pattern.quote(LIBERAL) + "\\s*=\\s*0"));

      // The capture: the same, with the line re-read from the file on disk.
      Finding bundled = named.bundle();
      Evidence rule = bundled.evidence().get(0);
      assertThat(rule.where()).startsWith("iptables-save.txt:");
      String line = lineOf(dir, rule.where());
      assertThat(line).isEqualTo(rule.text());
      assertThat(packets(line)).isGreaterThanOrEqualTo(livePackets);
      assertThat(bundled.summary()).startsWith(packets(line) + " packet(s)");
      Evidence sysctl =
          bundled.evidence().stream()
              .filter(e -> e.where().startsWith("sysctl.txt:"))
              .findFirst()
              .orElseThrow();
      assertThat(lineOf(dir, sysctl.where())).isEqualTo(sysctl.text()).startsWith(LIBERAL);

      // The fix the finding gives: be_liberal=1, and the counters zeroed (they count since the
      // rule was made). The sysctl is per network namespace: node1's changes, the root
      // namespace's and node2's do not.
      String rootBefore = sysctl(lab.runner(), LIBERAL);
      Path fixed =
          lb.clearedBy(
              named,
              tmp.resolve("fixed"),
              () -> {
                lab.in(n1.netns(), "sysctl", "-q", "-w", LIBERAL + "=1");
                lab.in(n1.netns(), "iptables", "-t", "filter", "-Z", "KUBE-FORWARD");
              },
              "sysctl -w " + LIBERAL + "=1",
              "iptables -Z KUBE-FORWARD");
      assertThat(sysctl(node, LIBERAL)).isEqualTo("1");
      assertThat(sysctl(lab.runner(), LIBERAL)).isEqualTo(rootBefore);
      assertThat(sysctl(lab.runner().inNetns(lab.node("node2").netns()), LIBERAL)).isEqualTo("0");
      assertThat(lineOf(fixed, "iptables-save.txt:" + lineNumber(fixed))).startsWith("[0:0] ");

      // The same exchange now completes with the DROP rule still there and nothing counted on
      // it.
      assertThat(kernelCount()).isZero();
      assertThat(exchange()).isEqualTo("hello/got-ping");
      assertThat(invalidRule()).as("the DROP rule is still in place").isNotEmpty();
      assertThat(kernelCount()).isZero();
      Path after = tmp.resolve("fixed-after-traffic");
      BundleCapture.captureInto(node, after);
      assertThat(only(DoctorInputs.bundle(after, Optional.empty()))).as("fixed, bundle").isEmpty();

      // Control: be_liberal back to 0. The zeroed rule names nothing until drops happen again.
      lab.in(n1.netns(), "sysctl", "-q", "-w", LIBERAL + "=0");
      assertThat(only(DoctorInputs.live(node, Optional.empty()))).isEmpty();
      assertThat(exchange()).isEqualTo("hello/");
      assertThat(kernelCount()).isPositive();
      Path again = tmp.resolve("again");
      BundleCapture.captureInto(node, again);
      assertThat(only(DoctorInputs.bundle(again, Optional.empty()))).hasSize(1);
    } finally {
      lab.in(n1.netns(), "sysctl", "-q", "-w", LIBERAL + "=0");
      undoAsymmetricPath();
    }
  }

  /**
   * ext routes web-a's pod CIDR through node1; web-a sends every segment of port {@value #PORT}
   * without SYN to ext over a second link (asy) that bypasses node1.
   */
  private void asymmetricPath() {
    lab.route(ext.netns(), n1.podCidr(), n1.ip());
    lab.wire(ext.netns(), "10.98.0.2/30", webA.netns(), "10.98.0.1/30", "asy");
    // ext takes segments from web-a on the link it does not route to web-a by.
    lab.in(ext.netns(), "sysctl", "-q", "-w", "net.ipv4.conf.all.rp_filter=0");
    lab.in(ext.netns(), "sysctl", "-q", "-w", "net.ipv4.conf.asy.rp_filter=0");
    lab.in(webA.netns(), "ip", "route", "add", ext.ip() + "/32", "via", "10.98.0.2", "table", "77");
    lab.in(webA.netns(), "ip", "rule", "add", "fwmark", "0x77", "lookup", "77");
    lab.in(
        webA.netns(),
        "iptables",
        "-t",
        "mangle",
        "-A",
        "OUTPUT",
        "-p",
        "tcp",
        "--sport",
        String.valueOf(PORT),
        "--tcp-flags",
        "SYN",
        "NONE",
        "-j",
        "MARK",
        "--set-mark",
        "0x77");
  }

  private void undoAsymmetricPath() {
    lab.runner().inNetns(webA.netns()).run("iptables", "-t", "mangle", "-F", "OUTPUT");
    lab.runner().inNetns(webA.netns()).run("ip", "rule", "del", "fwmark", "0x77", "lookup", "77");
    lab.runner().inNetns(ext.netns()).run("ip", "link", "del", "asy");
    lab.runner().inNetns(ext.netns()).run("ip", "route", "del", n1.podCidr());
  }

  /**
   * One exchange ext → web-a:{@value #PORT}: the server sends "hello", waits for a line and answers
   * "got-LINE"; the client reads the banner, sends "ping" and reads the answer. Returns
   * "banner/answer" ("" for what did not arrive in time).
   */
  private String exchange() throws Exception {
    Path script = lab.workDir().resolve("invalid-drop-server.sh");
    Files.writeString(script, "echo hello\nread -t 15 l\necho \"got-$l\"\n");
    Path log = lab.workDir().resolve("invalid-drop-server-" + System.nanoTime() + ".log");
    try (Spawned server =
        lab.spawn(
            webA.netns(),
            List.of("socat", "TCP-LISTEN:" + PORT + ",reuseaddr", "EXEC:bash " + script),
            log)) {
      awaitListening();
      String client =
          "exec 3<>/dev/tcp/"
              + webA.ip()
              + "/"
              + PORT
              + " || exit 3\n"
              + "read -t 4 b <&3\n"
              + "echo ping >&3\n"
              + "read -t 4 r <&3\n"
              + "echo \"$b/$r\"\n";
      CommandResult r =
          lab.runner()
              .inNetns(ext.netns())
              .run(List.of("bash", "-c", client), "", Duration.ofSeconds(30));
      assertThat(server).isNotNull();
      return r.stdout().strip();
    }
  }

  private void awaitListening() throws InterruptedException {
    for (int i = 0; i < 100; i++) {
      CommandResult r = lab.runner().inNetns(webA.netns()).run("ss", "-Hltn", "sport = :" + PORT);
      if (r.ok() && !r.stdout().isBlank()) {
        return;
      }
      Thread.sleep(50);
    }
    throw new IllegalStateException("server not listening on " + PORT);
  }

  /** The INVALID drop of KUBE-FORWARD as the kernel lists it ({@code iptables -S}). */
  private String invalidRule() {
    return lab.in(n1.netns(), "iptables", "-t", "filter", "-S", "KUBE-FORWARD")
        .stdout()
        .lines()
        .filter(l -> l.contains("--ctstate INVALID") && l.endsWith("-j DROP"))
        .findFirst()
        .orElse("");
  }

  /** The INVALID drop's packet count, read from the kernel's own listing (-L -n -v -x). */
  private long kernelCount() {
    for (String l :
        lab.in(n1.netns(), "iptables", "-t", "filter", "-L", "KUBE-FORWARD", "-n", "-v", "-x")
            .stdout()
            .lines()
            .toList()) {
      String[] f = l.strip().split("\\s+");
      if (l.contains("ctstate INVALID") && f.length > 2 && f[2].equals("DROP")) {
        return Long.parseLong(f[0]);
      }
    }
    throw new AssertionError("no INVALID drop in KUBE-FORWARD");
  }

  private static String sysctl(CommandRunner r, String key) {
    return r.run("sysctl", "-n", key).orThrow().stdout().strip();
  }

  /** The packet count of a "[pkts:bytes] -A ..." evidence text. */
  private static long packets(String text) {
    Matcher m = COUNTED.matcher(text);
    assertThat(m.matches()).as("counters in front of the rule: " + text).isTrue();
    assertThat(m.group(3)).contains("--ctstate INVALID").endsWith("-j DROP");
    return Long.parseLong(m.group(1));
  }

  private static String lineOf(Path dir, String where) throws Exception {
    int colon = where.lastIndexOf(':');
    List<String> lines = Files.readAllLines(dir.resolve(where.substring(0, colon)));
    return lines.get(Integer.parseInt(where.substring(colon + 1)) - 1).strip();
  }

  /** The 1-based line of the INVALID drop in the bundle's iptables-save.txt. */
  private static int lineNumber(Path dir) throws Exception {
    List<String> lines = Files.readAllLines(dir.resolve("iptables-save.txt"));
    for (int i = 0; i < lines.size(); i++) {
      if (lines.get(i).contains("--ctstate INVALID") && lines.get(i).endsWith("-j DROP")) {
        return i + 1;
      }
    }
    throw new AssertionError("no INVALID drop in iptables-save.txt");
  }
}
