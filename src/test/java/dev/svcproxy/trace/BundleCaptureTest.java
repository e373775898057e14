package dev.svcproxy.trace;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.RecordingCommandRunner;
import dev.svcproxy.trace.bundle.BundleCapture;
import java.util.Map;
import org.junit.jupiter.api.Test;

class BundleCaptureTest {

  @Test
  void capture_namesFilesAsTheBundleFormat_andSkipsFailedCommands() {
    RecordingCommandRunner runner =
        new RecordingCommandRunner(
            c -> {
              String l = c.line();
              String out =
                  switch (l) {
                    case "iptables-nft-save" -> "*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n";
                    case "iptables-legacy-save" -> "";
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
    assertThat(runner.calls()).noneMatch(c -> c.line().equals("iptables-save"));
  }

  @Test
  void capture_withoutIptablesNft_fallsBackToIptablesSave() {
    RecordingCommandRunner runner =
        new RecordingCommandRunner(
            c ->
                c.line().equals("iptables-nft-save")
                    ? new CommandResult(c.argv(), 127, "", "not found")
                    : new CommandResult(
                        c.argv(),
                        0,
                        c.line().equals("iptables-save") ? "*filter\nCOMMIT\n" : "",
                        ""));
    assertThat(BundleCapture.capture(runner).get("iptables-save.txt"))
        .isEqualTo("*filter\nCOMMIT\n");
  }
}
