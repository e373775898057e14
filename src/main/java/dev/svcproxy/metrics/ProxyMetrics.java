package dev.svcproxy.metrics;

import dev.svcproxy.model.Endpoint;
import dev.svcproxy.model.ProxyConfig;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.model.ServicePortInfo;
import dev.svcproxy.model.ServicePortName;
import dev.svcproxy.plan.ServicePlanner;
import dev.svcproxy.plan.ServicePortPlan;
import dev.svcproxy.sync.SyncException;
import dev.svcproxy.sync.SyncObserver;
import dev.svcproxy.sync.SyncResult;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Upstream kube-proxy's sync metrics (pkg/proxy/metrics/metrics.go): the same names, help texts,
 * types, buckets and labels, registered per mode as upstream's RegisterMetrics(mode) does, and fed
 * from the sync loop's queued and synced events. The ip_family label is always "IPv4", the only
 * family svcproxy serves.
 */
public final class ProxyMetrics implements SyncObserver {
  /** The value of every ip_family label (upstream: the proxier's v1.IPFamily). */
  public static final String IP_FAMILY = "IPv4";

  /** The 15 exponential buckets of upstream's sync duration histograms, 1 ms to 16.384 s. */
  static final double[] SYNC_BUCKETS = exponential(0.001, 2, 15);

  /**
   * The buckets of upstream's network programming histogram: its merge() starts from a zero bucket,
   * then 0.25 s, 0.5 s, 1..59 s, 60..115 s by 5 s, 120..300 s by 30 s.
   */
  static final double[] NETWORK_PROGRAMMING_BUCKETS = networkProgrammingBuckets();

  private final String mode;
  private final boolean iptablesMode;
  private final ServicePlanner planner;
  private final Clock clock;

  /** Trigger times older than this are not measured, as upstream ignores them after a restart. */
  private final Instant trackerStart;

  private final Histogram syncDuration;
  private final Histogram syncFullDuration;
  private final Histogram syncPartialDuration;
  private final Gauge lastTimestamp;
  private final Gauge lastQueuedTimestamp;
  private final Histogram networkProgramming;
  private final Gauge endpointChangesPending;
  private final Counter endpointChangesTotal;
  private final Gauge serviceChangesPending;
  private final Counter serviceChangesTotal;
  private final Counter restoreFailures;
  private final Counter partialRestoreFailures;
  private final Gauge iptablesTotal;
  private final Gauge iptablesLast;
  private final Gauge noLocalEndpoints;
  private final Counter nftablesSyncFailures;
  private final Counter nftablesCleanupFailures;

  private Instant lastQueuedAt = Instant.MIN;
  private Instant lastSyncStarted = Instant.MIN;

  /** By namespaced service name, the newest trigger time measured (or passed over) so far. */
  private final Map<String, Instant> measured = new HashMap<>();

  /** Per service port, its plan's no-local-endpoint verdicts and the inputs they came from. */
  private final Map<ServicePortName, Verdicts> verdicts = new HashMap<>();

  private record Verdicts(
      ServicePortInfo svc, List<Endpoint> endpoints, boolean internal, boolean external) {}

  /** Metrics for a proxy in {@code mode} ("iptables", "ipvs") on the node {@code cfg} describes. */
  public ProxyMetrics(PrometheusRegistry registry, String mode, ProxyConfig cfg) {
    this(registry, mode, new ServicePlanner(cfg), Clock.systemUTC());
  }

