package dev.svcproxy.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The packet options trace and doctor share (PacketOptions): defaults and requirements. */
class PacketOptionsTest {
  @TempDir Path bundle;
  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();

  // A node whose OUTPUT rejects TCP from source port 40000 only: a trace tells which port it used.
  @BeforeEach
  void writeBundle() throws Exception {
    Files.writeString(
        bundle.resolve("ip-addr.txt"),
        """
        2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 state UP
            inet 192.168.1.11/24 scope global eth0
        """);
    Files.writeString(
        bundle.resolve("ip-route.txt"),
        """
        default via 192.168.1.1 dev eth0
        192.168.1.0/24 dev eth0 scope link src 192.168.1.11
        """);
    Files.writeString(
        bundle.resolve("iptables-save.txt"),
        """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A OUTPUT -p tcp -m tcp --sport 40000 -j REJECT --reject-with icmp-port-unreachable
        COMMIT
        """);
  }

  private int run(String... args) {
    out.getBuffer().setLength(0);
    err.getBuffer().setLength(0);
    return Main.execute(args, new PrintWriter(out, true), new PrintWriter(err, true));
  }

  @Test
  void trace_noSport_tracesSourcePort40000AsTheHelpSays() {
    assertThat(run("trace", "--bundle", bundle.toString(), "--dst", "192.168.1.1:80")).isEqualTo(1);
    assertThat(out.toString()).contains("REJECTED");
    assertThat(
            run(
                "trace",
                "--bundle",
                bundle.toString(),
                "--dst",
                "192.168.1.1:80",
                "--sport",
                "40001"))
        .isEqualTo(0);
    assertThat(run("trace", "--help")).isZero();
    assertThat(out.toString()).contains("Source port (default 40000; none for icmp)");
  }

  @Test
  void doctor_noSport_tracesTheSamePacketAsTrace() {
    assertThat(run("doctor", "--bundle", bundle.toString(), "--dst", "192.168.1.1:80"))
        .isEqualTo(1);
    String doctor = out.toString();
    run("trace", "--bundle", bundle.toString(), "--dst", "192.168.1.1:80");
    String trace = out.toString();
    assertThat(doctor).contains("REJECTED").contains(trace.lines().findFirst().orElseThrow());
  }

  @Test
  void doctor_icmp_tracesNoSourcePort() {
    // An ICMP echo has no ports (the kernel's tuple holds its id); doctor's old default of 40000
    // gave the traced ICMP packet a source port that trace never gives it.
    run("doctor", "--bundle", bundle.toString(), "--dst", "192.168.1.1", "--proto", "icmp");
    assertThat(out.toString()).contains("trace icmp (this node) -> 192.168.1.1:0");
    run("trace", "--bundle", bundle.toString(), "--dst", "192.168.1.1", "--proto", "icmp");
    assertThat(out.toString()).startsWith("trace icmp (this node) -> 192.168.1.1:0");
  }

  @Test
  void trace_noDst_exitsTwoWithPicocliMissingOptionMessage() {
    assertThat(run("trace", "--bundle", bundle.toString(), "--src", "10.0.0.1")).isEqualTo(2);
    assertThat(err.toString().strip())
        .isEqualTo("svcproxy: Missing required option: '--dst=IP:PORT'");
    assertThat(out.toString()).isEmpty();
  }

  @Test
  void doctor_srcWithoutDst_exitsTwoNamingSrc() {
    assertThat(run("doctor", "--bundle", bundle.toString(), "--src", "10.0.0.1")).isEqualTo(2);
    assertThat(err.toString().strip()).isEqualTo("svcproxy: --src: only with --dst");
    assertThat(run("doctor", "--bundle", bundle.toString())).isZero();
  }

  @Test
  void help_traceSynopsis_namesEveryOptionAndDstAsRequired() {
    assertThat(run("trace", "--help")).isZero();
    String synopsis = out.toString().substring(0, out.toString().indexOf("Walk a packet"));
    var spec = Main.commandLine(picocli.CommandLine.defaultFactory()).getSubcommands().get("trace");
    for (var o : spec.getCommandSpec().options()) {
      String n = o.shortestName();
      // One-letter options may be clustered as picocli prints them ([-hV]).
      String pattern =
          n.length() == 2 ? "[\\s\\[]-[a-zA-Z]*" + n.charAt(1) + "[a-zA-Z]*[\\s=\\]]" : n;
      assertThat(synopsis).as(n).containsPattern(pattern);
    }
    assertThat(synopsis).containsPattern("\\) --dst=IP:PORT\\s").doesNotContain("[--dst");
  }

  @Test
  void format_unknown_exitsTwoNamingIt_inBothCommands() {
    assertThat(run("trace", "--bundle", bundle.toString(), "--dst", "1.2.3.4:80", "-o", "yaml"))
        .isEqualTo(2);
    assertThat(err.toString()).contains("-o: expected text, json or html, got \"yaml\"");
    assertThat(run("doctor", "--bundle", bundle.toString(), "--format", "yaml")).isEqualTo(2);
    assertThat(err.toString()).contains("-o: expected text, json or html, got \"yaml\"");
  }
}
