package dev.svcproxy.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.svcproxy.model.Cidr;
import dev.svcproxy.render.ipvs.IpvsOptions;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import picocli.CommandLine;

/** The IPVS flags of ProxyOptions, validated as upstream's validateKubeProxyIPVSConfiguration. */
class IpvsFlagsTest {
  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();

  private static ProxyOptions options(String... flags) {
    List<String> all = new ArrayList<>(List.of("--manifests", "x", "--node-name", "n"));
    all.addAll(Arrays.asList(flags));
    return CommandLine.populateCommand(new ProxyOptions(), all.toArray(String[]::new));
  }

  @Test
  void ipvsOptions_noFlags_upstreamDefaults() {
    // KubeProxyIPVSConfiguration defaults: scheduler "" (= rr), no excludes, strictARP false,
    // timeouts 0 (kernel's), syncPeriod 30s, minSyncPeriod 0s.
    ProxyOptions o = options("--mode", "ipvs");
    assertThat(o.ipvsOptions()).isEqualTo(IpvsOptions.defaults());
    assertThat(o.ipvsSyncPeriod()).isEqualTo(Duration.ofSeconds(30));
    assertThat(o.ipvsMinSyncPeriod()).isEqualTo(Duration.ZERO);
  }

  @Test
  void ipvsOptions_allFlags_carriedOver() {
    ProxyOptions o =
        options(
            "--mode",
            "ipvs",
            "--ipvs-scheduler",
            "wrr",
            "--ipvs-exclude-cidrs",
            "10.0.0.0/8,192.168.1.0/24",
            "--ipvs-strict-arp",
            "--ipvs-tcp-timeout",
            "2h",
            "--ipvs-tcpfin-timeout",
            "1m30s",
            "--ipvs-udp-timeout",
            "1500ms",
            "--ipvs-sync-period",
            "1m",
            "--ipvs-min-sync-period",
            "2s");
    o.validate(ProxyOptions.MODES);
    assertThat(o.ipvsOptions())
        .isEqualTo(
            new IpvsOptions(
                "wrr",
                List.of(Cidr.parse("10.0.0.0/8"), Cidr.parse("192.168.1.0/24")),
                true,
                7200,
                90,
                1));
    assertThat(o.ipvsSyncPeriod()).isEqualTo(Duration.ofMinutes(1));
    assertThat(o.ipvsMinSyncPeriod()).isEqualTo(Duration.ofSeconds(2));
  }

  @Test
  void validate_modeIpvsWhereOnlyIptablesRuns_refused() {
    // run and cleanup call validate() until they implement ipvs: no silent iptables run.
    assertThatThrownBy(() -> options("--mode", "ipvs").validate())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("--mode ipvs");
  }

  private static String input() throws URISyntaxException {
    return Path.of(IpvsFlagsTest.class.getResource("/golden/overall/input.yaml").toURI())
        .toString();
  }

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {
        "--ipvs-tcp-timeout -1s | --ipvs-tcp-timeout",
        "--ipvs-tcpfin-timeout -5s | --ipvs-tcpfin-timeout",
        "--ipvs-udp-timeout -1m | --ipvs-udp-timeout",
        "--ipvs-udp-timeout ten | --ipvs-udp-timeout",
        "--ipvs-exclude-cidrs 10.0.0.0/33 | --ipvs-exclude-cidrs",
        "--ipvs-exclude-cidrs nonsense | --ipvs-exclude-cidrs",
        "--ipvs-scheduler rr;reboot | --ipvs-scheduler",
        "--ipvs-scheduler RR | --ipvs-scheduler",
        "--ipvs-sync-period 0s | --ipvs-sync-period",
        "--ipvs-min-sync-period -1s | --ipvs-min-sync-period",
        "--ipvs-min-sync-period 1m --ipvs-sync-period 30s | --ipvs-sync-period",
        "--mode userspace | --mode"
      })
  void render_badIpvsFlag_exitsTwoNamingTheFlag(String flags, String flag) throws Exception {
    List<String> args =
        new ArrayList<>(
            List.of(
                "render",
                "--mode",
                "ipvs",
                "--manifests",
                input(),
                "--node-name",
                "n",
                "--node-ip",
                "192.168.0.2",
                "--kernel-capabilities",
                "none"));
    args.addAll(Arrays.asList(flags.strip().split(" ")));
    int code =
        Main.execute(
            args.toArray(String[]::new), new PrintWriter(out, true), new PrintWriter(err, true));
    assertThat(code).isEqualTo(2);
    assertThat(err.toString().strip().lines()).hasSize(1);
    assertThat(err.toString()).startsWith("svcproxy: ").contains(flag);
  }
}
