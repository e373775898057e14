package dev.svcproxy.config;

import dev.svcproxy.model.Cidr;
import dev.svcproxy.model.Ip;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Upstream's pkg/proxy/apis/config/validation.Validate over the defaulted fields, plus the values
 * svcproxy rejects because ignoring them would change behaviour silently. Messages follow
 * apimachinery's field.Invalid: "KubeProxyConfiguration.PATH: Invalid value: VALUE: DETAIL", with
 * the JSON path of the field.
 */
final class Validation {
  /** One error; {@code otherPath} is the second field of a cross-field check (or null). */
  record Problem(String path, String otherPath, String message) {}

  /** The IPVS schedulers upstream's validateIPVSSchedulerMethod accepts ("" means rr). */
  static final List<String> SCHEDULERS =
      List.of("rr", "wrr", "lc", "wlc", "lblc", "lblcr", "sh", "dh", "sed", "nq", "mh", "");

  private final Map<String, Object> v;
  private final List<Problem> problems = new ArrayList<>();

  private Validation(Map<String, Object> v) {
    this.v = v;
  }

  static List<Problem> validate(Map<String, Object> values) {
    Validation c = new Validation(values);
    c.run();
    return c.problems;
  }

  private void run() {
    String mode = str("mode");
    if (!List.of("", "iptables", "ipvs", "nftables").contains(mode)) {
      invalid(
          "mode",
          mode,
          "must be iptables, ipvs or nftables or blank (blank means the best-available proxy"
              + " [currently iptables])");
    }
    int bit = integer("iptables.masqueradeBit");
    if (bit < 0 || bit > 31) {
      invalid("iptables.masqueradeBit", bit, "must be within the range [0, 31]");
    }
    syncPeriods("iptables");
    if (mode.equals("ipvs")) {
      syncPeriods("ipvs");
      for (String t : List.of("tcpTimeout", "tcpFinTimeout", "udpTimeout")) {
        nonNegative("ipvs." + t);
      }
      String sched = str("ipvs.scheduler");
      if (!SCHEDULERS.contains(sched)) {
        invalid(
            "ipvs.scheduler",
            sched,
            "must be in [rr wrr lc wlc lblc lblcr sh dh sed nq mh ], blank means the default"
                + " algorithm method (currently rr)");
      }
    }
    for (String c : strings("ipvs.excludeCIDRs")) {
      if (!isCidr(c)) {
        invalid("ipvs.excludeCIDRs", strings("ipvs.excludeCIDRs"), "must be a valid IP block");
        break;
      }
    }
    for (String f : List.of("conntrack.maxPerCore", "conntrack.min")) {
      if (integer(f) < 0) {
        invalid(f, integer(f), "must be greater than or equal to 0");
      }
    }
    for (String f :
        List.of(
            "conntrack.tcpEstablishedTimeout",
            "conntrack.tcpCloseWaitTimeout",
            "conntrack.udpTimeout",
            "conntrack.udpStreamTimeout")) {
      nonNegative(f);
    }
    if (integer("clientConnection.burst") < 0) {
      invalid(
          "clientConnection.burst",
          integer("clientConnection.burst"),
          "must be greater than or equal to 0");
    }
    int oom = integer("oomScoreAdj");
    if (oom < -1000 || oom > 1000) {
      invalid("oomScoreAdj", oom, "must be within the range [-1000, 1000]");
    }
    if (duration("configSyncPeriod").compareTo(Duration.ZERO) <= 0) {
      invalid("configSyncPeriod", duration("configSyncPeriod"), "must be greater than 0");
    }
    if (!Ip.isIp(str("bindAddress"))) {
      invalid(
          "bindAddress", str("bindAddress"), "not a valid textual representation of an IP address");
    } else if (Ip.isIpv6(str("bindAddress")) && !str("bindAddress").equals("::")) {
      invalid("bindAddress", str("bindAddress"), "svcproxy supports IPv4 only");
    }
    if (!str("healthzBindAddress").isEmpty()) {
      hostPort("healthzBindAddress");
    }
    if (!str("metricsBindAddress").isEmpty()) {
      hostPort("metricsBindAddress");
    }
    clusterCidr();
    List<String> npa = strings("nodePortAddresses");
    for (String a : npa) {
      if (!(a.equals("primary") || isCidr(a))) {
        invalid("nodePortAddresses", npa, "must be a valid CIDR or \"primary\"");
        break;
      }
    }
    detectLocal();
    if (integer("logging.verbosity") < 0) {
      invalid("logging.verbosity", integer("logging.verbosity"), "must be >= 0");
    }
    // Rejected rather than ignored: each would change what svcproxy does without a word.
    if (!List.of("", "text").contains(str("logging.format"))) {
      invalid(
          "logging.format",
          str("logging.format"),
          "svcproxy writes klog-style text only (supported: text)");
    }
    if (Boolean.TRUE.equals(v.get("iptables.snatNodeInternalIP"))) {
      invalid(
          "iptables.snatNodeInternalIP",
          true,
          "not implemented by svcproxy (it SNATs to the egress interface's address)");
    }
  }