  ProxyMetrics(PrometheusRegistry registry, String mode, ServicePlanner planner, Clock clock) {
    this.mode = mode;
    this.iptablesMode = mode.equals("iptables");
    this.planner = planner;
    this.clock = clock;
    this.trackerStart = clock.instant();

    // Registered for every mode, as upstream's RegisterMetrics does.
    syncDuration =
        Histogram.builder()
            .name("kubeproxy_sync_proxy_rules_duration_seconds")
            .help("SyncProxyRules latency in seconds")
            .classicOnly()
            .classicUpperBounds(SYNC_BUCKETS)
            .labelNames("ip_family")
            .register(registry);
    lastQueuedTimestamp =
        Gauge.builder()
            .name("kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds")
            .help("The last time a sync of proxy rules was queued")
            .labelNames("ip_family")
            .register(registry);
    lastTimestamp =
        Gauge.builder()
            .name("kubeproxy_sync_proxy_rules_last_timestamp_seconds")
            .help("The last time proxy rules were successfully synced")
            .labelNames("ip_family")
            .register(registry);
    endpointChangesPending =
        Gauge.builder()
            .name("kubeproxy_sync_proxy_rules_endpoint_changes_pending")
            .help("Pending proxy rules Endpoint changes")
            .register(registry);
    endpointChangesTotal =
        Counter.builder()
            .name("kubeproxy_sync_proxy_rules_endpoint_changes_total")
            .help("Cumulative proxy rules Endpoint changes")
            .register(registry);
    serviceChangesPending =
        Gauge.builder()
            .name("kubeproxy_sync_proxy_rules_service_changes_pending")
            .help("Pending proxy rules Service changes")
            .register(registry);
    serviceChangesTotal =
        Counter.builder()
            .name("kubeproxy_sync_proxy_rules_service_changes_total")
            .help("Cumulative proxy rules Service changes")
            .register(registry);
    networkProgramming =
        Histogram.builder()
            .name("kubeproxy_network_programming_duration_seconds")
            .help("In Cluster Network Programming Latency in seconds")
            .classicOnly()
            .classicUpperBounds(NETWORK_PROGRAMMING_BUCKETS)
            .labelNames("ip_family")
            .register(registry);
    noLocalEndpoints =
        Gauge.builder()
            .name("kubeproxy_sync_proxy_rules_no_local_endpoints_total")
            .help("Number of services with a Local traffic policy and no endpoints")
            .labelNames("ip_family", "traffic_policy")
            .register(registry);

    if (iptablesMode || mode.equals("nftables")) {
      syncFullDuration =
          Histogram.builder()
              .name("kubeproxy_sync_full_proxy_rules_duration_seconds")
              .help("SyncProxyRules latency in seconds for full resyncs")
              .classicOnly()
              .classicUpperBounds(SYNC_BUCKETS)
              .labelNames("ip_family")
              .register(registry);
      syncPartialDuration =
          Histogram.builder()
              .name("kubeproxy_sync_partial_proxy_rules_duration_seconds")
              .help("SyncProxyRules latency in seconds for partial resyncs")
              .classicOnly()
              .classicUpperBounds(SYNC_BUCKETS)
              .labelNames("ip_family")
              .register(registry);
    } else {
      syncFullDuration = null;
      syncPartialDuration = null;
    }
    if (iptablesMode) {
      partialRestoreFailures =
          Counter.builder()
              .name("kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total")
              .help("Cumulative proxy iptables partial restore failures")
              .labelNames("ip_family")
              .register(registry);
      iptablesTotal =
          Gauge.builder()
              .name("kubeproxy_sync_proxy_rules_iptables_total")
              .help("Total number of iptables rules owned by kube-proxy")
              .labelNames("ip_family", "table")
              .register(registry);
      iptablesLast =
          Gauge.builder()
              .name("kubeproxy_sync_proxy_rules_iptables_last")
              .help("Number of iptables rules written by kube-proxy in last sync")
              .labelNames("ip_family", "table")
              .register(registry);
    } else {
      partialRestoreFailures = null;
      iptablesTotal = null;
      iptablesLast = null;
    }
    // Both the iptables and the IPVS proxier restore iptables rules.
    restoreFailures =
        iptablesMode || mode.equals("ipvs")
            ? Counter.builder()
                .name("kubeproxy_sync_proxy_rules_iptables_restore_failures_total")
                .help("Cumulative proxy iptables restore failures")
                .labelNames("ip_family")
                .register(registry)
            : null;
    // nftables mode's own, as upstream's RegisterMetrics(ProxyModeNFTables) registers them.
    if (mode.equals("nftables")) {
      nftablesSyncFailures =
          Counter.builder()
              .name("kubeproxy_sync_proxy_rules_nftables_sync_failures_total")
              .help("Cumulative proxy nftables sync failures")
              .labelNames("ip_family")
              .register(registry);
      nftablesCleanupFailures =
          Counter.builder()
              .name("kubeproxy_sync_proxy_rules_nftables_cleanup_failures_total")
              .help("Cumulative proxy nftables cleanup failures")
              .labelNames("ip_family")
              .register(registry);
    } else {
      nftablesSyncFailures = null;
      nftablesCleanupFailures = null;
    }
    // A labelled family shows no series until its first value, as Go's vectors; the one family
    // label value is known, so the series start at zero, as they did before upstream added the
    // label (a dashboard sees no restore failures rather than no metric).
    for (Histogram h : new Histogram[] {syncDuration, syncFullDuration, syncPartialDuration}) {
      if (h != null) {
        h.labelValues(IP_FAMILY);
      }
    }
    networkProgramming.labelValues(IP_FAMILY);
    for (Counter c :
        new Counter[] {
          restoreFailures, partialRestoreFailures, nftablesSyncFailures, nftablesCleanupFailures
        }) {
      if (c != null) {
        c.labelValues(IP_FAMILY);
      }
    }
    for (String policy : List.of("internal", "external")) {
      noLocalEndpoints.labelValues(IP_FAMILY, policy).set(0);
    }
  }

