package dev.svcproxy.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import picocli.CommandLine;

/**
 * run refuses nonsense flags (exit 2, one line naming the flag) before it touches the node: its
 * runner here records any command instead of running it, and the test fails if one was asked for.
 */
class RunCommandTest {
  @TempDir Path lockDir;
  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();
  private final RefusingRunner refusing = new RefusingRunner();
  private final List<List<String>> commands = refusing.commands;

  private int run(String line) {
    return run(line.isEmpty() ? List.of() : List.of(line.split(" ")));
  }

  private int run(List<String> extra) {
    return run(extra, "n");
  }

  private int run(List<String> extra, String nodeName) {
    CommandLine.IFactory factory = refusing.factory();
    String manifests = SvcproxyProcess.resource("/golden/overall/input.yaml").toString();
    List<String> args =
        new ArrayList<>(List.of("run", "--manifests", manifests, "--node-name", nodeName));
    args.addAll(List.of("--lock-dir", lockDir.toString()));
    args.addAll(extra);
    return Main.execute(
        Main.commandLine(factory),
        args.toArray(String[]::new),
        new PrintWriter(out, true),
        new PrintWriter(err, true));
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      value = {
        "--iptables-sync-period 0s | --iptables-sync-period",
        "--iptables-min-sync-period 0s --iptables-sync-period 0s | --iptables-sync-period",
        "--iptables-sync-period 0 | --iptables-sync-period",
        "--iptables-sync-period -30s | --iptables-sync-period",
        "--iptables-sync-period 30 | --iptables-sync-period",
        "--iptables-sync-period soon | --iptables-sync-period",
        "--iptables-sync-period 1d | --iptables-sync-period",
        "--iptables-sync-period 99999999999h | --iptables-sync-period",
        "--iptables-min-sync-period -1s | --iptables-min-sync-period",
        "--iptables-min-sync-period 1 | --iptables-min-sync-period",
        "--iptables-min-sync-period 5m --iptables-sync-period 30s | --iptables-sync-period",
        "--iptables-min-sync-period 31s | --iptables-sync-period",
        "--masquerade-bit 32 | --masquerade-bit",
        "--masquerade-bit -1 | --masquerade-bit",
        "--masquerade-bit x | --masquerade-bit",
        "--cluster-cidr 10.0.0.0/33 | --cluster-cidr",
        "--cluster-cidr nonsense | --cluster-cidr",
        "--cluster-cidr 10.0.0.0/8,10.1.0.0/16 | --cluster-cidr",
        "--cluster-cidr 10.0.0.0/8,fd00::/48,10.1.0.0/16 | --cluster-cidr",
        "--nodeport-addresses 300.0.0.0/8 | --nodeport-addresses",
        "--nodeport-addresses primary,10.0.0.0/8 | --nodeport-addresses",
        "--detect-local-mode Foo | --detect-local-mode",
        "--detect-local-mode NodeCIDR | --node-pod-cidr",
        "--detect-local-mode NodeCIDR --node-pod-cidr 10.0.0.0/99 | --node-pod-cidr",
        "--detect-local-mode BridgeInterface | --pod-bridge-interface",
        "--detect-local-mode InterfaceNamePrefix | --pod-interface-name-prefix",
        "--node-ip 10.0.0.256 | --node-ip",
        "--mode userspace | --mode",
        "--mode ipvs --ipvs-sync-period 0s | --ipvs-sync-period",
        "--mode ipvs --ipvs-scheduler Round-Robin | --ipvs-scheduler",
        "--mode ipvs --ipvs-graceful-retry-period 0s | --ipvs-graceful-retry-period",
        "--iptables-localhost-nodeports maybe | --iptables-localhost-nodeports",
      })
  void run_nonsenseFlag_exitsTwoNamingTheFlag_beforeTouchingTheNode(String flags, String flag) {
    assertThat(run(flags.strip())).as(err.toString()).isEqualTo(2);
    assertThat(err.toString().strip().lines()).hasSize(1);
    assertThat(err.toString()).startsWith("svcproxy: ").contains(flag.strip());
    assertThat(commands).isEmpty();
  }

  @Test
  void run_blankNodeName_exitsTwo() {
    assertThat(run(List.of(), " ")).isEqualTo(2);
    assertThat(err.toString()).contains("--node-name");
    assertThat(commands).isEmpty();
  }

  @Test
  void run_sensibleFlags_passValidation_andOnlyThenReachTheNode() {
    // The oracle for "passes validation": the first thing after it is reading node addresses.
    assertThat(run("--iptables-min-sync-period 0s --iptables-sync-period 1m30s")).isEqualTo(3);
    assertThat(commands).isNotEmpty();
    assertThat(err.toString()).contains("test: run touched the node");
  }

  @Test
  void run_modeIpvs_passesValidation_andOnlyThenReachesTheNode() {
    assertThat(run("--mode ipvs --ipvs-scheduler wrr --ipvs-exclude-cidrs 10.200.0.0/16"))
        .isEqualTo(3);
    assertThat(commands).isNotEmpty();
    assertThat(err.toString()).contains("test: run touched the node");
  }
}
