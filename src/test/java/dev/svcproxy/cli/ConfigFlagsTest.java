package dev.svcproxy.cli;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import dev.svcproxy.config.KubeProxyConfiguration;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;

/**
 * run --config / --write-config-to / -v: the file's fields reach the flags' fields, flags given on
 * the command line win over the file, and --write-config-to writes the result and exits 0 without a
 * single kernel command (the runner refuses them all).
 */
class ConfigFlagsTest {
  private static final String HEAD =
      "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n";

  @TempDir Path dir;
  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();
  private final RefusingRunner refusing = new RefusingRunner();

  @AfterEach
  void infoAgain() {
    // -v raises the root logger for the whole JVM; later tests expect the default.
    ((Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME)).setLevel(Level.INFO);
  }

  private Path file(String name, String text) throws IOException {
    Path p = dir.resolve(name);
    Files.writeString(p, text);
    return p;
  }

  private int run(String... extra) {
    List<String> args = new ArrayList<>(List.of("run", "--lock-dir", dir.toString()));
    args.addAll(List.of(extra));
    return Main.execute(
        Main.commandLine(refusing.factory()),
        args.toArray(String[]::new),
        new PrintWriter(out, true),
        new PrintWriter(err, true));
  }

  /** Parses {@code args} as run's command line and resolves --config as call() does. */
  private RunCommand resolved(String... args) {
    RunCommand cmd = new RunCommand(refusing);
    CommandLine cl = new CommandLine(cmd);
    cl.parseArgs(args);
    ConfigFlags.resolve(cl.getCommandSpec(), cmd.agent.config);
    return cmd;
  }

  @Test
  void resolve_configFile_fieldsReachTheFlags() throws IOException {
    Path cfg =
        file(
            "c.yaml",
            HEAD
                + """
                clientConnection: {kubeconfig: /var/lib/kube-proxy/kubeconfig.conf}
                hostnameOverride: Worker-1
                bindAddress: 192.168.10.5
                healthzBindAddress: 0.0.0.0:20256
                metricsBindAddress: 0.0.0.0:20249
                bindAddressHardFail: true
                mode: ipvs
                clusterCIDR: 10.244.0.0/16
                detectLocalMode: InterfaceNamePrefix
                detectLocal: {interfaceNamePrefix: veth}
                nodePortAddresses: [192.168.10.0/24]
                iptables: {masqueradeAll: true, masqueradeBit: 5, localhostNodePorts: false,
                           syncPeriod: 1m, minSyncPeriod: 2s}
                ipvs: {scheduler: lc, excludeCIDRs: [10.9.0.0/16], strictARP: true,
                       syncPeriod: 45s, minSyncPeriod: 5s, tcpTimeout: 15m, tcpFinTimeout: 30s,
                       udpTimeout: 1m}
                conntrack: {maxPerCore: 0, min: 7, tcpEstablishedTimeout: 2h,
                            tcpCloseWaitTimeout: 30m, tcpBeLiberal: true, udpTimeout: 20s,
                            udpStreamTimeout: 2m}
                configSyncPeriod: 5m
                logging: {verbosity: 3}
                """);
    RunCommand c = resolved("--config", cfg.toString());
    ProxyOptions o = c.options;
    AgentOptions a = c.agent;
    assertThat(a.kubeconfig).isEqualTo(Path.of("/var/lib/kube-proxy/kubeconfig.conf"));
    assertThat(o.nodeName).isEqualTo("worker-1");
    assertThat(o.nodeIP).isEqualTo("192.168.10.5");
    assertThat(a.healthzBindAddress).isEqualTo("0.0.0.0:20256");
    assertThat(a.metricsBindAddress).isEqualTo("0.0.0.0:20249");
    assertThat(a.bindAddressHardFail).isTrue();
    assertThat(o.mode).isEqualTo("ipvs");
    assertThat(o.clusterCidrs).containsExactly("10.244.0.0/16");
    assertThat(o.detectLocalMode).isEqualTo("InterfaceNamePrefix");
    assertThat(o.podInterfaceNamePrefix).isEqualTo("veth");
    assertThat(o.nodePortAddresses).containsExactly("192.168.10.0/24");
    assertThat(o.masqueradeAll).isTrue();
    assertThat(o.masqueradeBit).isEqualTo(5);
    assertThat(o.localhostNodePorts).isFalse();
    assertThat(Durations.parse(c.syncPeriod, "")).isEqualTo(Duration.ofMinutes(1));
    assertThat(Durations.parse(c.minSyncPeriod, "")).isEqualTo(Duration.ofSeconds(2));
    assertThat(o.ipvsScheduler).isEqualTo("lc");
    assertThat(o.ipvsExcludeCidrs).containsExactly("10.9.0.0/16");
    assertThat(o.ipvsStrictArp).isTrue();
    assertThat(o.ipvsSyncPeriod()).isEqualTo(Duration.ofSeconds(45));
    assertThat(o.ipvsMinSyncPeriod()).isEqualTo(Duration.ofSeconds(5));
    assertThat(o.ipvsOptions().tcpTimeoutSeconds()).isEqualTo(900);
    assertThat(o.ipvsOptions().tcpFinTimeoutSeconds()).isEqualTo(30);
    assertThat(o.ipvsOptions().udpTimeoutSeconds()).isEqualTo(60);
    assertThat(a.conntrackMaxPerCore).isZero();
    assertThat(a.conntrackMin).isEqualTo(7);
    assertThat(Durations.parse(a.conntrackTcpTimeoutEstablished, ""))
        .isEqualTo(Duration.ofHours(2));
    assertThat(Durations.parse(a.conntrackTcpTimeoutCloseWait, ""))
        .isEqualTo(Duration.ofMinutes(30));
    assertThat(a.conntrackTcpBeLiberal).isTrue();
    assertThat(Durations.parse(a.conntrackUdpTimeout, "")).isEqualTo(Duration.ofSeconds(20));
    assertThat(Durations.parse(a.conntrackUdpTimeoutStream, "")).isEqualTo(Duration.ofMinutes(2));
    assertThat(Durations.parse(a.configSyncPeriod, "")).isEqualTo(Duration.ofMinutes(5));
    assertThat(a.verbosity).isEqualTo(3);
  }

