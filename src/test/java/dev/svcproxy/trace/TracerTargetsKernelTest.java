package dev.svcproxy.trace;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.testutil.KernelTests;
import dev.svcproxy.trace.engine.Tracer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The kernel picks the ports of NAT ranges; the tracer must pick the same. One namespace with a
 * veth pair (dummy0, its peer unaddressed): a UDP packet from port 40000 goes through the same
 * target as in the trace, and its conntrack entry's reply tuple shows what the kernel chose.
 */
class TracerTargetsKernelTest {
  private static Lab lab;
  private static CommandRunner node;

  @BeforeAll
  static void setUp() {
    KernelTests.require("kernel tests");
    lab = Lab.create(new ProcessCommandRunner(), 1);
    node = lab.runner().inNetns(lab.node("node1").netns());
    node.run("ip", "link", "set", "lo", "up").orThrow();
    node.run("ip", "link", "add", "dummy0", "type", "veth", "peer", "name", "dummy1").orThrow();
    node.run("ip", "link", "set", "dummy1", "up").orThrow();
    node.run("ip", "addr", "add", "10.99.0.1/24", "dev", "dummy0").orThrow();
    node.run("ip", "link", "set", "dummy0", "up").orThrow();
  }

  @AfterAll
  static void tearDown() {
    if (lab != null) {
      lab.close();
    }
  }

  /**
   * Sends one UDP packet from port 40000 with {@code target} in nat {@code chain}; the reply tuple.
   */
  private static String[] kernelReply(String chain, String target, int dport) {
    node.run("conntrack", "-F");
    String rules =
        "*nat\n-F " + chain + "\n-A " + chain + " -p udp -d 10.99.0.2 " + target + "\nCOMMIT\n";
    CommandResult r = null;
    for (int i = 0; i < 5; i++) {
      // Other tests load rules at the same time; xtables.lock makes a restore wait or fail.
      r = node.run(List.of("iptables-restore", "--noflush", "-w"), rules, Duration.ofSeconds(30));
      if (r.ok()) {
        break;
      }
    }
    assertThat(r.ok()).as(r.stderr()).isTrue();
    node.run(
            List.of("socat", "-u", "-", "UDP4-SENDTO:10.99.0.2:" + dport + ",sourceport=40000"),
            "x\n",
            Duration.ofSeconds(10))
        .orThrow();
    String out = node.run("conntrack", "-L", "-p", "udp").orThrow().stdout();
    for (String line : out.split("\n")) {
      List<String> src = new ArrayList<>();
      List<String> sport = new ArrayList<>();
      List<String> dst = new ArrayList<>();
      List<String> dportSeen = new ArrayList<>();
      for (String f : line.trim().split("\\s+")) {
        String[] kv = f.split("=", 2);
        switch (kv[0]) {
          case "src" -> src.add(kv[1]);
          case "dst" -> dst.add(kv[1]);
          case "sport" -> sport.add(kv[1]);
          case "dport" -> dportSeen.add(kv[1]);
          default -> {}
        }
      }
      if (src.size() == 2 && dportSeen.get(0).equals(Integer.toString(dport))) {
        // Reply direction: its source is the DNAT destination, its destination the SNAT source.
        return new String[] {src.get(1) + ":" + sport.get(1), dst.get(1) + ":" + dportSeen.get(1)};
      }
    }
    throw new AssertionError("no conntrack entry for dport " + dport + " in:\n" + out);
  }

  private static Outcome traced(String chain, String target, int dport) {
    String rules =
        "*nat\n:PREROUTING ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n-A "
            + chain
            + " -p tcp "
            + target
            + "\nCOMMIT\n";
    TraceResult r =
        new Tracer(TraceNodes.node(rules, Map.of()))
            .trace(new PacketSpec("10.0.1.5", 40000, "10.0.2.7", dport, "tcp", "cni0"));
    assertThat(r.outcomes()).hasSize(1);
    return r.outcomes().get(0);
  }

  private static String port(String hostPort) {
    return hostPort.substring(hostPort.lastIndexOf(':') + 1);
  }

