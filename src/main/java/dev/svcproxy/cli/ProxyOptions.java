package dev.svcproxy.cli;

import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.NodeAddresses;
import dev.svcproxy.model.Cidr;
import dev.svcproxy.model.LocalTrafficDetector;
import dev.svcproxy.model.ProxyConfig;
import dev.svcproxy.render.iptables.IptablesOptions;
import dev.svcproxy.render.ipvs.IpvsOptions;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;

/** The flags render and run share, named as upstream kube-proxy's where it has them. */
public final class ProxyOptions {
  @Option(
      names = "--mode",
      defaultValue = "iptables",
      description = "Proxy mode: iptables, ipvs or nftables.")
  String mode;

  @Option(
      names = "--manifests",
      paramLabel = "PATH",
      description = "A manifest file or directory of Services and EndpointSlices (YAML/JSON).")
  Path manifests;

  @Option(
      names = {"--node-name", "--hostname-override"},
      paramLabel = "NAME",
      description =
          "This node's name; endpoints with this nodeName are local (default: the hostname,"
              + " lower-cased, as upstream's --hostname-override).")
  String nodeName;

  /** Where the default node name comes from (tests replace it). */
  java.util.function.Supplier<String> hostname = ProxyOptions::systemHostname;

  @Option(
      names = "--node-ip",
      paramLabel = "IP",
      description = "This node's primary IPv4 address (default: the first non-loopback one).")
  String nodeIP;

  @Option(
      names = "--cluster-cidr",
      paramLabel = "CIDR[,CIDR]",
      split = ",",
      description = "Pod CIDRs; the first IPv4 one tells pod traffic apart (ClusterCIDR mode).")
  List<String> clusterCidrs = new ArrayList<>();

  @Option(
      names = "--detect-local-mode",
      defaultValue = "ClusterCIDR",
      paramLabel = "MODE",
      description = "ClusterCIDR, NodeCIDR, BridgeInterface or InterfaceNamePrefix.")
  String detectLocalMode;

  @Option(
      names = "--node-pod-cidr",
      paramLabel = "CIDR",
      description = "This node's pod CIDR (Node.spec.podCIDR), for NodeCIDR mode.")
  String nodePodCidr;

  @Option(
      names = "--pod-bridge-interface",
      paramLabel = "NAME",
      description = "The pod bridge, for BridgeInterface mode.")
  String podBridgeInterface;

  @Option(
      names = "--pod-interface-name-prefix",
      paramLabel = "PREFIX",
      description = "Pod interface name prefix, for InterfaceNamePrefix mode.")
  String podInterfaceNamePrefix;

  @Option(names = "--masquerade-all", description = "SNAT all traffic sent to cluster IPs.")
  boolean masqueradeAll;

  @Option(
      names = "--masquerade-bit",
      defaultValue = "14",
      paramLabel = "N",
      description = "The fwmark bit (0-31) that marks packets for SNAT.")
  int masqueradeBit;

  @Option(
      names = "--nodeport-addresses",
      split = ",",
      paramLabel = "CIDRS",
      description = "Only accept NodePort traffic to local addresses in these CIDRs (or primary).")
  List<String> nodePortAddresses = new ArrayList<>();

  @Option(
      names = "--iptables-localhost-nodeports",
      defaultValue = "true",
      arity = "1",
      paramLabel = "BOOL",
      description = "Accept NodePort traffic to 127.0.0.1 (sets route_localnet=1).")
  boolean localhostNodePorts;

  @Option(
      names = "--node-zone",
      paramLabel = "ZONE",
      description = "This node's topology.kubernetes.io/zone, for topology hints.")
  String zone;

  @Option(
      names = "--ipvs-scheduler",
      defaultValue = "rr",
      paramLabel = "NAME",
      description = "IPVS scheduler of every virtual server (rr, wrr, lc, sh, mh, ...).")
  String ipvsScheduler;

