package dev.svcproxy.trace.bundle;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.doctor.Doctor;
import dev.svcproxy.doctor.DoctorInput;
import dev.svcproxy.doctor.DoctorInputs;
import dev.svcproxy.doctor.Evidence;
import dev.svcproxy.doctor.Finding;
import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.kernel.RecordingCommandRunner;
import dev.svcproxy.kernel.Spawned;
import dev.svcproxy.lab.DemoCluster;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.lab.ProxyProcess;
import dev.svcproxy.model.Cidr;
import dev.svcproxy.testutil.KernelTests;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code svcproxy capture} records the proxy processes of the namespace in proxy-process.txt, as
 * the live doctor does, and the doctor reads the proxy's flags from a bundle.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class CaptureProxyProcessTest {
  private DemoCluster cluster;
  @TempDir Path tmp;

  @AfterAll
  void stop() {
    if (cluster != null) {
      cluster.close();
    }
  }

  private DemoCluster cluster() {
    if (cluster == null) {
      KernelTests.require("capture lab tests");
      cluster = DemoCluster.start(new ProcessCommandRunner());
    }
    return cluster;
  }

  private static RecordingCommandRunner node(String ps, Map<String, String> cmdlines) {
    return new RecordingCommandRunner(
        c -> {
          String l = c.line();
          if (l.equals("readlink /proc/self/ns/net")) {
            return new CommandResult(c.argv(), 0, "net:[4026533000]\n", "");
          }
          if (l.equals("ps -e -ww -o pid=,netns=,args=")) {
            return ps == null
                ? new CommandResult(c.argv(), 127, "", "ps: not found")
                : new CommandResult(c.argv(), 0, ps, "");
          }
          if (cmdlines.containsKey(l)) {
            return new CommandResult(c.argv(), 0, cmdlines.get(l), "");
          }
          return new CommandResult(c.argv(), 0, l.startsWith("ip -j") ? "[]" : "", "");
        });
  }

  @Test
  void capture_kubeProxyInTheNamespace_writesItsCommandLine() {
    // Two kube-proxies: one in this namespace (4026533000), one in another; and a shell.
    String ps =
        "    1 4026531833 /sbin/init\n"
            + "  200 4026532999 /usr/local/bin/kube-proxy --hostname-override=other\n"
            + "  210 4026533000 /usr/local/bin/kube-proxy --config=/var/lib/kube-proxy/c.conf"
            + " --hostname-override=worker-3\n"
            + "  211 4026533000 /bin/sh\n";
    RecordingCommandRunner runner =
        node(
            ps,
            Map.of(
                "cat /proc/210/cmdline",
                "/usr/local/bin/kube-proxy\0--config=/var/lib/kube-proxy/c.conf\0"
                    + "--hostname-override=worker-3\0"));

    Map<String, String> files = BundleCapture.capture(runner);

    assertThat(files)
        .containsEntry(
            "proxy-process.txt",
            "210 /usr/local/bin/kube-proxy --config=/var/lib/kube-proxy/c.conf"
                + " --hostname-override=worker-3\n");
    assertThat(runner.calls()).noneMatch(c -> c.line().equals("cat /proc/200/cmdline"));
  }

  @Test
  void captureInto_noPs_leavesTheFileOutAndRemovesAStaleOne() throws Exception {
    Files.writeString(tmp.resolve("proxy-process.txt"), "99 /usr/local/bin/kube-proxy\n");
    BundleCapture.Written w = BundleCapture.captureInto(node(null, Map.of()), tmp);
    // Which processes run is unknown now: the earlier record must not be read as this one's.
    assertThat(tmp.resolve("proxy-process.txt")).doesNotExist();
    assertThat(w.removed()).contains("proxy-process.txt");
  }

  @Test
  void capture_labNode_recordsItsSvcproxyRunAndTheDoctorReadsTheFlagsFromTheBundle()
      throws Exception {
    Lab lab = cluster().lab();
    Lab.Node n1 = lab.node("node1");
    Path dir = tmp.resolve("node1");
    List<String> written = BundleCapture.captureTo(lab.runner().inNetns(n1.netns()), dir);
    assertThat(written).contains("proxy-process.txt");

    List<String> lines = Files.readAllLines(dir.resolve("proxy-process.txt"));
    assertThat(lines).hasSize(1);
    String[] f = lines.get(0).split(" ");
    long pid = Long.parseLong(f[0]);
    // The kernel's answer, through other means: the pids iproute2 finds in node1's namespace,
    // and the process's own /proc/PID/cmdline.
    List<String> inNode1 =
        Arrays.asList(
            lab.runner().run("ip", "netns", "pids", n1.netns()).orThrow().stdout().split("\\s+"));
    assertThat(inNode1).contains(String.valueOf(pid));
    String[] argv =
        new String(Files.readAllBytes(Path.of("/proc/" + pid + "/cmdline")), StandardCharsets.UTF_8)
            .split("\0");
    assertThat(lines.get(0)).isEqualTo(pid + " " + String.join(" ", argv));
    assertThat(lines.get(0))
        .contains(" run --mode iptables ")
        .contains(" --node-name node1 ")
        .contains(" --cluster-cidr " + Lab.CLUSTER_CIDR + " ")
        .doesNotContain("--node-name node2");

    // The doctor learns the node's facts from the bundle alone (no node.yaml).
    assertThat(dir.resolve("node.yaml")).doesNotExist();
    DoctorInput in = DoctorInputs.bundle(dir, Optional.empty());
    assertThat(in.facts().nodeName()).contains("node1");
    assertThat(in.facts().proxyMode()).contains("iptables");
    assertThat(in.facts().clusterCidrs()).containsExactly(Cidr.parse(Lab.CLUSTER_CIDR));
    assertThat(in.facts().nodeIps()).containsExactly(n1.ip());
  }

  @Test
  void capture_proxyWithoutClusterCidrThenDead_bundleNamesTheFlagAndTheDeadProxy()
      throws Exception {
    DemoCluster c = cluster();
    Lab lab = c.lab();
    Lab.Node n1 = lab.node("node1");
    CommandRunner node = lab.runner().inNetns(n1.netns());
    c.proxy(1).stop();
    Path log = lab.workDir().resolve("svcproxy-node1-capture-nocidr.log");
    List<String> argv = new ArrayList<>(ProxyProcess.javaCommand());
    argv.addAll(
        List.of(
            "run",
            "--mode",
            "iptables",
            "--manifests",
            c.manifests().toString(),
            "--node-name",
            n1.name(),
            "--node-ip",
            n1.ip(),
            "--lock-dir",
            lab.workDir().toString()));
    try {
      try (Spawned broken = lab.spawn(n1.netns(), argv, log)) {
        awaitSynced(log);
        assertThat(broken.isAlive()).isTrue();
        Path dir = tmp.resolve("nocidr");
        BundleCapture.captureInto(node, dir);
        assertThat(Files.readString(dir.resolve("proxy-process.txt")))
            .contains(" run --mode iptables ")
            .doesNotContain("--cluster-cidr");
        Finding f = single(DoctorInputs.bundle(dir, Optional.empty()), "missing-cluster-cidr");
        // The rules show no masquerade for off-cluster sources; the recorded flags say why,
        // cited on the proxy's line of proxy-process.txt.
        String recorded = Files.readString(dir.resolve("proxy-process.txt")).strip();
        assertThat(f.evidence())
            .contains(new Evidence("proxy-process.txt:1", "no --cluster-cidr: " + recorded));
      }
      // No proxy left in node1's namespace, its rules still there.
      Path dead = tmp.resolve("dead");
      BundleCapture.captureInto(node, dead);
      assertThat(dead.resolve("proxy-process.txt")).isEmptyFile();
      Finding f =
          single(DoctorInputs.bundle(dead, Optional.of(c.manifests())), "kube-proxy-not-running");
      assertThat(f.summary()).startsWith("No proxy process runs on this node");
    } finally {
      c.restartProxies(List.of());
    }
    Path back = tmp.resolve("back");
    BundleCapture.captureInto(node, back);
    assertThat(
            Doctor.standard()
                .examine(DoctorInputs.bundle(back, Optional.of(c.manifests())))
                .findings())
        .noneMatch(x -> x.id().equals("kube-proxy-not-running"))
        .noneMatch(x -> x.id().equals("missing-cluster-cidr"));
  }

  private static Finding single(DoctorInput in, String id) {
    List<Finding> f =
        Doctor.standard().examine(in).findings().stream().filter(x -> x.id().equals(id)).toList();
    assertThat(f).as(id).singleElement();
    return f.get(0);
  }

  private static void awaitSynced(Path log) throws Exception {
    for (int i = 0; i < 600; i++) {
      if (Files.exists(log) && Files.readString(log).contains("synced iptables")) {
        return;
      }
      Thread.sleep(50);
    }
    throw new AssertionError("svcproxy did not sync:\n" + Files.readString(log));
  }
}
