package dev.svcproxy.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.svcproxy.conntrack.ConntrackSysctls;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** The --conntrack-* flags as sysctl settings; defaults are upstream's (v1alpha1 defaults.go). */
class ConntrackFlagsTest {
  static AgentOptions parse(String... args) {
    AgentOptions a = new AgentOptions();
    new CommandLine(a).parseArgs(args);
    return a;
  }

  @Test
  void settings_defaults_upstreamDefaults() {
    assertThat(ConntrackFlags.settings(parse()))
        .isEqualTo(
            new ConntrackSysctls.Settings(
                32768,
                131072,
                Duration.ofHours(24),
                Duration.ofHours(1),
                false,
                Duration.ZERO,
                Duration.ZERO));
  }

  @Test
  void settings_everyFlag_taken() {
    assertThat(
            ConntrackFlags.settings(
                parse(
                    "--conntrack-max-per-core=0",
                    "--conntrack-min=5",
                    "--conntrack-tcp-timeout-established=2h",
                    "--conntrack-tcp-timeout-close-wait=90s",
                    "--conntrack-tcp-be-liberal",
                    "--conntrack-udp-timeout=30s",
                    "--conntrack-udp-timeout-stream=2m")))
        .isEqualTo(
            new ConntrackSysctls.Settings(
                0,
                5,
                Duration.ofHours(2),
                Duration.ofSeconds(90),
                true,
                Duration.ofSeconds(30),
                Duration.ofMinutes(2)));
  }

  @Test
  void settings_negativeValue_usageErrorNamingTheFlag() {
    assertThatThrownBy(() -> ConntrackFlags.settings(parse("--conntrack-min=-1")))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("--conntrack-min");
    assertThatThrownBy(() -> ConntrackFlags.settings(parse("--conntrack-udp-timeout=-5s")))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("--conntrack-udp-timeout");
  }
}
