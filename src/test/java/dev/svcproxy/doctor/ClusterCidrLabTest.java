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
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * missing-cluster-cidr in iptables mode, in the netns lab: node1's proxy restarted without
 * --cluster-cidr writes no "! -s <pod CIDR> ... -j KUBE-MARK-MASQ" rule in the service chains, so
 * an off-cluster client routing a ClusterIP through node1 to an endpoint on node2 gets the pod's
 * reply straight from node2, under the pod's address, and the connection never completes.
 */
class ClusterCidrLabTest {
  @RegisterExtension static final DemoClusterExtension demo = DemoClusterExtension.iptables();
  private final DemoCluster cluster = demo.cluster();
  private final Lab lab = demo.lab();
  @TempDir Path tmp;

  private static List<Finding> findings(DoctorInput in, String id) {
    DoctorReport r = Doctor.standard().examine(in);
    System.out.println(DoctorFormatter.text(r));
    return r.findings().stream().filter(f -> f.id().equals(id)).toList();
  }

  @Test
  void noClusterCidr_offClusterClientToClusterIp_namedLiveAndOnBundle_clearedByFlag()
      throws Exception {
    Lab.Node n1 = lab.node("node1");
    CommandRunner node = lab.runner().inNetns(n1.netns());
    String ext = lab.client("ext").netns();
    // A host outside the cluster that routes the ClusterIP through node1 (web-local's only
    // endpoint is web-b on node2).
    lab.route(ext, DemoCluster.WEB_LOCAL, n1.ip());
    assertThat(lab.connect(ext, DemoCluster.WEB_LOCAL, 80).outcome())
        .isEqualTo(Connection.Outcome.REPLIED);
    assertThat(findings(DoctorInputs.live(node, Optional.empty()), "missing-cluster-cidr"))
        .isEmpty();

    cluster.proxy(1).stop();
    Path log = lab.workDir().resolve("svcproxy-node1-nocidr.log");
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
            "--lock-dir",
            lab.workDir().toString()));
    ProxyProcess[] fixed = {null};
    Spawned broken = lab.spawn(n1.netns(), argv, log);
    try {
      awaitSynced(log);
      assertThat(broken).isNotNull();
      node.run("conntrack", "-F");
      Connection c = lab.connect(ext, DemoCluster.WEB_LOCAL, 80);
      assertThat(c.outcome()).as("%s", c).isNotEqualTo(Connection.Outcome.REPLIED);

      LiveAndBundle lb = LiveAndBundle.on(node, Optional.empty());
      LiveAndBundle.Named named = lb.named("missing-cluster-cidr", tmp.resolve("bundle"));
      assertThat(named.live().summary()).contains("without --cluster-cidr");
      assertThat(named.live().evidence())
          .extracting(Evidence::text)
          .anyMatch(t -> t.startsWith("-A KUBE-SERVICES -d 10.96.0.") && t.contains("KUBE-SVC-"));
      for (Evidence e : named.bundle().evidence()) {
        if (e.where().startsWith("iptables-save.txt:")) {
          assertThat(named.citedLine(e)).endsWith(e.text());
        }
      }
      // The fix: the proxy restarted with --cluster-cidr=<pod CIDR> (the lab's node flags carry
      // it); the finding can only say the flag, not the cluster's pod CIDR it does not know.
      lb.clearedBy(
          named,
          () -> {
            broken.close();
            fixed[0] = ProxyProcess.start(lab, n1, cluster.manifests(), "iptables", List.of());
            node.run("conntrack", "-F");
          },
          "--cluster-cidr=");
      assertThat(lab.connect(ext, DemoCluster.WEB_LOCAL, 80).outcome())
          .isEqualTo(Connection.Outcome.REPLIED);
    } finally {
      broken.close();
      if (fixed[0] != null) {
        fixed[0].stop();
      }
    }
  }

  private static void awaitSynced(Path log) throws Exception {
    for (int i = 0; i < 600; i++) {
      if (Files.exists(log) && Files.readString(log).contains("synced iptables")) {
        return;
      }
      Thread.sleep(100);
    }
    throw new AssertionError(
        "no sync in 60 s:\n" + (Files.exists(log) ? Files.readString(log) : ""));
  }
}