  @Option(
      names = "--ipvs-exclude-cidrs",
      split = ",",
      paramLabel = "CIDRS",
      description = "Virtual servers in these CIDRs are never deleted by ipvs mode.")
  List<String> ipvsExcludeCidrs = new ArrayList<>();

  @Option(
      names = "--ipvs-strict-arp",
      description = "Set arp_ignore=1 and arp_announce=2 (answer ARP only for the device's IPs).")
  boolean ipvsStrictArp;

  @Option(
      names = "--ipvs-tcp-timeout",
      defaultValue = "0",
      paramLabel = "DURATION",
      description = "IPVS idle timeout of TCP connections (0 leaves the kernel's, 900s).")
  String ipvsTcpTimeout;

  @Option(
      names = "--ipvs-tcpfin-timeout",
      defaultValue = "0",
      paramLabel = "DURATION",
      description = "IPVS timeout of TCP connections after a FIN (0 leaves the kernel's, 120s).")
  String ipvsTcpFinTimeout;

  @Option(
      names = "--ipvs-udp-timeout",
      defaultValue = "0",
      paramLabel = "DURATION",
      description = "IPVS timeout of UDP flows (0 leaves the kernel's, 300s).")
  String ipvsUdpTimeout;

  @Option(
      names = "--ipvs-sync-period",
      defaultValue = "30s",
      paramLabel = "DURATION",
      description = "ipvs mode: the full resync interval (> 0, >= --ipvs-min-sync-period).")
  String ipvsSyncPeriod;

  @Option(
      names = "--ipvs-min-sync-period",
      defaultValue = "0s",
      paramLabel = "DURATION",
      description = "ipvs mode: minimum time between syncs (>= 0).")
  String ipvsMinSyncPeriod;

  /** --manifests, which every command but `run` with an API source needs. */
  Path manifestsRequired() {
    if (manifests == null) {
      throw new IllegalArgumentException("Missing required option: '--manifests=PATH'");
    }
    return manifests;
  }

  /** The proxy modes svcproxy knows. */
  static final List<String> MODES = List.of("iptables", "ipvs", "nftables");

  /** Whether --mode is nftables. */
  boolean nftables() {
    return mode.equals("nftables");
  }

  /** Whether --mode is ipvs. */
  boolean ipvs() {
    return mode.equals("ipvs");
  }

  /**
   * Rejects nonsense flags before anything touches the node, as upstream's
   * pkg/proxy/apis/config/validation does; each message names the flag. Only --mode iptables
   * passes: a command that runs another mode says so with {@link #validate(List)}.
   */
  void validate() {
    validate(List.of("iptables"));
  }

  /** {@link #validate()} for a command that implements the modes {@code supported}. */
  void validate(List<String> supported) {
    if (!supported.contains(mode)) {
      throw new IllegalArgumentException(
          "--mode "
              + mode
              + (MODES.contains(mode) ? " is not supported by this command" : " is not supported")
              + " (supported: "
              + String.join(", ", supported)
              + ")");
    }
    validateFlags();
  }

  /** Every check but the mode's. */
  private void validateFlags() {
    resolveNodeName();
    if (masqueradeBit < 0 || masqueradeBit > 31) {
      throw new IllegalArgumentException(
          "--masquerade-bit must be within the range [0, 31], got " + masqueradeBit);
    }
    if (nodeIP != null && !dev.svcproxy.model.Ip.isIpv4(nodeIP)) {
      throw new IllegalArgumentException("--node-ip: invalid IPv4 address \"" + nodeIP + "\"");
    }
    checkClusterCidrs(clusterCidrs);
    checkNodePortAddresses(nodePortAddresses);
    switch (LocalTrafficDetector.Mode.parse(detectLocalMode)) {
      case CLUSTER_CIDR -> {}
      case NODE_CIDR -> checkCidr(require(nodePodCidr, "--node-pod-cidr"), "--node-pod-cidr");
      case BRIDGE_INTERFACE -> require(podBridgeInterface, "--pod-bridge-interface");
      case INTERFACE_NAME_PREFIX -> require(podInterfaceNamePrefix, "--pod-interface-name-prefix");
    }
    if (ipvs()) {
      ipvsOptions();
      ipvsSyncPeriod();
    }
  }

