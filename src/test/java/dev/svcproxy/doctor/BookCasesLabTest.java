package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.lab.Connection;
import dev.svcproxy.lab.DemoCluster;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.testutil.KernelTests;
import dev.svcproxy.trace.bundle.BundleCapture;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * The book's cases of tools beside kube-proxy (Docker, flannel/Calico, NodeLocal DNSCache, a
 * leftover CNI config), each built on a lab node with the rules the tool installs, shown broken by
 * a real connection, named by the doctor live and on a captured bundle, and cleared by its fix.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class BookCasesLabTest {
  private DemoCluster cluster;
  private Lab lab;
  @TempDir Path tmp;

  @BeforeAll
  void start() {
    KernelTests.require("doctor lab tests");
    cluster = DemoCluster.start(new ProcessCommandRunner());
    lab = cluster.lab();
  }

  @AfterAll
  void stop() {
    if (cluster != null) {
      cluster.close();
    }
  }

  private CommandRunner node(String name) {
    return lab.runner().inNetns(lab.node(name).netns());
  }

  private static List<Finding> findings(DoctorInput in, String id) {
    return Doctor.standard().examine(in).findings().stream()
        .filter(f -> f.id().equals(id))
        .toList();
  }

  private List<Finding> live(String nodeName, String id) {
    return findings(DoctorInputs.live(node(nodeName), Optional.of(cluster.manifests())), id);
  }

  private DoctorInput bundle(String nodeName, String name) {
    Path dir = tmp.resolve(name);
    BundleCapture.captureInto(node(nodeName), dir);
    return DoctorInputs.bundle(dir, Optional.of(cluster.manifests()));
  }

  /** The line a bundle evidence names, read back from the file independently. */
  private static String line(Path dir, Evidence e) throws Exception {
    String[] parts = e.where().split(":");
    assertThat(parts).hasSize(2);
    return Files.readAllLines(dir.resolve(parts[0])).get(Integer.parseInt(parts[1]) - 1).strip();
  }

  private void restore(String netns, String rules) {
    lab.runner()
        .inNetns(netns)
        .run(List.of("iptables-restore", "--noflush"), rules, java.time.Duration.ofSeconds(30))
        .orThrow();
  }

  @Test
  void forwardPolicyDrop_dockerOnNode_namedLiveAndOnBundle_clearedByFix() throws Exception {
    Lab.Node n1 = lab.node("node1");
    String client = lab.pod("client").netns();
    // web-local's only endpoint is web-b on node2: the client pod's connection is forwarded.
    assertThat(lab.connect(client, DemoCluster.WEB_LOCAL, 80).outcome())
        .isEqualTo(Connection.Outcome.REPLIED);
    lab.in(n1.netns(), "ip", "link", "add", "docker0", "type", "bridge");
    lab.in(n1.netns(), "ip", "addr", "add", "172.17.0.1/16", "dev", "docker0");
    lab.in(n1.netns(), "ip", "link", "set", "docker0", "up");
    restore(n1.netns(), BookRules.docker());
    try {
      assertThat(lab.connect(client, DemoCluster.WEB_LOCAL, 80).outcome())
          .isEqualTo(Connection.Outcome.TIMED_OUT);
      // From outside the NodePort still works: KUBE-FORWARD accepts the masqueraded packets.
      assertThat(
              lab.connect(lab.client("ext").netns(), n1.ip(), DemoCluster.WEB_NODEPORT).outcome())
          .isEqualTo(Connection.Outcome.REPLIED);

      List<Finding> live = live("node1", "forward-policy-drop");
      assertThat(live).singleElement();
      Finding f = live.get(0);
      assertThat(f.severity()).isEqualTo(Severity.ERROR);
      assertThat(f.evidence().get(0).where()).startsWith("$ iptables-save (line ");
      assertThat(f.evidence().get(0).text()).startsWith(":FORWARD DROP");
      assertThat(f.evidence())
          .extracting(Evidence::text)
          .contains("-A FORWARD -j DOCKER-USER")
          .anyMatch(t -> t.contains(DemoCluster.WEB_LOCAL + ":80") && t.contains("policy DROP"));

      Path dir = tmp.resolve("fwd");
      BundleCapture.captureInto(node("node1"), dir);
      List<Finding> fromBundle =
          findings(
              DoctorInputs.bundle(dir, Optional.of(cluster.manifests())), "forward-policy-drop");
      assertThat(fromBundle).singleElement();
      Evidence policy = fromBundle.get(0).evidence().get(0);
      assertThat(policy.where()).startsWith("iptables-save.txt:");
      assertThat(line(dir, policy)).startsWith(":FORWARD DROP");
      // The node itself is not affected: node2 has no finding.
      assertThat(live("node2", "forward-policy-drop")).isEmpty();

      // The fix the finding gives: accept the pod network in FORWARD.
      String cidr = n1.podCidr();
      assertThat(f.fix())
          .contains("iptables -A FORWARD -s " + cidr + " -j ACCEPT")
          .contains("iptables -A FORWARD -d " + cidr + " -j ACCEPT");
      lab.in(n1.netns(), "iptables", "-A", "FORWARD", "-s", cidr, "-j", "ACCEPT");
      lab.in(n1.netns(), "iptables", "-A", "FORWARD", "-d", cidr, "-j", "ACCEPT");
      assertThat(live("node1", "forward-policy-drop")).isEmpty();
      assertThat(lab.connect(client, DemoCluster.WEB_LOCAL, 80).outcome())
          .isEqualTo(Connection.Outcome.REPLIED);
    } finally {
      lab.runner()
          .inNetns(n1.netns())
          .run("iptables", "-D", "FORWARD", "-s", n1.podCidr(), "-j", "ACCEPT");
      lab.runner()
          .inNetns(n1.netns())
          .run("iptables", "-D", "FORWARD", "-d", n1.podCidr(), "-j", "ACCEPT");
      lab.in(n1.netns(), "iptables", "-P", "FORWARD", "ACCEPT");
      lab.in(n1.netns(), "ip", "link", "del", "docker0");
    }
  }
}
