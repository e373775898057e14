package dev.svcproxy.trace;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.lab.Connection;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.testutil.KernelTests;
import dev.svcproxy.trace.bundle.BundleCapture;
import dev.svcproxy.trace.bundle.BundleReader;
import dev.svcproxy.trace.engine.Tracer;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * rp_filter applies to packets for a local address too (ip_route_input_slow validates the source of
 * a local route): the kernel and the tracer on the same node.
 *
 * <p>The lab's node1 (192.168.77.11 on eth0, the fabric) gets a second link, rp0 (10.77.0.1/30), to
 * the client (192.168.77.100 on the fabric, 10.77.0.2 on the link). The client routes the node IP
 * over the second link with its fabric address as the source, so its SYN to 192.168.77.11:8080
 * arrives on rp0 while node1's route back to 192.168.77.100 is the fabric's eth0: asymmetric. The
 * listener runs on node1 itself (local delivery), and node1's answer goes out eth0 straight to the
 * client, whose own rp_filter is off.
 */
class RpFilterLocalDeliveryLabTest {
  private static final int PORT = 8080;
  private static Lab lab;
  private static Lab.Node node;
  private static Lab.Client client;
  private static CommandRunner onNode;

  @BeforeAll
  static void setUp() {
    KernelTests.require("lab tests");
    lab = Lab.create(new ProcessCommandRunner(), 1);
    node = lab.node("node1");
    client = lab.addClient("client");
    onNode = lab.runner().inNetns(node.netns());
    lab.in(
        node.netns(),
        "ip",
        "link",
        "add",
        "rp0",
        "type",
        "veth",
        "peer",
        "name",
        "rp1",
        "netns",
        client.netns());
    lab.in(node.netns(), "ip", "addr", "add", "10.77.0.1/30", "dev", "rp0");
    lab.in(node.netns(), "ip", "link", "set", "rp0", "up");
    lab.in(client.netns(), "ip", "addr", "add", "10.77.0.2/30", "dev", "rp1");
    lab.in(client.netns(), "ip", "link", "set", "rp1", "up");
    lab.in(
        client.netns(),
        "ip",
        "route",
        "add",
        node.ip() + "/32",
        "via",
        "10.77.0.1",
        "dev",
        "rp1",
        "src",
        client.ip());
    // The answer reaches the client on eth0 while it routes node1 via rp1: its own filter must
    // not be what drops the connection.
    lab.in(
        client.netns(),
        "sysctl",
        "-q",
        "-w",
        "net.ipv4.conf.all.rp_filter=0",
        "net.ipv4.conf.eth0.rp_filter=0");
    lab.spawn(
        node.netns(),
        List.of(
            "socat", "TCP-LISTEN:" + PORT + ",fork,reuseaddr", "SYSTEM:echo node1 $SOCAT_PEERADDR"),
        lab.workDir().resolve("listener.log"));
    waitListening();
  }

  @AfterAll
  static void tearDown() {
    if (lab != null) {
      lab.close();
    }
  }

