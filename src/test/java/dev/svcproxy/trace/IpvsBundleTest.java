package dev.svcproxy.trace;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.RecordingCommandRunner;
import dev.svcproxy.trace.bundle.BundleCapture;
import dev.svcproxy.trace.bundle.BundleReader;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** IPVS in bundles: what capture writes, and what the reader makes of it (or of pasted output). */
class IpvsBundleTest {
  private static String fixture(String name) {
    return IpvsListingsTest.fixture(name);
  }

  @Test
  void capture_nodeWithIpvs_addsSaveConnectionsAndVsSysctls() {
    RecordingCommandRunner runner =
        new RecordingCommandRunner(
            c ->
                new CommandResult(
                    c.argv(),
                    0,
                    switch (c.line()) {
                      case "ipvsadm -S -n" -> fixture("ipvsadm-save.txt");
                      case "ipvsadm -L -n -c" -> fixture("ipvsadm-Lnc.txt");
                      case "sysctl -a" ->
                          "kernel.hostname = x\nnet.ipv4.vs.conntrack = 1\n"
                              + "net.ipv4.vs.expire_quiescent_template = 1\n";
                      default -> "[]";
                    },
                    ""));
    Map<String, String> files = BundleCapture.capture(runner);
    assertThat(files.get("ipvsadm-save.txt")).isEqualTo(fixture("ipvsadm-save.txt"));
    assertThat(files.get("ipvsadm-conns.txt")).isEqualTo(fixture("ipvsadm-Lnc.txt"));
    assertThat(files.get("sysctl.txt"))
        .contains("net.ipv4.vs.conntrack = 1")
        .contains("net.ipv4.vs.expire_quiescent_template = 1")
        .doesNotContain("hostname");
  }

  @Test
  void capture_nodeWithoutIpvs_leavesTheFilesOut_andNeverRunsIpvsadm() {
    // ipvsadm would modprobe ip_vs itself: without /proc/net/ip_vs the capture must not run it.
    RecordingCommandRunner runner =
        new RecordingCommandRunner(
            c -> new CommandResult(c.argv(), c.line().startsWith("test -e") ? 1 : 0, "[]", ""));
    Map<String, String> files = BundleCapture.capture(runner);
    assertThat(files).doesNotContainKeys("ipvsadm-save.txt", "ipvsadm-conns.txt");
    assertThat(runner.calls()).noneMatch(c -> c.line().startsWith("ipvsadm"));
    NodeState n = BundleReader.fromFiles(files);
    assertThat(n.ipvs().services()).isEmpty();
    assertThat(n.notes()).anyMatch(s -> s.startsWith("no ipvsadm-save.txt"));
  }

  @Test
  void read_saveConnectionsAndSysctls_intoNodeState() {
    Map<String, String> f = new HashMap<>();
    f.put("ipvsadm-save.txt", fixture("ipvsadm-save.txt"));
    f.put("ipvsadm-conns.txt", fixture("ipvsadm-Lnc.txt"));
    f.put("sysctl.txt", fixture("sysctl-vs.txt"));
    NodeState n = BundleReader.fromFiles(f);
    assertThat(n.warnings()).isEmpty();
    assertThat(n.ipvs().services()).hasSize(7);
    assertThat(n.ipvsConnections()).hasSize(11);
    assertThat(n.sysctl("net.ipv4.vs.conntrack", "")).isEqualTo("1");
    assertThat(n.sysctl("net.ipv4.vs.expire_nodest_conn", "")).isEqualTo("0");
  }

  @Test
  void read_pastedListingWithItsPrompt_isTheSameTableAsTheSave() {
    NodeState saved =
        BundleReader.fromFiles(Map.of("ipvsadm-save.txt", fixture("ipvsadm-save.txt")));
    NodeState pasted =
        BundleReader.fromFiles(
            Map.of("ipvsadm-save.txt", "root@node1:~# ipvsadm -Ln\n" + fixture("ipvsadm-Ln.txt")));
    assertThat(pasted.warnings()).isEmpty();
    assertThat(pasted.ipvs()).isEqualTo(saved.ipvs());
    NodeState stats =
        BundleReader.fromFiles(Map.of("ipvsadm-save.txt", fixture("ipvsadm-Ln-stats.txt")));
    assertThat(stats.ipvs().services()).hasSize(7);
    assertThat(stats.notes())
        .anyMatch(s -> s.contains("--stats listing") && s.contains("assumed rr"));
  }

  @Test
  void read_badLines_becomeFileLineWarnings_andTheRestIsRead() {
    Map<String, String> f = new HashMap<>();
    f.put("ipvsadm-save.txt", "-A -t 10.96.0.10:80 -s rr\n-a -t 10.96.0.10:80 -r nonsense -m\n");
    f.put(
        "ipvsadm-conns.txt",
        "IPVS connection entries\nTCP 01:50  TIME_WAIT   10.0.0.2:1     10.96.0.10:80\n");
    NodeState n = BundleReader.fromFiles(f);
    assertThat(n.ipvs().services()).hasSize(1);
    assertThat(n.warnings())
        .anyMatch(w -> w.startsWith("ipvsadm-save.txt:2: "))
        .anyMatch(w -> w.startsWith("ipvsadm-conns.txt:2: "));
  }
}