  /** The mode these metrics were registered for. */
  public String mode() {
    return mode;
  }

  @Override
  public synchronized void queued(Queued q) {
    serviceChangesTotal.inc(q.services().size());
    endpointChangesTotal.inc(q.endpoints().size());
    lastQueuedTimestamp.labelValues(IP_FAMILY).set(seconds(q.at()));
    lastQueuedAt = q.at();
    // A report from before the last sync started comes late: that sync took its changes.
    if (!q.at().isBefore(lastSyncStarted)) {
      serviceChangesPending.set(q.pendingServices().size());
      endpointChangesPending.set(q.pendingEndpoints().size());
    }
  }

  @Override
  public synchronized void synced(Synced s) {
    SyncResult result = s.result();
    boolean full = result == null ? s.full() : result.wasFull().orElse(s.full());
    double took = s.took().toNanos() / 1e9;
    syncDuration.labelValues(IP_FAMILY).observe(took);
    if (syncFullDuration != null) {
      (full ? syncFullDuration : syncPartialDuration).labelValues(IP_FAMILY).observe(took);
    }
    if (nftablesSyncFailures != null && !s.ok()) {
      nftablesSyncFailures.labelValues(IP_FAMILY).inc();
    }
    if (nftablesCleanupFailures != null && s.ok() && result.nftablesCleanupFailures() > 0) {
      nftablesCleanupFailures.labelValues(IP_FAMILY).inc(result.nftablesCleanupFailures());
    }

    // The loop takes every pending change when a sync starts (upstream: checkoutChanges).
    lastSyncStarted = s.started();
    if (lastQueuedAt.isBefore(s.started())) {
      serviceChangesPending.set(0);
      endpointChangesPending.set(0);
    }

    int refused =
        s.ok()
            ? result.refusedRestores()
            : s.failure() instanceof SyncException e ? e.refusedRestores() : 0;
    if (restoreFailures != null && refused > 0) {
      restoreFailures.labelValues(IP_FAMILY).inc(refused);
    }
    if (partialRestoreFailures != null && refused > 0 && !full) {
      partialRestoreFailures.labelValues(IP_FAMILY).inc();
    }
    if (!s.ok()) {
      return;
    }

    if (iptablesMode) {
      result.iptablesRulesTotal().forEach((t, n) -> iptablesTotal.labelValues(IP_FAMILY, t).set(n));
      result
          .iptablesRulesLastSync()
          .forEach((t, n) -> iptablesLast.labelValues(IP_FAMILY, t).set(n));
    }
    observeNetworkProgramming(s.previous(), s.state());
    countNoLocalEndpoints(s.state());
    lastTimestamp.labelValues(IP_FAMILY).set(seconds(s.started().plus(s.took())));
  }

  /**
   * Observes, for each service whose endpoints this sync programmed, now minus the earliest of its
   * trigger times not measured before (upstream observes each changed slice's time after a
   * successful sync; times from before the tracker started are ignored, as after a restart).
   */
  private void observeNetworkProgramming(ProxyState previous, ProxyState state) {
    Map<String, List<Instant>> times = state.lastChangeTriggerTimes();
    measured.keySet().retainAll(times.keySet());
    Map<String, Instant> fresh = new HashMap<>();
    Map<String, Instant> newest = new HashMap<>();
    times.forEach(
        (svc, list) -> {
          Instant seen = measured.get(svc);
          for (Instant t : list) {
            if (t.isAfter(trackerStart) && (seen == null || t.isAfter(seen))) {
              fresh.merge(svc, t, (a, b) -> a.isBefore(b) ? a : b);
              newest.merge(svc, t, (a, b) -> a.isAfter(b) ? a : b);
            }
          }
        });
    if (fresh.isEmpty()) {
      return;
    }
    Set<String> changed = endpointsChanged(previous, state, fresh.keySet());
    Instant now = clock.instant();
    for (Map.Entry<String, Instant> e : fresh.entrySet()) {
      // A trigger time that moved without an endpoint change is passed over, as upstream's tracker
      // never records it (the slice cache saw no change).
      measured.put(e.getKey(), newest.get(e.getKey()));
      if (changed.contains(e.getKey())) {
        networkProgramming
            .labelValues(IP_FAMILY)
            .observe(Duration.between(e.getValue(), now).toNanos() / 1e9);
      }
    }
  }

