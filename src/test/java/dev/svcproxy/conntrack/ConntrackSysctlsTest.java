package dev.svcproxy.conntrack;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.RecordingCommandRunner;
import java.time.Duration;
import java.util.List;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Transcribes upstream's pkg/proxy/conntrack/sysctls_test.go (TestGetConntrackMax,
 * TestSetupConntrack) onto the sysctl argv; the one deliberate difference is that a failure is
 * logged and the remaining sysctls are still set (upstream returns the first error and exits).
 */
class ConntrackSysctlsTest {
  static final Duration Z = Duration.ZERO;

  /**
   * A kernel whose sysctls read "7" until written and whose hashsize is {@code hashsize}; a write
   * fails with {@code failWriteExit} unless it is 0.
   */
  static Function<RecordingCommandRunner.Call, CommandResult> kernel(
      String hashsize, int failWriteExit) {
    java.util.Map<String, String> values = new java.util.HashMap<>();
    return c -> {
      List<String> a = c.argv();
      if (a.get(0).equals("sysctl") && a.get(1).equals("-n")) {
        return new CommandResult(a, 0, values.getOrDefault(a.get(2), "7") + "\n", "");
      }
      if (a.get(0).equals("sysctl") && failWriteExit == 0) {
        String[] kv = a.get(2).split("=");
        values.put(kv[0], kv[1]);
        return new CommandResult(a, 0, a.get(2).replace("=", " = ") + "\n", "");
      }
      if (a.get(0).equals("cat")) {
        return new CommandResult(a, 0, hashsize + "\n", "");
      }
      if (a.get(0).equals("sysctl") && failWriteExit != 0) {
        return new CommandResult(
            a, failWriteExit, "", "sysctl: permission denied on key \"" + a.get(2) + "\"\n");
      }
      return new CommandResult(a, 0, "", "");
    };
  }

  static List<String> writes(RecordingCommandRunner r) {
    return r.calls().stream()
        .map(RecordingCommandRunner.Call::line)
        .filter(l -> l.startsWith("sysctl -w") || l.startsWith("tee"))
        .toList();
  }

  static List<String> apply(ConntrackSysctls.Settings s) {
    RecordingCommandRunner r = new RecordingCommandRunner(kernel("1000000", 0));
    new ConntrackSysctls(r, 4).apply(s);
    return writes(r);
  }

  @ParameterizedTest(name = "maxPerCore={0} min={1} cpus={2}")
  @CsvSource({
    // TestGetConntrackMax's cases, with ncores = 2 and 4.
    "0, 0, 2, 0",
    "67890, 1, 2, 135780",
    "67890, 1, 4, 271560",
    "1, 123456, 2, 123456",
    "0, 123456, 2, 0",
    // The cap upstream added (maxLimit = 1048576).
    "32768, 131072, 64, 1048576",
    // kube-proxy's defaults on 2 and 8 CPUs.
    "32768, 131072, 2, 131072",
    "32768, 131072, 8, 262144"
  })
  void conntrackMax_upstreamCases_scaledFlooredCapped(int perCore, int min, int cpus, int want) {
    assertThat(ConntrackSysctls.conntrackMax(perCore, min, cpus)).isEqualTo(want);
  }

  @Test
  void apply_emptyConfig_setsNothing() {
    assertThat(apply(new ConntrackSysctls.Settings(0, 0, Z, Z, false, Z, Z))).isEmpty();
  }

  @Test
  void apply_maxPerCore_setsScaledMaxOnly() {
    // 12 x 4 CPUs = 48; the hashsize (1000000) is already more than 48/4.
    assertThat(apply(new ConntrackSysctls.Settings(12, 0, Z, Z, false, Z, Z)))
        .containsExactly("sysctl -w net.netfilter.nf_conntrack_max=48");
  }

  @Test
  void apply_eachTimeoutAndFlag_setsItsOwnSysctlInSeconds() {
    Duration five = Duration.ofSeconds(5);
    assertThat(apply(new ConntrackSysctls.Settings(0, 0, five, Z, false, Z, Z)))
        .containsExactly("sysctl -w net.netfilter.nf_conntrack_tcp_timeout_established=5");
    assertThat(apply(new ConntrackSysctls.Settings(0, 0, Z, five, false, Z, Z)))
        .containsExactly("sysctl -w net.netfilter.nf_conntrack_tcp_timeout_close_wait=5");
    assertThat(apply(new ConntrackSysctls.Settings(0, 0, Z, Z, true, Z, Z)))
        .containsExactly("sysctl -w net.netfilter.nf_conntrack_tcp_be_liberal=1");
    assertThat(apply(new ConntrackSysctls.Settings(0, 0, Z, Z, false, five, Z)))
        .containsExactly("sysctl -w net.netfilter.nf_conntrack_udp_timeout=5");
    assertThat(apply(new ConntrackSysctls.Settings(0, 0, Z, Z, false, Z, five)))
        .containsExactly("sysctl -w net.netfilter.nf_conntrack_udp_timeout_stream=5");
  }

