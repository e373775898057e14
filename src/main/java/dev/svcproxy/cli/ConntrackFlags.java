package dev.svcproxy.cli;

import dev.svcproxy.conntrack.ConntrackSysctls;
import java.time.Duration;

/** The --conntrack-* flags of `run` as the sysctl settings, checked as upstream validates them. */
final class ConntrackFlags {
  private ConntrackFlags() {}

  /**
   * The settings {@code a} asks for; a negative count or duration is an IllegalArgumentException
   * naming its flag (upstream: "must be greater than or equal to 0").
   */
  static ConntrackSysctls.Settings settings(AgentOptions a) {
    nonNegative(a.conntrackMaxPerCore, "--conntrack-max-per-core");
    nonNegative(a.conntrackMin, "--conntrack-min");
    return new ConntrackSysctls.Settings(
        a.conntrackMaxPerCore,
        a.conntrackMin,
        duration(a.conntrackTcpTimeoutEstablished, "--conntrack-tcp-timeout-established"),
        duration(a.conntrackTcpTimeoutCloseWait, "--conntrack-tcp-timeout-close-wait"),
        a.conntrackTcpBeLiberal,
        duration(a.conntrackUdpTimeout, "--conntrack-udp-timeout"),
        duration(a.conntrackUdpTimeoutStream, "--conntrack-udp-timeout-stream"));
  }

  private static Duration duration(String value, String flag) {
    Duration d = Durations.parse(value, flag);
    if (d.isNegative()) {
      throw new IllegalArgumentException(flag + ": must be greater than or equal to 0");
    }
    return d;
  }

  private static void nonNegative(int value, String flag) {
    if (value < 0) {
      throw new IllegalArgumentException(flag + ": must be greater than or equal to 0");
    }
  }
}
