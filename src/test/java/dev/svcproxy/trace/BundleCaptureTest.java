package dev.svcproxy.trace;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.RecordingCommandRunner;
import dev.svcproxy.trace.bundle.BundleCapture;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BundleCaptureTest {

  @Test
  void capture_namesFilesAsTheBundleFormat_andSkipsFailedCommands() {
    RecordingCommandRunner runner =
        new RecordingCommandRunner(
            c -> {
              String l = c.line();
              String out =
                  switch (l) {
                    case "iptables-nft-save -c" -> "*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n";
                    case "iptables-legacy-save -c" -> "";
                    case "sysctl -a" ->
                        "net.ipv4.ip_forward = 1\nkernel.hostname = x\nnet.ipv4.conf.all.rp_filter = 2\n";
                    case "ls /proc/net/xt_recent" -> "KUBE-SEP-ABC\n";
                    case "cat /proc/net/xt_recent/KUBE-SEP-ABC" -> "src=10.0.0.1 ttl: 64\n";
                    default -> "[]";
                  };
              int code = l.startsWith("ipset") ? 1 : 0;
              return new CommandResult(c.argv(), code, out, code == 0 ? "" : "ipset: not found");
            });
    Map<String, String> files = BundleCapture.capture(runner);
    assertThat(files.keySet())
        .contains(
            "iptables-save.txt",
            "conntrack.txt",
            "ip-addr.json",
            "ip-route.json",
            "ip-rule.json",
            "sysctl.txt",
            "xt_recent/KUBE-SEP-ABC")
        .doesNotContain("ipset-save.txt", "iptables-legacy-save.txt");
    assertThat(files.get("sysctl.txt"))
        .contains("ip_forward")
        .contains("rp_filter")
        .doesNotContain("hostname");
    assertThat(runner.calls()).anyMatch(c -> c.line().equals("ip -j route show table all"));
    assertThat(runner.calls()).noneMatch(c -> c.line().startsWith("iptables-save"));
  }

  @Test
  void capture_withoutIptablesNft_fallsBackToIptablesSave() {
    RecordingCommandRunner runner =
        new RecordingCommandRunner(
            c ->
                c.line().equals("iptables-nft-save -c")
                    ? new CommandResult(c.argv(), 127, "", "not found")
                    : new CommandResult(
                        c.argv(),
                        0,
                        c.line().equals("iptables-save -c") ? "*filter\nCOMMIT\n" : "",
                        ""));
    assertThat(BundleCapture.capture(runner).get("iptables-save.txt"))
        .isEqualTo("*filter\nCOMMIT\n");
  }

  @Test
  void captureInto_folderOfAnEarlierCapture_removesStaleBundleFilesAndKeepsTheUsers(
      @TempDir Path dir) throws Exception {
    // An earlier capture on a node that had legacy rules and an xt_recent list; the user keeps
    // notes and a hand-written node.yaml beside it.
    Files.writeString(dir.resolve("iptables-legacy-save.txt"), "*nat\n-A OLD -j ACCEPT\nCOMMIT\n");
    Files.writeString(dir.resolve("ip-addr.txt"), "1: stale\n");
    Files.createDirectories(dir.resolve("xt_recent"));
    Files.writeString(dir.resolve("xt_recent/KUBE-SEP-OLD"), "src=10.0.0.9 ttl: 64\n");
    Files.writeString(dir.resolve("notes.md"), "mine");
    Files.writeString(dir.resolve("node.yaml"), "name: n1\n");
    RecordingCommandRunner runner =
        new RecordingCommandRunner(
            c ->
                new CommandResult(
                    c.argv(),
                    0,
                    c.line().equals("iptables-nft-save -c")
                        ? "*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n"
                        : c.line().startsWith("ip -j") ? "[]" : "",
                    ""));

    BundleCapture.Written w = BundleCapture.captureInto(runner, dir);

    assertThat(dir.resolve("iptables-legacy-save.txt")).doesNotExist();
    assertThat(dir.resolve("ip-addr.txt")).doesNotExist();
    assertThat(dir.resolve("xt_recent/KUBE-SEP-OLD")).doesNotExist();
    assertThat(dir.resolve("notes.md")).hasContent("mine");
    assertThat(dir.resolve("node.yaml")).exists();
    assertThat(dir.resolve("iptables-save.txt")).content().contains("*nat");
    assertThat(w.removed())
        .containsExactlyInAnyOrder(
            "iptables-legacy-save.txt", "ip-addr.txt", "xt_recent/KUBE-SEP-OLD");
    assertThat(w.untouched()).containsExactly("notes.md");
    assertThat(w.written()).contains("iptables-save.txt", "ip-addr.json");
  }

  @Test
  void requireNetns_missingNamespace_isAnInputErrorNamingIt() {
    RecordingCommandRunner runner =
        new RecordingCommandRunner(
            c ->
                new CommandResult(
                    c.argv(),
                    1,
                    "",
                    "Cannot open network namespace \"nope\": No such file or directory"));
    org.assertj.core.api.Assertions.assertThatThrownBy(
            () -> BundleCapture.requireNetns(runner, "nope"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("--netns nope");
    assertThat(runner.calls().get(0).line()).isEqualTo("ip netns exec nope true");
  }
}
