package dev.svcproxy.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** doctor --in-iface: the interface a traced packet arrives on reaches the checks. */
class DoctorInIfaceTest {
  @TempDir Path bundle;
  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();

  private int run(String... args) {
    return Main.execute(args, new PrintWriter(out, true), new PrintWriter(err, true));
  }

  @Test
  void inIface_strictRpFilterOnOtherInterface_namesRpFilterFinding() throws Exception {
    Files.writeString(
        bundle.resolve("ip-addr.txt"),
        """
        2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 state UP
            inet 192.168.1.11/24 scope global eth0
        3: eth1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 state UP
            inet 10.99.0.2/30 scope global eth1
        4: cni0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 state UP
            inet 10.244.1.1/24 scope global cni0
        """);
    Files.writeString(
        bundle.resolve("ip-route.txt"),
        """
        default via 192.168.1.1 dev eth0
        10.99.0.0/30 dev eth1 scope link src 10.99.0.2
        10.244.1.0/24 dev cni0 scope link src 10.244.1.1
        192.168.1.0/24 dev eth0 scope link src 192.168.1.11
        """);
    Files.writeString(
        bundle.resolve("sysctl.txt"), "net.ipv4.ip_forward = 1\nnet.ipv4.conf.all.rp_filter = 1\n");
    String[] packet = {
      "doctor", "--bundle", bundle.toString(), "--src", "192.168.1.100", "--dst", "10.244.1.5:8080"
    };
    // Arriving where the route back points: rp_filter passes it.
    assertThat(run(packet)).isEqualTo(0);
    assertThat(out.toString()).doesNotContain("rp-filter-drops-asymmetric");
    String[] onEth1 = new String[packet.length + 2];
    System.arraycopy(packet, 0, onEth1, 0, packet.length);
    onEth1[packet.length] = "--in-iface";
    onEth1[packet.length + 1] = "eth1";
    assertThat(run(onEth1)).isEqualTo(1);
    assertThat(out.toString())
        .contains("error   rp-filter-drops-asymmetric: ")
        .contains("sysctl.txt:2: net.ipv4.conf.all.rp_filter = 1");
    assertThat(err.toString()).isEmpty();
  }
}