  /**
   * The node name as upstream's nodeutil.GetHostname makes it: --hostname-override or else the
   * hostname, trimmed and lower-cased; empty is an error.
   */
  private void resolveNodeName() {
    boolean given = nodeName != null;
    String name = given ? nodeName : hostname.get();
    name = name == null ? "" : name.strip().toLowerCase(java.util.Locale.ROOT);
    if (name.isEmpty()) {
      throw new IllegalArgumentException(
          given
              ? "--node-name must not be empty"
              : "cannot tell this node's name from the hostname; give --hostname-override");
    }
    nodeName = name;
  }

  /** The kernel's hostname (os.Hostname reads the same), or "" when unreadable. */
  private static String systemHostname() {
    try {
      return java.nio.file.Files.readString(Path.of("/proc/sys/kernel/hostname"));
    } catch (java.io.IOException e) {
      return "";
    }
  }

  /** One CIDR, or a dual-stack pair (one IPv4, one IPv6), as upstream allows. */
  private static void checkClusterCidrs(List<String> cidrs) {
    if (cidrs.size() > 2) {
      throw new IllegalArgumentException(
          "--cluster-cidr: must be a single CIDR or a dual-stack pair, got " + cidrs.size());
    }
    List<Cidr> parsed = new ArrayList<>();
    for (String c : cidrs) {
      parsed.add(parseCidr(c, "--cluster-cidr"));
    }
    if (parsed.size() == 2 && parsed.get(0).ipv6() == parsed.get(1).ipv6()) {
      throw new IllegalArgumentException(
          "--cluster-cidr: two CIDRs must be a dual-stack pair (one IPv4, one IPv6), got "
              + String.join(",", cidrs));
    }
  }

  /** CIDRs, or "primary" alone. */
  private static void checkNodePortAddresses(List<String> values) {
    for (String s : values) {
      if (s.equals("primary")) {
        if (values.size() != 1) {
          throw new IllegalArgumentException(
              "--nodeport-addresses: can't use both 'primary' and CIDRs");
        }
      } else {
        parseCidr(s, "--nodeport-addresses");
      }
    }
  }

  /** Builds the mode-independent configuration, reading node addresses through {@code runner}. */
  ProxyConfig proxyConfig(CommandRunner runner) {
    validateFlags();
    LocalTrafficDetector.Mode m = LocalTrafficDetector.Mode.parse(detectLocalMode);
    String value =
        switch (m) {
          case CLUSTER_CIDR -> firstIpv4Cidr(clusterCidrs);
          case NODE_CIDR -> checkCidr(nodePodCidr, "--node-pod-cidr");
          case BRIDGE_INTERFACE -> podBridgeInterface;
          case INTERFACE_NAME_PREFIX -> podInterfaceNamePrefix;
        };
    List<String> addrs = NodeAddresses.ipv4(runner);
    String ip = nodeIP != null ? nodeIP : NodeAddresses.primary(addrs);
    List<Cidr> npa = new ArrayList<>();
    for (String s : nodePortAddresses) {
      // "primary" means the node's primary IP, as upstream's --nodeport-addresses=primary.
      npa.add(
          s.equals("primary") && !ip.isEmpty()
              ? Cidr.parse(ip)
              : parseCidr(s, "--nodeport-addresses"));
    }
    List<String> nodeIPs = addrs.isEmpty() && !ip.isEmpty() ? List.of(ip) : addrs;
    return new ProxyConfig(
        nodeName,
        ip,
        nodeIPs,
        zone,
        new LocalTrafficDetector(m, value),
        masqueradeBit,
        masqueradeAll,
        npa);
  }

