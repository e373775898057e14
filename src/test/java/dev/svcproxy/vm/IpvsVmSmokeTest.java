package dev.svcproxy.vm;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.lab.Connection;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.testutil.KernelTests;
import dev.svcproxy.testutil.vm.TimeScale;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The kernel VM gives tests a real IPVS: a hand-built virtual server (as kube-proxy's IPVS mode
 * builds one) in a throw-away lab node balances real connections. Runs in the VM test phase.
 */
@Tag("vm")
class IpvsVmSmokeTest {
  private static final String VIP = "10.96.0.10";
  private static final int PORT = 8080;

  @Test
  void roundRobinVirtualServer_sixConnectionsFromOutside_threeToEachPodWithTheClientsAddress() {
    KernelTests.requireIpvs("IPVS smoke test");
    try (Lab lab = Lab.create(new ProcessCommandRunner(), 1)) {
      Lab.Node node = lab.node("node1");
      Lab.Pod a = lab.addPod("node1", "be1");
      Lab.Pod b = lab.addPod("node1", "be2");
      // Outside the node: its replies come back through the node, where IPVS un-NATs them.
      Lab.Client client = lab.addClient("client");
      lab.route(client.netns(), VIP, node.ip());
      lab.startBackend(a, PORT);
      lab.startBackend(b, PORT);
      String ns = node.netns();
      // As kube-proxy's IPVS mode: the VIP on the dummy kube-ipvs0 (left down) makes it local.
      lab.in(ns, "ip", "link", "add", "kube-ipvs0", "type", "dummy");
      lab.in(ns, "ip", "addr", "add", VIP + "/32", "dev", "kube-ipvs0");
      lab.in(ns, "ipvsadm", "-A", "-t", VIP + ":80", "-s", "rr");
      for (Lab.Pod p : List.of(a, b)) {
        lab.in(ns, "ipvsadm", "-a", "-t", VIP + ":80", "-r", p.ip() + ":" + PORT, "-m", "-w", "1");
      }
      assertThat(lab.in(ns, "ipvsadm", "-S", "-n").stdout())
          .contains("-A -t " + VIP + ":80 -s rr")
          .contains("-r " + a.ip() + ":" + PORT + " -m -w 1")
          .contains("-r " + b.ip() + ":" + PORT + " -m -w 1");

      Map<String, Integer> perBackend = new TreeMap<>();
      List<String> peers = new ArrayList<>();
      for (int i = 0; i < 6; i++) {
        Connection c = lab.connect(client.netns(), VIP, 80, TimeScale.scale(Duration.ofSeconds(1)));
        // Stop at the first failure: each later attempt would wait out its timeout too.
        assertThat(c.outcome())
            .as("connection %d: %s", i + 1, c)
            .isEqualTo(Connection.Outcome.REPLIED);
        perBackend.merge(c.backend(), 1, Integer::sum);
        peers.add(c.peer());
      }
      // rr over two reals of weight 1 alternates strictly: 3 and 3 (ip_vs_rr.c).
      assertThat(perBackend).isEqualTo(Map.of("be1", 3, "be2", 3));
      // Masquerade forwarding rewrites only the destination: the pods see the client itself.
      assertThat(peers).containsOnly(client.ip());
    }
  }
}
