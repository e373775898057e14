package dev.svcproxy.config;

import static dev.svcproxy.config.Field.Type.ANY_LIST;
import static dev.svcproxy.config.Field.Type.BOOL;
import static dev.svcproxy.config.Field.Type.BOOL_MAP;
import static dev.svcproxy.config.Field.Type.DURATION;
import static dev.svcproxy.config.Field.Type.FLOAT;
import static dev.svcproxy.config.Field.Type.FLUSH;
import static dev.svcproxy.config.Field.Type.INT32;
import static dev.svcproxy.config.Field.Type.QUANTITY;
import static dev.svcproxy.config.Field.Type.STRING;
import static dev.svcproxy.config.Field.Type.STRING_LIST;

import dev.svcproxy.config.Field.Type;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Every field of KubeProxyConfiguration v1alpha1 (k8s.io/kube-proxy/config/v1alpha1/types.go, with
 * logsapi.LoggingConfiguration and componentbase's ClientConnectionConfiguration), its upstream
 * default and the svcproxy flag it maps to.
 */
final class Schema {
  /** Leaves by path, in types.go order. */
  static final Map<String, Field> FIELDS = fields();

  /** The paths of the nested objects (clientConnection, logging.options.json, ...). */
  static final Set<String> OBJECTS = objects();

  private Schema() {}

  private static Map<String, Field> fields() {
    Map<String, Field> m = new LinkedHashMap<>();
    add(m, "featureGates", BOOL_MAP, Map.of(), false, true, null);
    add(m, "clientConnection.kubeconfig", STRING, "", false, false, "--kubeconfig");
    add(m, "clientConnection.acceptContentTypes", STRING, "", false, false, null);
    add(
        m,
        "clientConnection.contentType",
        STRING,
        "application/vnd.kubernetes.protobuf",
        false,
        false,
        null);
    add(m, "clientConnection.qps", FLOAT, 5.0, false, false, null);
    add(m, "clientConnection.burst", INT32, 10, false, false, null);
    // logsapi.SetRecommendedLoggingConfiguration's defaults.
    add(m, "logging.format", STRING, "text", false, false, null);
    add(m, "logging.flushFrequency", FLUSH, Duration.ofSeconds(5), false, false, null);
    add(m, "logging.verbosity", INT32, 0, false, false, "-v");
    add(m, "logging.vmodule", ANY_LIST, null, false, true, null);
    add(m, "logging.options.json.splitStream", BOOL, false, false, true, null);
    add(m, "logging.options.json.infoBufferSize", QUANTITY, "0", false, false, null);
    add(m, "logging.options.text.splitStream", BOOL, false, false, true, null);
    add(m, "logging.options.text.infoBufferSize", QUANTITY, "0", false, false, null);
    add(m, "hostnameOverride", STRING, "", false, false, "--hostname-override");
    add(m, "bindAddress", STRING, "0.0.0.0", false, false, "--node-ip");
    add(m, "healthzBindAddress", STRING, "0.0.0.0:10256", false, false, "--healthz-bind-address");
    add(m, "metricsBindAddress", STRING, "127.0.0.1:10249", false, false, "--metrics-bind-address");
    add(m, "bindAddressHardFail", BOOL, false, false, false, "--bind-address-hard-fail");
    add(m, "enableProfiling", BOOL, false, false, false, null);
    add(m, "showHiddenMetricsForVersion", STRING, "", false, false, null);
    // Upstream leaves mode, detectLocalMode and ipvs.scheduler "" and picks the mode's default
    // later; svcproxy fills in what it will use.
    add(m, "mode", STRING, "iptables", false, false, "--mode");
    add(m, "iptables.masqueradeBit", INT32, 14, true, false, "--masquerade-bit");
    add(m, "iptables.masqueradeAll", BOOL, false, false, false, "--masquerade-all");
    add(
        m,
        "iptables.localhostNodePorts",
        BOOL,
        true,
        true,
        false,
        "--iptables-localhost-nodeports");
    add(m, "iptables.snatNodeInternalIP", BOOL, false, true, false, null);
    add(m, "iptables.syncPeriod", DURATION, secs(30), false, false, "--iptables-sync-period");
    add(m, "iptables.minSyncPeriod", DURATION, secs(1), false, false, "--iptables-min-sync-period");
    add(m, "ipvs.syncPeriod", DURATION, secs(30), false, false, "--ipvs-sync-period");
    add(m, "ipvs.minSyncPeriod", DURATION, Duration.ZERO, false, false, "--ipvs-min-sync-period");
    add(m, "ipvs.scheduler", STRING, "rr", false, false, "--ipvs-scheduler");
    add(m, "ipvs.excludeCIDRs", STRING_LIST, null, false, false, "--ipvs-exclude-cidrs");
    add(m, "ipvs.strictARP", BOOL, false, false, false, "--ipvs-strict-arp");
    add(m, "ipvs.tcpTimeout", DURATION, Duration.ZERO, false, false, "--ipvs-tcp-timeout");
    add(m, "ipvs.tcpFinTimeout", DURATION, Duration.ZERO, false, false, "--ipvs-tcpfin-timeout");
    add(m, "ipvs.udpTimeout", DURATION, Duration.ZERO, false, false, "--ipvs-udp-timeout");
    add(m, "nftables.masqueradeBit", INT32, 14, true, false, null);
    add(m, "nftables.masqueradeAll", BOOL, false, false, false, null);
    add(m, "nftables.syncPeriod", DURATION, secs(30), false, false, null);
    add(m, "nftables.minSyncPeriod", DURATION, secs(1), false, false, null);
    add(m, "winkernel.networkName", STRING, "", false, false, null);
    add(m, "winkernel.sourceVip", STRING, "", false, false, null);
    add(m, "winkernel.enableDSR", BOOL, false, false, false, null);
    add(m, "winkernel.rootHnsEndpointName", STRING, "", false, false, null);
    add(m, "winkernel.forwardHealthCheckVip", BOOL, false, false, false, null);
    add(m, "detectLocalMode", STRING, "ClusterCIDR", false, false, "--detect-local-mode");
    add(m, "detectLocal.bridgeInterface", STRING, "", false, false, "--pod-bridge-interface");
    add(
        m,
        "detectLocal.interfaceNamePrefix",
        STRING,
        "",
        false,
        false,
        "--pod-interface-name-prefix");
    add(m, "clusterCIDR", STRING, "", false, false, "--cluster-cidr");
    add(m, "nodePortAddresses", STRING_LIST, null, false, false, "--nodeport-addresses");
    add(m, "oomScoreAdj", INT32, -999, true, false, null);
    add(m, "conntrack.maxPerCore", INT32, 32768, true, false, "--conntrack-max-per-core");
    add(m, "conntrack.min", INT32, 131072, true, false, "--conntrack-min");
    add(
        m,
        "conntrack.tcpEstablishedTimeout",
        DURATION,
        Duration.ofHours(24),
        true,
        false,
        "--conntrack-tcp-timeout-established");
    add(
        m,
        "conntrack.tcpCloseWaitTimeout",
        DURATION,
        Duration.ofHours(1),
        true,
        false,
        "--conntrack-tcp-timeout-close-wait");
    add(m, "conntrack.tcpBeLiberal", BOOL, false, false, false, "--conntrack-tcp-be-liberal");
    add(
        m,
        "conntrack.udpTimeout",
        DURATION,
        Duration.ZERO,
        false,
        false,
        "--conntrack-udp-timeout");
    add(
        m,
        "conntrack.udpStreamTimeout",
        DURATION,
        Duration.ZERO,
        false,
        false,
        "--conntrack-udp-timeout-stream");
    add(
        m,
        "configSyncPeriod",
        DURATION,
        Duration.ofMinutes(15),
        false,
        false,
        "--config-sync-period");
    add(m, "portRange", STRING, "", false, false, null);
    add(m, "windowsRunAsService", BOOL, false, false, true, null);
    return Map.copyOf(m);
  }

  private static Duration secs(long s) {
    return Duration.ofSeconds(s);
  }

  private static void add(
      Map<String, Field> m,
      String path,
      Type type,
      Object def,
      boolean pointer,
      boolean omitEmpty,
      String flag) {
    m.put(path, new Field(path, type, def, pointer, omitEmpty, flag));
  }

  private static Set<String> objects() {
    Set<String> s = new TreeSet<>();
    for (String p : FIELDS.keySet()) {
      for (int i = p.indexOf('.'); i > 0; i = p.indexOf('.', i + 1)) {
        s.add(p.substring(0, i));
      }
    }
    return Set.copyOf(s);
  }
}