  /** The iptables mode's own options. */
  IptablesOptions iptablesOptions() {
    return IptablesOptions.defaults().withLocalhostNodePorts(localhostNodePorts);
  }

  /**
   * The IPVS mode's own options, validated as upstream's validateKubeProxyIPVSConfiguration:
   * timeouts >= 0 (whole seconds, as ipvsadm --set takes them), exclude CIDRs valid, and a
   * scheduler name the kernel could have (IP_VS_SCHEDNAME_MAXLEN is 16 with its NUL).
   */
  IpvsOptions ipvsOptions() {
    String scheduler = ipvsScheduler == null || ipvsScheduler.isEmpty() ? "rr" : ipvsScheduler;
    if (!scheduler.matches("[a-z0-9_]{1,15}")) {
      throw new IllegalArgumentException(
          "--ipvs-scheduler: invalid scheduler name \""
              + ipvsScheduler
              + "\" (lower-case letters, digits, _; at most 15; e.g. rr, wrr, lc, sh)");
    }
    List<Cidr> exclude = new ArrayList<>();
    for (String c : ipvsExcludeCidrs) {
      exclude.add(parseCidr(c, "--ipvs-exclude-cidrs"));
    }
    return new IpvsOptions(
        scheduler,
        exclude,
        ipvsStrictArp,
        timeoutSeconds(ipvsTcpTimeout, "--ipvs-tcp-timeout"),
        timeoutSeconds(ipvsTcpFinTimeout, "--ipvs-tcpfin-timeout"),
        timeoutSeconds(ipvsUdpTimeout, "--ipvs-udp-timeout"));
  }

  /** --ipvs-sync-period, checked against --ipvs-min-sync-period as upstream does. */
  Duration ipvsSyncPeriod() {
    Duration sync = Durations.parse(ipvsSyncPeriod, "--ipvs-sync-period");
    Durations.checkSyncPeriods(
        ipvsMinSyncPeriod(),
        "--ipvs-min-sync-period",
        ipvsMinSyncPeriod,
        sync,
        "--ipvs-sync-period",
        ipvsSyncPeriod);
    return sync;
  }

  /** --ipvs-min-sync-period (>= 0). */
  Duration ipvsMinSyncPeriod() {
    Duration min = Durations.parse(ipvsMinSyncPeriod, "--ipvs-min-sync-period");
    if (min.isNegative()) {
      throw new IllegalArgumentException(
          "--ipvs-min-sync-period: must be greater than or equal to 0, got \""
              + ipvsMinSyncPeriod
              + "\"");
    }
    return min;
  }

  private static int timeoutSeconds(String text, String flag) {
    Duration d = Durations.parse(text, flag);
    if (d.isNegative()) {
      throw new IllegalArgumentException(
          flag + ": must be greater than or equal to 0, got \"" + text + "\"");
    }
    if (d.getSeconds() > Integer.MAX_VALUE) {
      throw new IllegalArgumentException(flag + ": \"" + text + "\" is too long");
    }
    // Upstream hands ipvsadm int(timeout.Seconds()): a fraction of a second is cut off.
    return (int) d.getSeconds();
  }

  private static String firstIpv4Cidr(List<String> cidrs) {
    for (String c : cidrs) {
      Cidr parsed = parseCidr(c, "--cluster-cidr");
      if (!parsed.ipv6()) {
        return parsed.masked().toString();
      }
    }
    return "";
  }

  private static String checkCidr(String c, String flag) {
    return parseCidr(c, flag).masked().toString();
  }

  private static Cidr parseCidr(String c, String flag) {
    try {
      return Cidr.parse(c);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(flag + ": " + e.getMessage());
    }
  }

  private static String require(String v, String flag) {
    if (v == null || v.isBlank()) {
      throw new IllegalArgumentException(flag + " is required by this --detect-local-mode");
    }
    return v;
  }
}