  @Test
  void resolve_flagsGiven_winOverTheFile() throws IOException {
    Path cfg =
        file(
            "c.yaml",
            HEAD
                + "mode: ipvs\nhostnameOverride: from-file\nclusterCIDR: 10.244.0.0/16\n"
                + "iptables: {masqueradeBit: 5, masqueradeAll: true, syncPeriod: 1m}\n"
                + "conntrack: {maxPerCore: 0}\nmetricsBindAddress: 0.0.0.0:10249\n");
    RunCommand c =
        resolved(
            "--config",
            cfg.toString(),
            "--mode",
            "iptables",
            "--hostname-override",
            "From-Flag",
            "--cluster-cidr",
            "10.8.0.0/16",
            "--masquerade-bit",
            "7",
            "--conntrack-max-per-core",
            "100",
            "--metrics-bind-address",
            "127.0.0.1:9999");
    assertThat(c.options.mode).isEqualTo("iptables");
    assertThat(c.options.nodeName).isEqualTo("From-Flag");
    assertThat(c.options.clusterCidrs).containsExactly("10.8.0.0/16");
    assertThat(c.options.masqueradeBit).isEqualTo(7);
    assertThat(c.agent.conntrackMaxPerCore).isEqualTo(100);
    assertThat(c.agent.metricsBindAddress).isEqualTo("127.0.0.1:9999");
    // Fields no flag named still come from the file.
    assertThat(c.options.masqueradeAll).isTrue();
    assertThat(Durations.parse(c.syncPeriod, "")).isEqualTo(Duration.ofMinutes(1));
  }

  @Test
  void run_writeConfigTo_writesFileWithFlagsOverItAndTouchesNothing() throws IOException {
    Path cfg =
        file(
            "c.yaml",
            HEAD + "mode: ipvs\nclusterCIDR: 10.244.0.0/16\niptables: {masqueradeBit: 5}\n");
    Path written = dir.resolve("out.yaml");
    int code =
        run(
            "--config",
            cfg.toString(),
            "--masquerade-bit",
            "9",
            "--node-name",
            "n1",
            "--write-config-to",
            written.toString());
    assertThat(code).as(err.toString()).isZero();
    assertThat(refusing.commands).isEmpty();
    assertThat(out.toString()).isEmpty();
    KubeProxyConfiguration back = KubeProxyConfiguration.read(written);
    assertThat(back.get("mode")).isEqualTo("ipvs");
    assertThat(back.get("clusterCIDR")).isEqualTo("10.244.0.0/16");
    assertThat(back.get("iptables.masqueradeBit")).isEqualTo(9);
    assertThat(back.get("hostnameOverride")).isEqualTo("n1");
    assertThat(back.get("conntrack.tcpEstablishedTimeout")).isEqualTo(Duration.ofHours(24));
  }

  @Test
  void run_writeConfigToWithoutConfig_writesDefaultsAndFlags() throws IOException {
    Path written = dir.resolve("out.yaml");
    int code =
        run("--ipvs-strict-arp", "--node-name", "n1", "--write-config-to", written.toString());
    assertThat(code).as(err.toString()).isZero();
    assertThat(refusing.commands).isEmpty();
    String text = Files.readString(written);
    assertThat(text)
        .contains("  strictARP: true\n")
        .contains("healthzBindAddress: 0.0.0.0:10256\n")
        .contains("metricsBindAddress: 127.0.0.1:10249\n")
        .contains("oomScoreAdj: -999\n");
  }

  @Test
  void run_configWithUnknownField_exit2NamingIt() throws IOException {
    Path cfg = file("c.yaml", HEAD + "iptables: {masqueradeBitt: 5}\n");
    int code = run("--config", cfg.toString(), "--node-name", "n1", "--manifests", "/nonexistent");
    assertThat(code).isEqualTo(2);
    assertThat(err.toString())
        .contains(
            "--config "
                + cfg
                + ": strict decoding error: unknown field \"iptables.masqueradeBitt\"");
    assertThat(refusing.commands).isEmpty();
  }

  @Test
  void run_configWithInvalidValue_exit2NamingField() throws IOException {
    Path cfg = file("c.yaml", HEAD + "conntrack: {min: -3}\n");
    int code = run("--config", cfg.toString(), "--node-name", "n1", "--manifests", "/nonexistent");
    assertThat(code).isEqualTo(2);
    assertThat(err.toString())
        .contains("KubeProxyConfiguration.conntrack.min: Invalid value: -3: must be greater than");
    assertThat(refusing.commands).isEmpty();
  }

  @Test
  void run_verbosity4_debugLogging() {
    Path written = dir.resolve("out.yaml");
    assertThat(run("-v", "4", "--node-name", "n1", "--write-config-to", written.toString()))
        .isZero();
    assertThat(((Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME)).getLevel())
        .isEqualTo(Level.DEBUG);
  }
}
