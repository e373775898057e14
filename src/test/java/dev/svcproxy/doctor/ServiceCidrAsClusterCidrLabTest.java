package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.Spawned;
import dev.svcproxy.lab.Connection;
import dev.svcproxy.lab.DemoCluster;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.lab.ProxyProcess;
import dev.svcproxy.testutil.DemoClusterExtension;
import dev.svcproxy.testutil.LiveAndBundle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * missing-cluster-cidr in iptables mode with the service CIDR given as --cluster-cidr. What the
 * kernel does, measured here: the masquerade rules exempt 10.96.0.0/12, so an off-cluster client
 * (outside that range) is still masqueraded and answered, as with the right flag; what changes is
 * that pods, being outside it too, are masqueraded on their way to ClusterIPs, and the endpoint
 * sees node1's address instead of the client pod's. No address of an iptables-mode node lies in the
 * service range, so nothing here goes unmasqueraded that should not: the doctor names it as a
 * warning, and the right cluster CIDR clears it and gives the endpoint back the pod's address.
 */
class ServiceCidrAsClusterCidrLabTest {
  @RegisterExtension static final DemoClusterExtension demo = DemoClusterExtension.iptables();
  private final DemoCluster cluster = demo.cluster();
  private final Lab lab = demo.lab();
  @TempDir Path tmp;

  /** kubeadm's default service range, which holds the lab's ClusterIPs (10.96.0.x). */
  private static final String SERVICE_CIDR = "10.96.0.0/12";

  @Test
  void missingClusterCidr_serviceCidrAsClusterCidr_podsMasqueraded_namedAsWarning_clearedByFlag()
      throws Exception {
    Lab.Node n1 = lab.node("node1");
    CommandRunner node = demo.node("node1");
    Lab.Pod client = lab.pod("client");
    String ext = lab.client("ext").netns();
    // web-local's only endpoint is web-b on node2: the connection crosses to node2.
    lab.route(ext, DemoCluster.WEB_LOCAL, n1.ip());
    Connection podBefore = lab.connect(client.netns(), DemoCluster.WEB_LOCAL, 80);
    assertThat(podBefore.peer()).as("%s", podBefore).isEqualTo(client.ip());
    assertThat(LiveAndBundle.on(node, demo.objects()).live("missing-cluster-cidr")).isEmpty();

    cluster.proxy(1).stop();
    Path log = lab.workDir().resolve("svcproxy-node1-servicecidr.log");
    List<String> argv = new ArrayList<>(ProxyProcess.javaCommand());
    argv.addAll(
        List.of(
            "run",
            "--mode",
            "iptables",
            "--manifests",
            cluster.manifests().toString(),
            "--node-name",
            n1.name(),
            "--node-ip",
            n1.ip(),
            "--cluster-cidr",
            SERVICE_CIDR,
            "--lock-dir",
            lab.workDir().toString()));
    ProxyProcess fixed = null;
    try (Spawned broken = lab.spawn(n1.netns(), argv, log)) {
      awaitSynced(log);
      assertThat(broken.isAlive()).isTrue();
      node.run("conntrack", "-F");
      assertThat(node.run("iptables-nft-save", "-t", "nat").orThrow().stdout())
          .contains("! -s " + SERVICE_CIDR + " -d " + DemoCluster.WEB_LOCAL + "/32");
      // The kernel: the off-cluster client is masqueraded and answered as before...
      Connection fromExt = lab.connect(ext, DemoCluster.WEB_LOCAL, 80);
      assertThat(fromExt.outcome()).as("%s", fromExt).isEqualTo(Connection.Outcome.REPLIED);
      assertThat(fromExt.peer()).isEqualTo(n1.ip());
      // ...and the pod, outside the "cluster CIDR" too, now reaches web-b as node1.
      Connection fromPod = lab.connect(client.netns(), DemoCluster.WEB_LOCAL, 80);
      assertThat(fromPod.outcome()).as("%s", fromPod).isEqualTo(Connection.Outcome.REPLIED);
      assertThat(fromPod.peer()).isEqualTo(n1.ip());

      LiveAndBundle.Named named =
          LiveAndBundle.on(node, demo.objects())
              .named("missing-cluster-cidr", tmp.resolve("bundle"));
      for (Finding f : named.both()) {
        assertThat(f.severity()).isEqualTo(Severity.WARNING);
        assertThat(f.summary())
            .startsWith("The ClusterIP masquerade rules exempt " + SERVICE_CIDR + ", which holds")
            .endsWith("--cluster-cidr is the service CIDR");
        assertThat(f.evidence())
            .extracting(Evidence::text)
            .anyMatch(
                t ->
                    t.startsWith("-A KUBE-SVC-")
                        && t.contains("! -s " + SERVICE_CIDR)
                        && t.endsWith("-j KUBE-MARK-MASQ"));
        assertThat(f.explanation()).contains("node's address").doesNotContain("never asked");
        assertThat(f.fix()).contains("--cluster-cidr=<the pod CIDR>");
      }
    }
    // The fix: the pod CIDR as --cluster-cidr (the lab's node flags carry it).
    try {
      fixed = ProxyProcess.start(lab, n1, cluster.manifests(), List.of());
      node.run("conntrack", "-F");
      assertThat(LiveAndBundle.on(node, demo.objects()).live("missing-cluster-cidr")).isEmpty();
      Connection fromPod = lab.connect(client.netns(), DemoCluster.WEB_LOCAL, 80);
      assertThat(fromPod.peer()).as("%s", fromPod).isEqualTo(client.ip());
      assertThat(lab.connect(ext, DemoCluster.WEB_LOCAL, 80).peer()).isEqualTo(n1.ip());
    } finally {
      if (fixed != null) {
        fixed.stop();
      }
      lab.in(ext, "ip", "route", "del", DemoCluster.WEB_LOCAL);
    }
  }

  private static void awaitSynced(Path log) throws Exception {
    long end = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while (System.nanoTime() < end) {
      if (Files.exists(log) && Files.readString(log).contains("synced iptables")) {
        return;
      }
      Thread.sleep(100);
    }
    throw new AssertionError(
        "no sync in 60 s:\n" + (Files.exists(log) ? Files.readString(log) : ""));
  }
}
