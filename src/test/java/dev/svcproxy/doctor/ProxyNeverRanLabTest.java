package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.lab.Connection;
import dev.svcproxy.lab.DemoCluster;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.lab.ProxyProcess;
import dev.svcproxy.testutil.DemoClusterExtension;
import dev.svcproxy.testutil.LiveAndBundle;
import dev.svcproxy.trace.bundle.ProxyProcessFacts;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * kube-proxy-not-running with no proxy chains at all: node1's proxy is stopped and its KUBE-*
 * chains removed (what `kube-proxy --cleanup` leaves, or a node where the proxy never ran), while
 * the cluster still has its Services. A pod's connection to a ClusterIP is then routed out
 * un-DNATed and never answered; the doctor names the node live and on a bundle, and running the
 * proxy clears it.
 */
class ProxyNeverRanLabTest {
  @RegisterExtension static final DemoClusterExtension demo = DemoClusterExtension.iptables();
  private final DemoCluster cluster = demo.cluster();
  private final Lab lab = demo.lab();
  @TempDir Path tmp;

  private static final String ID = "kube-proxy-not-running";

  @Test
  void kubeProxyNotRunning_noKubeChainsServicesInManifests_namedLiveAndOnBundle_clearedByProxy()
      throws Exception {
    Lab.Node n1 = lab.node("node1");
    CommandRunner node = demo.node("node1");
    String client = lab.pod("client").netns();
    LiveAndBundle doctor = LiveAndBundle.on(node, demo.objects());
    assertThat(lab.connect(client, DemoCluster.WEB, 80).outcome())
        .isEqualTo(Connection.Outcome.REPLIED);
    assertThat(doctor.live(ID)).isEmpty();

    cluster.proxy(1).stop();
    removeKubeChains(node);
    ProxyProcess fixed = null;
    try {
      String save = node.run("iptables-nft-save").orThrow().stdout();
      assertThat(save).doesNotContain("KUBE-");
      // The kernel: no DNAT, so the SYN to the ClusterIP follows node1's default route to a
      // gateway that forwards nothing, and no answer comes.
      Connection c = lab.connect(client, DemoCluster.WEB, 80, Duration.ofSeconds(2));
      assertThat(c.outcome()).as("%s", c).isEqualTo(Connection.Outcome.TIMED_OUT);

      LiveAndBundle.Named named = doctor.named(ID, tmp.resolve("bundle"));
      for (Finding f : named.both()) {
        assertThat(f.severity()).isEqualTo(Severity.ERROR);
        assertThat(f.summary())
            .isEqualTo("No proxy process runs on this node, and it has no" + " Service rules");
        assertThat(f.evidence())
            .extracting(Evidence::text)
            .contains("no kube-proxy or svcproxy run process in this network namespace");
      }
      Path dir = named.dir();
      assertThat(Files.readString(dir.resolve(ProxyProcessFacts.FILE))).isEmpty();

      // A bundle whose capture could not list processes (no ps, or built by hand): the rules
      // alone still show it, cited as the whole file.
      Files.delete(dir.resolve(ProxyProcessFacts.FILE));
      List<Finding> rulesOnly =
          Doctor.standard().examine(DoctorInputs.bundle(dir, demo.objects())).findings().stream()
              .filter(f -> f.id().equals(ID))
              .toList();
      assertThat(rulesOnly).singleElement();
      assertThat(rulesOnly.get(0).summary())
          .matches("The cluster has \\d+ Service port\\(s\\) but the node has no proxy rules");
      assertThat(rulesOnly.get(0).evidence())
          .extracting(e -> e.where() + " " + e.text())
          .contains("iptables-save.txt no KUBE-SERVICES chain, no KUBE-PROXY-CANARY chain");

      // The fix given: run the proxy; its first sync recreates the chains.
      assertThat(named.live().fix()).contains("svcproxy run");
      fixed = ProxyProcess.start(lab, n1, cluster.manifests(), List.of());
      assertThat(doctor.live(ID)).isEmpty();
      Connection after = lab.connect(client, DemoCluster.WEB, 80);
      assertThat(after.outcome()).as("%s", after).isEqualTo(Connection.Outcome.REPLIED);
    } finally {
      if (fixed != null) {
        fixed.stop();
      }
    }
  }

  /**
   * Every KUBE-* chain and every rule naming one removed, the rest of the tables kept: what
   * kube-proxy --cleanup does to its own rules.
   */
  private static void removeKubeChains(CommandRunner node) {
    String save = node.run("iptables-nft-save").orThrow().stdout();
    String kept =
        save.lines().filter(l -> !l.contains("KUBE-")).collect(Collectors.joining("\n", "", "\n"));
    node.run(List.of("iptables-nft-restore"), kept, Duration.ofSeconds(30)).orThrow();
  }
}
