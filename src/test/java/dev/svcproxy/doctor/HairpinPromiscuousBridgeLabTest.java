package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.lab.Connection;
import dev.svcproxy.lab.DemoCluster;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.testutil.DemoClusterExtension;
import dev.svcproxy.testutil.LiveAndBundle;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * kubelet's --hairpin-mode=promiscuous-bridge asked of the kernel: a promiscuous cni0 with its
 * ports' hairpin flag off, br_netfilter on, svcproxy's iptables rules (KUBE-SEP's {@code -s <ep> -j
 * KUBE-MARK-MASQ}, KUBE-POSTROUTING's MASQUERADE) in place.
 *
 * <p>The oracle, Linux 6.18.44 (the lab host's kernel), pod web-a to Service self (web-a its only
 * endpoint), 2026-11-27: hairpin on, promisc off: replied, web-a saw cni0's address 10.244.1.1
 * (masqueraded). Hairpin off, promisc off: timed out. Hairpin off, promisc on: timed out, and
 * KUBE-POSTROUTING's MASQUERADE counter did not move (the DNATed SYN never reached the node's
 * POSTROUTING), while the client pod on the same bridge still reached self. Hairpin on, promisc on:
 * replied, seen as 10.244.1.1. So promiscuity is no hairpin: the doctor still names the ports and
 * does not recommend promiscuous-bridge mode.
 */
class HairpinPromiscuousBridgeLabTest {
  @RegisterExtension static final DemoClusterExtension demo = DemoClusterExtension.iptables();
  @TempDir Path tmp;

  private long masqueraded(String netns) {
    // Packets counted by KUBE-POSTROUTING's MASQUERADE rule (-x: exact numbers).
    String out =
        demo.lab()
            .in(netns, "iptables", "-t", "nat", "-L", "KUBE-POSTROUTING", "-v", "-n", "-x")
            .orThrow()
            .stdout();
    return out.lines()
        .filter(l -> l.contains("MASQUERADE"))
        .mapToLong(l -> Long.parseLong(l.strip().split("\\s+")[0]))
        .sum();
  }

  @Test
  void promiscuousBridge_hairpinOff_stillTimesOut_namedLiveAndOnBundle_clearedByHairpinOn()
      throws Exception {
    Lab lab = demo.lab();
    Lab.Node node1 = lab.node("node1");
    Lab.Pod webA = lab.pod("web-a");
    String port = "veth" + webA.ip().substring(webA.ip().lastIndexOf('.') + 1);
    String n1 = node1.netns();
    CommandRunner node = lab.runner().inNetns(n1);
    Connection before = lab.connect(webA.netns(), DemoCluster.SELF, 80);
    assertThat(before.outcome()).isEqualTo(Connection.Outcome.REPLIED);
    assertThat(before.peer()).isEqualTo(node1.bridgeIp());
    lab.in(n1, "ip", "link", "set", port, "type", "bridge_slave", "hairpin", "off").orThrow();
    lab.in(n1, "ip", "link", "set", "cni0", "promisc", "on").orThrow();
    try {
      assertThat(lab.in(n1, "ip", "-j", "link", "show", "cni0").stdout()).contains("\"PROMISC\"");
      long masq = masqueraded(n1);
      assertThat(lab.connect(webA.netns(), DemoCluster.SELF, 80).outcome())
          .isEqualTo(Connection.Outcome.TIMED_OUT);
      assertThat(masqueraded(n1)).isEqualTo(masq);
      assertThat(lab.connect(lab.pod("client").netns(), DemoCluster.SELF, 80).outcome())
          .isEqualTo(Connection.Outcome.REPLIED);

      LiveAndBundle.Named named =
          LiveAndBundle.on(node, demo.objects())
              .named("hairpin-not-masqueraded", tmp.resolve("promisc"));
      assertThat(named.live().evidence())
          .containsExactly(
              Evidence.command(
                  "bridge -d link show dev " + port, port + " master cni0 hairpin off"),
              Evidence.command("ip -d link show dev cni0", "cni0 promiscuous"));
      assertThat(named.bundle().evidence())
          .containsExactly(
              new Evidence("bridge-link.json", port + " master cni0 hairpin off"),
              new Evidence("ip-addr.json", "cni0 promiscuous"));
      for (Finding f : named.both()) {
        assertThat(f.explanation()).contains("cni0 is promiscuous");
        assertThat(f.fix()).contains("hairpin on").doesNotContain("use promiscuous-bridge");
      }
      // The finding's fix, the bridge left promiscuous.
      lab.in(n1, "ip", "link", "set", port, "type", "bridge_slave", "hairpin", "on").orThrow();
      assertThat(LiveAndBundle.on(node, demo.objects()).live("hairpin-not-masqueraded")).isEmpty();
      Connection after = lab.connect(webA.netns(), DemoCluster.SELF, 80);
      assertThat(after.outcome()).isEqualTo(Connection.Outcome.REPLIED);
      assertThat(after.peer()).isEqualTo(node1.bridgeIp());
    } finally {
      lab.in(n1, "ip", "link", "set", port, "type", "bridge_slave", "hairpin", "on");
      lab.in(n1, "ip", "link", "set", "cni0", "promisc", "off");
    }
  }
}