  private void syncPeriods(String section) {
    String sync = section + ".syncPeriod";
    String min = section + ".minSyncPeriod";
    if (duration(sync).compareTo(Duration.ZERO) <= 0) {
      invalid(sync, duration(sync), "must be greater than 0");
    }
    if (duration(min).isNegative()) {
      invalid(min, duration(min), "must be greater than or equal to 0");
    }
    if (duration(min).compareTo(duration(sync)) > 0) {
      problems.add(
          new Problem(
              sync,
              min,
              "KubeProxyConfiguration."
                  + sync
                  + ": Invalid value: "
                  + KubeProxyConfiguration.show(duration(min))
                  + ": must be greater than or equal to KubeProxyConfiguration."
                  + min));
    }
  }

  private void nonNegative(String f) {
    if (duration(f).isNegative()) {
      invalid(f, duration(f), "must be greater than or equal to 0");
    }
  }

  private void hostPort(String f) {
    String s = str(f);
    String[] hp = HostPort.split(s);
    if (hp == null) {
      invalid(f, s, "must be IP:port");
      return;
    }
    if (!Ip.isIp(hp[0])) {
      invalid(f, hp[0], "must be a valid IP");
    }
    int port;
    try {
      port = Integer.parseInt(hp[1]);
    } catch (NumberFormatException e) {
      port = -1;
    }
    if (port < 1 || port > 65535) {
      invalid(f, hp[1], "must be a valid port");
    }
  }

  private void clusterCidr() {
    String s = str("clusterCIDR");
    if (s.isEmpty()) {
      return;
    }
    String[] cidrs = s.split(",", -1);
    if (cidrs.length > 2) {
      invalid(
          "clusterCIDR",
          s,
          "only one CIDR allowed or a valid DualStack CIDR (e.g. 10.100.0.0/16,fde4:8dba:82e1::/48)");
    } else if (cidrs.length == 2) {
      if (!isCidr(cidrs[0])
          || !isCidr(cidrs[1])
          || Cidr.parse(cidrs[0]).ipv6() == Cidr.parse(cidrs[1]).ipv6()) {
        invalid(
            "clusterCIDR",
            s,
            "must be a valid DualStack CIDR (e.g. 10.100.0.0/16,fde4:8dba:82e1::/48)");
      }
    } else if (!isCidr(s)) {
      invalid(
          "clusterCIDR",
          s,
          "must be a valid CIDR block (e.g. 10.100.0.0/16 or fde4:8dba:82e1::/48)");
    }
  }

  private void detectLocal() {
    String mode = str("detectLocalMode");
    switch (mode) {
      case "", "ClusterCIDR", "NodeCIDR" -> {}
      case "BridgeInterface" -> {
        if (str("detectLocal.bridgeInterface").isEmpty()) {
          invalid(
              "detectLocal.bridgeInterface",
              "detectLocalMode",
              "",
              "must not be empty when detectLocalMode is BridgeInterface");
        }
      }
      case "InterfaceNamePrefix" -> {
        if (str("detectLocal.interfaceNamePrefix").isEmpty()) {
          invalid(
              "detectLocal.interfaceNamePrefix",
              "detectLocalMode",
              "",
              "must not be empty when detectLocalMode is InterfaceNamePrefix");
        }
      }
      default ->
          invalid(
              "detectLocalMode",
              mode,
              "must be one of ClusterCIDR, NodeCIDR, BridgeInterface, InterfaceNamePrefix");
    }
  }

  private static boolean isCidr(String s) {
    try {
      Cidr.parse(s);
      return true;
    } catch (IllegalArgumentException e) {
      return false;
    }
  }

  private void invalid(String path, Object value, String detail) {
    invalid(path, null, value, detail);
  }

  private void invalid(String path, String otherPath, Object value, String detail) {
    problems.add(
        new Problem(
            path,
            otherPath,
            "KubeProxyConfiguration."
                + path
                + ": Invalid value: "
                + KubeProxyConfiguration.show(value)
                + ": "
                + detail));
  }

  private String str(String f) {
    return (String) v.get(f);
  }

  private int integer(String f) {
    return (Integer) v.get(f);
  }

  private Duration duration(String f) {
    return (Duration) v.get(f);
  }

  private List<String> strings(String f) {
    Object o = v.get(f);
    List<String> l = new ArrayList<>();
    if (o instanceof List<?> list) {
      for (Object x : list) {
        l.add(x.toString());
      }
    }
    return l;
  }
}
