package dev.svcproxy.conntrack;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.CommandRunner;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The conntrack sysctls kube-proxy sets at start from its --conntrack-* flags (upstream's
 * conntrack.SetSysctls), through `sysctl` and the conntrack module's hashsize parameter. Unlike
 * upstream, which exits when one cannot be written, every failure is logged and the rest still set:
 * in a network namespace other than the host's, nf_conntrack_max is read-only and hashsize cannot
 * be written at all, and a proxy that runs there still works with the kernel's values.
 */
public final class ConntrackSysctls {
  private static final Logger LOG = LoggerFactory.getLogger(ConntrackSysctls.class);

  /** Upstream's cap on the scaled nf_conntrack_max, against memory use on many-core machines. */
  static final int MAX_LIMIT = 1_048_576;

  static final String HASHSIZE = "/sys/module/nf_conntrack/parameters/hashsize";

  /**
   * Upstream's event message for a hashsize it cannot write (docker issue #24000); kept word for
   * word so that runbooks grepping for it still match.
   */
  static final String READ_ONLY_SYSFS =
      "CRI error: /sys is read-only: cannot modify conntrack limits, problems may arise later (If"
          + " running Docker, see docker issue #24000)";

  /**
   * The --conntrack-* flag values (KubeProxyConntrackConfiguration); zero durations and a zero
   * maxPerCore leave the kernel's value as it is.
   */
  public record Settings(
      int maxPerCore,
      int min,
      Duration tcpEstablishedTimeout,
      Duration tcpCloseWaitTimeout,
      boolean tcpBeLiberal,
      Duration udpTimeout,
      Duration udpStreamTimeout) {}

  private final CommandRunner runner;
  private final int numCpu;

  /** Sysctls set through {@code runner}, nf_conntrack_max scaled by {@code numCpu}. */
  public ConntrackSysctls(CommandRunner runner, int numCpu) {
    this.runner = runner;
    this.numCpu = numCpu;
  }

  /**
   * The machine's CPU count as upstream counts it (all CPUs of the machine, not the ones a cgroup
   * quota leaves): `nproc --all`, else what the JVM sees.
   */
  public static int detectNumCpu(CommandRunner runner) {
    CommandResult r = runner.run("nproc", "--all");
    String out = r.stdout().strip();
    if (r.ok() && out.matches("\\d{1,6}") && Integer.parseInt(out) > 0) {
      return Integer.parseInt(out);
    }
    return Runtime.getRuntime().availableProcessors();
  }

  /**
   * nf_conntrack_max for {@code maxPerCore} x {@code numCpu}, at least {@code min}, at most
   * upstream's cap; 0 (leave it) when maxPerCore is 0 (upstream's getConntrackMax).
   */
  static int conntrackMax(int maxPerCore, int min, int numCpu) {
    if (maxPerCore <= 0) {
      return 0;
    }
    long scaled = (long) maxPerCore * numCpu;
    if (scaled > MAX_LIMIT) {
      LOG.debug(
          "GetConntrackMax: capping scaled conntrack-max-per-core {} to {}", scaled, MAX_LIMIT);
      return MAX_LIMIT;
    }
    if (scaled > min) {
      LOG.debug("GetConntrackMax: using scaled conntrack-max-per-core");
      return (int) scaled;
    }
    LOG.debug("GetConntrackMax: using conntrack-min");
    return Math.max(min, 0);
  }

  /** Sets what {@code s} asks for, in upstream's order; returns the problems it logged. */
  public List<String> apply(Settings s) {
    List<String> problems = new ArrayList<>();
    int max = conntrackMax(s.maxPerCore(), s.min(), numCpu);
    if (max > 0) {
      LOG.info("Setting nf_conntrack_max nfConntrackMax={}", max);
      setInt("nf_conntrack_max", max, problems);
      hashsize(max, problems);
    }
    if (seconds(s.tcpEstablishedTimeout()) > 0) {
      setInt("nf_conntrack_tcp_timeout_established", seconds(s.tcpEstablishedTimeout()), problems);
    }
    if (seconds(s.tcpCloseWaitTimeout()) > 0) {
      setInt("nf_conntrack_tcp_timeout_close_wait", seconds(s.tcpCloseWaitTimeout()), problems);
    }
    if (s.tcpBeLiberal()) {
      setInt("nf_conntrack_tcp_be_liberal", 1, problems);
    }
    if (seconds(s.udpTimeout()) > 0) {
      setInt("nf_conntrack_udp_timeout", seconds(s.udpTimeout()), problems);
    }
    if (seconds(s.udpStreamTimeout()) > 0) {
      setInt("nf_conntrack_udp_timeout_stream", seconds(s.udpStreamTimeout()), problems);
    }
    return problems;
  }

  /** Whole seconds, as upstream's int(d / time.Second); 0 for a duration under a second. */
  private static int seconds(Duration d) {
    if (d == null || d.isNegative()) {
      return 0;
    }
    return (int) Math.min(Integer.MAX_VALUE, d.getSeconds());
  }

  /** As upstream's setIntSysCtl: written only when the kernel holds another value. */
  private void setInt(String name, int value, List<String> problems) {
    String key = "net.netfilter." + name;
    CommandResult now = runner.run("sysctl", "-n", key);
    if (now.ok() && now.stdout().strip().equals(Integer.toString(value))) {
      return;
    }
    LOG.info("Set sysctl entry={} value={}", "net/netfilter/" + name, value);
    CommandResult w = runner.run("sysctl", "-w", key + "=" + value);
    // procps' sysctl exits 0 when the kernel refuses the value (a read-only nf_conntrack_max in a
    // network namespace: "setting key ...: Invalid argument"), so the value is read back.
    CommandResult after = w.ok() ? runner.run("sysctl", "-n", key) : w;
    if (!w.ok() || !after.ok() || !after.stdout().strip().equals(Integer.toString(value))) {
      String why = w.stderr().isBlank() ? "it reads " + after.stdout().strip() : w.firstErrorLine();
      String p =
          "could not set conntrack parameter "
              + key
              + "="
              + value
              + " ("
              + why
              + "); keeping the kernel's value";
      LOG.warn(p);
      problems.add(p);
    }
  }

  /** The conntrack hash table is grown to max/4 when smaller, as upstream's SetMax does. */
  private void hashsize(int max, List<String> problems) {
    CommandResult r = runner.run("cat", HASHSIZE);
    String v = r.stdout().strip();
    if (!r.ok() || !v.matches("\\d{1,10}")) {
      String p = "could not read " + HASHSIZE + " (" + r.firstErrorLine() + ")";
      LOG.warn(p);
      problems.add(p);
      return;
    }
    if (Long.parseLong(v) >= max / 4) {
      return;
    }
    LOG.info("Setting conntrack hashsize conntrackHashsize={}", max / 4);
    // Linux accepts a hashsize write only from the initial network namespace, and /sys may be
    // mounted read-only in a container.
    CommandResult w =
        runner.run(List.of("tee", HASHSIZE), Integer.toString(max / 4), Duration.ofSeconds(10));
    if (!w.ok()) {
      String p = READ_ONLY_SYSFS + ": " + w.firstErrorLine();
      LOG.warn(p);
      problems.add(p);
    }
  }
}
