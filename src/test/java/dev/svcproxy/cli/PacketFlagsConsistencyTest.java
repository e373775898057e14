package dev.svcproxy.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Audit 12 #14: icmp with a port is bad input (it has none); --in-iface without --src is an error
 * as --src without --dst is (a packet created on the node arrives on no interface); --in-iface
 * naming an interface the node does not have is a warning.
 */
class PacketFlagsConsistencyTest {
  @TempDir Path bundle;
  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();

  private int run(String... args) {
    out.getBuffer().setLength(0);
    err.getBuffer().setLength(0);
    return Main.execute(args, new PrintWriter(out, true), new PrintWriter(err, true));
  }

  @BeforeEach
  void node() throws Exception {
    Files.writeString(
        bundle.resolve("ip-addr.txt"),
        """
        1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 state UNKNOWN
            inet 127.0.0.1/8 scope host lo
        2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 state UP
            inet 10.19.136.10/24 scope global eth0
        """);
    Files.writeString(
        bundle.resolve("ip-route.txt"),
        "default via 10.19.136.1 dev eth0\n10.19.136.0/24 dev eth0 scope link src 10.19.136.10\n");
    Files.writeString(bundle.resolve("sysctl.txt"), "net.ipv4.ip_forward = 1\n");
  }

  @Test
  void icmpWithPort_exitsTwo_saysIcmpHasNoPort() {
    for (String cmd : new String[] {"doctor", "trace"}) {
      assertThat(
              run(cmd, "--bundle", bundle.toString(), "--proto", "icmp", "--dst", "10.20.0.1:443"))
          .isEqualTo(2);
      assertThat(err.toString()).contains("--dst: icmp has no port");
      assertThat(out.toString()).isEmpty();
    }
  }

  @Test
  void inIfaceWithoutSrc_exitsTwo_likeSrcWithoutDst() {
    assertThat(
            run(
                "trace",
                "--bundle",
                bundle.toString(),
                "--dst",
                "10.20.0.1:443",
                "--in-iface",
                "eth0"))
        .isEqualTo(2);
    assertThat(err.toString()).contains("--in-iface: only with --src");
    assertThat(run("doctor", "--bundle", bundle.toString(), "--in-iface", "eth0")).isEqualTo(2);
    assertThat(err.toString()).contains("--in-iface: only with --src and --dst");
  }

  @Test
  void inIfaceNotOnTheNode_warned() {
    // ip-addr.txt has lo and eth0: eth9 is not there.
    run(
        "trace",
        "--bundle",
        bundle.toString(),
        "--src",
        "10.19.136.50",
        "--in-iface",
        "eth9",
        "--dst",
        "10.19.136.10:22");
    assertThat(out.toString()).contains("--in-iface eth9: the node has no such interface");
    run(
        "trace",
        "--bundle",
        bundle.toString(),
        "--src",
        "10.19.136.50",
        "--in-iface",
        "eth0",
        "--dst",
        "10.19.136.10:22");
    assertThat(out.toString()).doesNotContain("no such interface");
  }
}