  @Test
  void apply_kubeProxyDefaults_setsMaxAndTcpTimeoutsInUpstreamOrder() {
    // --conntrack-max-per-core 32768, --conntrack-min 131072, 24h, 1h; the udp ones are 0.
    assertThat(
            apply(
                new ConntrackSysctls.Settings(
                    32768, 131072, Duration.ofHours(24), Duration.ofHours(1), false, Z, Z)))
        .containsExactly(
            "sysctl -w net.netfilter.nf_conntrack_max=131072",
            "sysctl -w net.netfilter.nf_conntrack_tcp_timeout_established=86400",
            "sysctl -w net.netfilter.nf_conntrack_tcp_timeout_close_wait=3600");
  }

  @Test
  void apply_valueAlreadySet_notWritten() {
    // The kernel reads 7 everywhere: as upstream's setIntSysCtl, an equal value is left alone.
    assertThat(apply(new ConntrackSysctls.Settings(0, 0, Duration.ofSeconds(7), Z, false, Z, Z)))
        .isEmpty();
  }

  @Test
  void apply_hashsizeSmallerThanQuarterOfMax_grownToIt() {
    RecordingCommandRunner r = new RecordingCommandRunner(kernel("16384", 0));

    List<String> problems =
        new ConntrackSysctls(r, 4)
            .apply(new ConntrackSysctls.Settings(32768, 0, Z, Z, false, Z, Z));

    // 32768 x 4 = 131072; a quarter is 32768, more than 16384.
    assertThat(writes(r))
        .containsExactly(
            "sysctl -w net.netfilter.nf_conntrack_max=131072",
            "tee /sys/module/nf_conntrack/parameters/hashsize");
    assertThat(r.calls().get(r.calls().size() - 1).stdin()).isEqualTo("32768");
    assertThat(problems).isEmpty();
  }

  @Test
  void apply_hashsizeNotWritable_logsUpstreamsReadOnlyMessageAndGoesOn() {
    Function<RecordingCommandRunner.Call, CommandResult> kernel = kernel("16384", 0);
    RecordingCommandRunner r =
        new RecordingCommandRunner(
            c ->
                c.argv().get(0).equals("tee")
                    ? new CommandResult(
                        c.argv(), 1, "", "tee: " + c.argv().get(1) + ": I/O error\n")
                    : kernel.apply(c));

    List<String> problems =
        new ConntrackSysctls(r, 4).apply(new ConntrackSysctls.Settings(32768, 0, Z, Z, true, Z, Z));

    assertThat(problems).singleElement().asString().startsWith(ConntrackSysctls.READ_ONLY_SYSFS);
    assertThat(writes(r)).contains("sysctl -w net.netfilter.nf_conntrack_tcp_be_liberal=1");
  }

  @Test
  void apply_writeFails_restStillSetAndEachFailureReported() {
    // TestSetupConntrack's "an error is returned if conntrack.SetTCPEstablishedTimeout fails";
    // here it is reported and the next sysctl is still written.
    RecordingCommandRunner r = new RecordingCommandRunner(kernel("1000000", 255));

    List<String> problems =
        new ConntrackSysctls(r, 4)
            .apply(new ConntrackSysctls.Settings(0, 0, Duration.ofSeconds(5), Z, true, Z, Z));

    assertThat(writes(r))
        .containsExactly(
            "sysctl -w net.netfilter.nf_conntrack_tcp_timeout_established=5",
            "sysctl -w net.netfilter.nf_conntrack_tcp_be_liberal=1");
    assertThat(problems).hasSize(2);
    assertThat(problems.get(0)).contains("nf_conntrack_tcp_timeout_established=5", "permission");
  }

  @Test
  void apply_sysctlExitsZeroButKernelRefused_reported() {
    // procps sysctl on this host, in a network namespace: exit 0, "setting key
    // \"net.netfilter.nf_conntrack_max\": Invalid argument" on stderr, the value unchanged.
    RecordingCommandRunner r =
        new RecordingCommandRunner(
            c ->
                c.argv().get(1).equals("-w")
                    ? new CommandResult(
                        c.argv(),
                        0,
                        "",
                        "sysctl: setting key \"net.netfilter.nf_conntrack_max\": Invalid argument\n")
                    : kernel("1000000", 0).apply(c));

    List<String> problems =
        new ConntrackSysctls(r, 4).apply(new ConntrackSysctls.Settings(12, 0, Z, Z, false, Z, Z));

    assertThat(problems).singleElement().asString().contains("Invalid argument");
  }

  @Test
  void detectNumCpu_nprocAll_usesIt() {
    RecordingCommandRunner r =
        new RecordingCommandRunner(c -> new CommandResult(c.argv(), 0, "96\n", ""));

    assertThat(ConntrackSysctls.detectNumCpu(r)).isEqualTo(96);
    assertThat(r.calls().get(0).line()).isEqualTo("nproc --all");
  }
}