  @Test
  void dnatPortRange_portInsideAndOutside_tracerPicksTheKernelsPort() {
    String target = "-j DNAT --to-destination 10.99.0.3:8080-8090";
    for (int dport : new int[] {8085, 80}) {
      String kernel = kernelReply("OUTPUT", target, dport)[0];
      assertThat(kernel).startsWith("10.99.0.3:");
      assertThat(port(traced("PREROUTING", target, dport).dnat()))
          .as("dport %d, kernel %s", dport, kernel)
          .isEqualTo(port(kernel));
    }
  }

  @Test
  void redirectPortRange_portInside_tracerPicksTheKernelsPort() {
    String target = "-j REDIRECT --to-ports 15001-15010";
    String kernel = kernelReply("OUTPUT", target, 15005)[0];
    assertThat(port(traced("PREROUTING", target, 15005).dnat()))
        .as("kernel %s", kernel)
        .isEqualTo(port(kernel));
  }

  @Test
  void masqueradeToPorts_portOutside_tracerPicksTheKernelsPort() {
    String target = "-o dummy0 -j MASQUERADE --to-ports 2000";
    String kernel = kernelReply("POSTROUTING", target, 81)[1];
    assertThat(kernel).isEqualTo("10.99.0.1:2000");
    assertThat(port(traced("POSTROUTING", target.replace("dummy0", "eth0"), 81).snat()))
        .isEqualTo(port(kernel));
  }

  /**
   * A source already inside the SNAT range (address and port) stays as it is (get_unique_tuple's
   * in_range check); the tracer keeps it too rather than taking the range's first address and port.
   */
  @Test
  void snatRangeHoldingTheSource_kernelKeepsIt_tracerKeepsIt() {
    String kernel =
        kernelReply("POSTROUTING", "-j SNAT --to-source 10.99.0.0-10.99.0.9:39990-40010", 82)[1];
    assertThat(kernel).isEqualTo("10.99.0.1:40000");
    assertThat(
            traced("POSTROUTING", "-j SNAT --to-source 10.0.1.0-10.0.1.9:39990-40010", 82).snat())
        .isEqualTo("10.0.1.5:40000");
  }

  /**
   * CONNMARK --restore-mark with masks: the kernel's mark match sees 0x4211 (hand reasoning in
   * TracerTargetsTest), and the tracer's step says the same.
   */
  @Test
  void connmarkRestoreWithMasks_kernelsMarkMatch_tracerComputesTheSameMark() {
    List<String> ops =
        List.of(
            "-j MARK --set-xmark 0x11/0xffffffff",
            "-j CONNMARK --set-xmark 0x4200/0xffffffff",
            "-j CONNMARK --restore-mark --nfmask 0xff00 --ctmask 0xff00");
    String m = "-p udp -d 127.0.0.1 --dport 9780 ";
    StringBuilder in = new StringBuilder("*mangle\n-F OUTPUT\n");
    ops.forEach(op -> in.append("-A OUTPUT ").append(m).append(op).append('\n'));
    in.append("-A OUTPUT ").append(m).append("-m mark --mark 0x4211 -j ACCEPT\nCOMMIT\n");
    CommandResult r = null;
    for (int i = 0; i < 5 && (r == null || !r.ok()); i++) {
      r =
          node.run(
              List.of("iptables-restore", "--noflush", "-w"),
              in.toString(),
              Duration.ofSeconds(30));
    }
    assertThat(r.ok()).as(r.stderr()).isTrue();
    node.run(
            List.of("socat", "-u", "-", "UDP4-SENDTO:127.0.0.1:9780"),
            "x\n",
            Duration.ofSeconds(10))
        .orThrow();
    String saved = node.run("iptables-save", "-c", "-t", "mangle").orThrow().stdout();
    assertThat(saved).containsPattern("\\[1:\\d+\\] -A OUTPUT .*--mark 0x4211 -j ACCEPT");

    StringBuilder t = new StringBuilder("*mangle\n:PREROUTING ACCEPT [0:0]\n");
    ops.forEach(op -> t.append("-A PREROUTING ").append(op).append('\n'));
    t.append("COMMIT\n");
    TraceResult tr =
        new Tracer(TraceNodes.node(t.toString(), Map.of()))
            .trace(new PacketSpec("10.0.1.5", 40000, "10.0.2.7", 80, "tcp", "cni0"));
    assertThat(tr.outcomes().get(0).steps())
        .anyMatch(s -> s.effect().equals("connmark 0x4200, mark 0x4211"));
  }
}