  /** Those of {@code services} ("ns/name") whose endpoints differ between the two states. */
  private static Set<String> endpointsChanged(ProxyState a, ProxyState b, Set<String> services) {
    Map<String, Map<ServicePortName, List<Endpoint>>> before = endpointsBy(a, services);
    Map<String, Map<ServicePortName, List<Endpoint>>> after = endpointsBy(b, services);
    Set<String> out = new HashSet<>();
    for (String svc : services) {
      if (!Objects.equals(before.get(svc), after.get(svc))) {
        out.add(svc);
      }
    }
    return out;
  }

  private static Map<String, Map<ServicePortName, List<Endpoint>>> endpointsBy(
      ProxyState s, Set<String> services) {
    Map<String, Map<ServicePortName, List<Endpoint>>> out = new HashMap<>();
    for (Map.Entry<ServicePortName, List<Endpoint>> e : s.endpoints().entrySet()) {
      String svc = e.getKey().namespacedName();
      if (services.contains(svc)) {
        out.computeIfAbsent(svc, k -> new HashMap<>()).put(e.getKey(), e.getValue());
      }
    }
    return out;
  }

  /**
   * Upstream's count of Local traffic policies left without a local endpoint while other nodes have
   * endpoints (the ports whose traffic is dropped, not rejected): per service port in iptables
   * mode, per distinct service in IPVS mode (its proxier collects names in a set).
   */
  private void countNoLocalEndpoints(ProxyState state) {
    Set<Object> internal = new HashSet<>();
    Set<Object> external = new HashSet<>();
    for (ServicePortInfo svc : state.services().values()) {
      ServicePortName spn = svc.name();
      List<Endpoint> eps = state.endpointsOf(spn);
      Verdicts v = verdicts.get(spn);
      // Identity first: an unchanged port is usually the same objects from one state to the next.
      if (v == null
          || v.svc() != svc && !v.svc().equals(svc)
          || v.endpoints() != eps && !v.endpoints().equals(eps)) {
        ServicePortPlan plan = planner.plan(svc, eps);
        v =
            new Verdicts(
                svc,
                eps,
                plan.internalUnreachable() == ServicePortPlan.Unreachable.DROP_NO_LOCAL_ENDPOINTS,
                plan.externalUnreachable() == ServicePortPlan.Unreachable.DROP_NO_LOCAL_ENDPOINTS);
        verdicts.put(spn, v);
      }
      Object key = mode.equals("ipvs") ? spn.namespacedName() : spn;
      if (v.internal()) {
        internal.add(key);
      }
      if (v.external()) {
        external.add(key);
      }
    }
    if (verdicts.size() > state.services().size()) {
      Iterator<ServicePortName> it = verdicts.keySet().iterator();
      while (it.hasNext()) {
        if (!state.services().containsKey(it.next())) {
          it.remove();
        }
      }
    }
    noLocalEndpoints.labelValues(IP_FAMILY, "internal").set(internal.size());
    noLocalEndpoints.labelValues(IP_FAMILY, "external").set(external.size());
  }

  private static double seconds(Instant t) {
    return t.getEpochSecond() + t.getNano() / 1e9;
  }

  private static double[] exponential(double start, double factor, int count) {
    double[] out = new double[count];
    double v = start;
    for (int i = 0; i < count; i++) {
      out[i] = v;
      v *= factor;
    }
    return out;
  }

  private static double[] networkProgrammingBuckets() {
    List<Double> b = new ArrayList<>();
    b.add(0.0);
    for (int i = 0; i < 2; i++) {
      b.add(0.25 + 0.25 * i);
    }
    for (int i = 0; i < 59; i++) {
      b.add(1.0 + i);
    }
    for (int i = 0; i < 12; i++) {
      b.add(60.0 + 5 * i);
    }
    for (int i = 0; i < 7; i++) {
      b.add(120.0 + 30 * i);
    }
    return b.stream().mapToDouble(Double::doubleValue).toArray();
  }
}