  private static void waitListening() {
    long end = System.nanoTime() + Duration.ofSeconds(5).toNanos();
    while (System.nanoTime() < end) {
      if (!onNode.run("ss", "-Hltn", "sport = :" + PORT).stdout().isBlank()) {
        return;
      }
      try {
        Thread.sleep(50);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
    }
    throw new IllegalStateException("listener on node1 is not up");
  }

  private static void rpFilter(int all, int rp0) {
    lab.in(
        node.netns(),
        "sysctl",
        "-q",
        "-w",
        "net.ipv4.conf.all.rp_filter=" + all,
        "net.ipv4.conf.rp0.rp_filter=" + rp0);
  }

  /** TcpExt IPReversePathFilter of node1: the kernel counts each -EXDEV of input routing. */
  private static long rpFilterDrops() {
    List<String> lines = onNode.run("cat", "/proc/net/netstat").orThrow().stdout().lines().toList();
    for (int i = 0; i + 1 < lines.size(); i++) {
      if (lines.get(i).startsWith("TcpExt:") && lines.get(i + 1).startsWith("TcpExt:")) {
        List<String> names = List.of(lines.get(i).split("\\s+"));
        String[] values = lines.get(i + 1).split("\\s+");
        return Long.parseLong(values[names.indexOf("IPReversePathFilter")]);
      }
    }
    throw new AssertionError("no TcpExt in /proc/net/netstat");
  }

  /** The trace of the client's SYN on the node as captured now, arriving on rp0. */
  private static Outcome traced(int sport) {
    NodeState bundle = BundleReader.fromFiles(BundleCapture.capture(onNode));
    TraceResult t =
        new Tracer(bundle).trace(new PacketSpec(client.ip(), sport, node.ip(), PORT, "tcp", "rp0"));
    assertThat(t.outcomes()).hasSize(1);
    return t.outcomes().get(0);
  }

  private static Connection connect(int sport) {
    return lab.connect(client.netns(), node.ip(), PORT, sport, Duration.ofSeconds(2));
  }

  /**
   * conf/all 0 and conf/rp0 1: the effective value is the larger, strict. The kernel drops the SYN
   * (the connection times out, the reverse-path counter rises); the tracer says dropped at routing
   * by rp_filter.
   */
  @Test
  void strictOnTheInterface_synToLocalAddressOnWrongInterface_droppedByKernelAndTracer() {
    rpFilter(0, 1);
    Outcome o = traced(41001);
    long before = rpFilterDrops();
    Connection c = connect(41001);

    assertThat(c.outcome()).as(c.toString()).isEqualTo(Connection.Outcome.TIMED_OUT);
    assertThat(rpFilterDrops()).isGreaterThan(before);
    assertThat(o.verdict()).as(o.steps().toString()).isEqualTo(Verdict.DROP);
    assertThat(o.reasonCode()).isEqualTo(ReasonCode.RPF);
    Step last = o.steps().get(o.steps().size() - 1);
    assertThat(last.kind()).isEqualTo(StepKind.ROUTE);
    assertThat(last.hook()).isEqualTo("routing");
    assertThat(last.text()).contains("rp_filter=1").contains("not via rp0");
    assertThat(o.steps()).noneMatch(s -> s.hook().equals("INPUT"));
  }

  /** conf/all 2 (loose) with conf/rp0 0: a route back exists, so both deliver. */
  @Test
  void looseWithRouteBack_synToLocalAddressOnWrongInterface_deliveredByKernelAndTracer() {
    rpFilter(2, 0);
    Outcome o = traced(41002);
    long before = rpFilterDrops();
    Connection c = connect(41002);

    assertThat(c.outcome()).as(c.toString()).isEqualTo(Connection.Outcome.REPLIED);
    assertThat(c.peer()).isEqualTo(client.ip());
    assertThat(rpFilterDrops()).isEqualTo(before);
    assertThat(o.verdict()).as(o.steps().toString()).isEqualTo(Verdict.ACCEPT);
    assertThat(o.delivery()).isEqualTo("local");
  }

  /**
   * Loose mode drops only when there is no route back: node1 gets an unreachable route for the
   * client, so the reverse lookup fails (fib_lookup returns an error for type unreachable) and
   * __fib_validate_source's last resort drops with rpf set. Kernel: no connection, the reverse-path
   * counter rises; tracer: dropped by rp_filter.
   */
  @Test
  void looseWithoutRouteBack_synToLocalAddress_droppedByKernelAndTracer() {
    rpFilter(2, 0);
    lab.in(node.netns(), "ip", "route", "add", "unreachable", client.ip() + "/32");
    try {
      Outcome o = traced(41004);
      long before = rpFilterDrops();
      Connection c = connect(41004);

      assertThat(c.outcome()).as(c.toString()).isEqualTo(Connection.Outcome.TIMED_OUT);
      assertThat(rpFilterDrops()).isGreaterThan(before);
      assertThat(o.verdict()).as(o.steps().toString()).isEqualTo(Verdict.DROP);
      assertThat(o.reasonCode()).isEqualTo(ReasonCode.RPF);
      assertThat(o.steps().get(o.steps().size() - 1).text())
          .contains("rp_filter=2")
          .contains("no usable route back to " + client.ip());
    } finally {
      lab.in(node.netns(), "ip", "route", "del", "unreachable", client.ip() + "/32");
    }
  }

  /** rp_filter off everywhere: both deliver. */
  @Test
  void off_synToLocalAddressOnWrongInterface_deliveredByKernelAndTracer() {
    rpFilter(0, 0);
    Outcome o = traced(41003);
    Connection c = connect(41003);

    assertThat(c.outcome()).as(c.toString()).isEqualTo(Connection.Outcome.REPLIED);
    assertThat(o.verdict()).as(o.steps().toString()).isEqualTo(Verdict.ACCEPT);
    assertThat(o.delivery()).isEqualTo("local");
  }
}
