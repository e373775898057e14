package dev.svcproxy.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.model.LocalTrafficDetector;
import dev.svcproxy.model.ProxyConfig;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.plan.ServicePlanner;
import dev.svcproxy.sync.SyncException;
import dev.svcproxy.sync.SyncObserver.Queued;
import dev.svcproxy.sync.SyncObserver.Synced;
import dev.svcproxy.sync.SyncResult;
import dev.svcproxy.testutil.States;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Names, help texts, types, labels and buckets are those of upstream's pkg/proxy/metrics/metrics.go
 * (kubernetes/kubernetes, the RegisterMetrics(mode) version) with the ip_family label of the v1.34
 * metrics reference; expected values are worked out by hand in each test.
 */
class ProxyMetricsTest {
  private static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");
  private static final ProxyConfig CFG =
      ProxyConfig.defaults("node-a", "10.0.0.1", LocalTrafficDetector.none());

  /** A clock the test moves by hand. */
  private static final class TestClock extends Clock {
    Instant now = T0;

    @Override
    public Instant instant() {
      return now;
    }

    @Override
    public java.time.ZoneId getZone() {
      return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(java.time.ZoneId zone) {
      return this;
    }
  }

  /** A sync result with chosen figures. */
  private record Figures(
      Optional<Boolean> full, Map<String, Integer> total, Map<String, Integer> last, int refused)
      implements SyncResult {
    static Figures partial() {
      return new Figures(Optional.of(false), Map.of(), Map.of(), 0);
    }

    @Override
    public String summary() {
      return "";
    }

    @Override
    public Optional<Boolean> wasFull() {
      return full;
    }

    @Override
    public Map<String, Integer> iptablesRulesTotal() {
      return total;
    }

    @Override
    public Map<String, Integer> iptablesRulesLastSync() {
      return last;
    }

    @Override
    public int refusedRestores() {
      return refused;
    }
  }

  private final PrometheusRegistry registry = new PrometheusRegistry();
  private final TestClock clock = new TestClock();

  private ProxyMetrics metrics(String mode) {
    return new ProxyMetrics(registry, mode, new ServicePlanner(CFG), clock);
  }

  private static Synced ok(ProxyState before, ProxyState after, Instant started, SyncResult r) {
    return new Synced(false, before, after, Set.of(), r, null, started, Duration.ofMillis(5));
  }

  private static Synced failed(boolean full, Instant started, RuntimeException e) {
    return new Synced(
        full,
        ProxyState.empty(),
        ProxyState.empty(),
        Set.of(),
        null,
        e,
        started,
        Duration.ofMillis(3));
  }

  private Exposition scrape() {
    return Exposition.of(registry);
  }

  // metrics.go: ExponentialBuckets(0.001, 2, 15)
  private static final List<String> SYNC_BUCKETS =
      List.of(
          "0.001", "0.002", "0.004", "0.008", "0.016", "0.032", "0.064", "0.128", "0.256", "0.512",
          "1.024", "2.048", "4.096", "8.192", "16.384", "+Inf");

  /** metrics.go: merge() starts with one 0 bucket, then the four LinearBuckets. */
  private static List<String> networkProgrammingBuckets() {
    List<String> out = new ArrayList<>(List.of("0.0", "0.25", "0.5"));
    for (int s = 1; s <= 59; s++) {
      out.add(s + ".0");
    }
    for (int s = 60; s <= 115; s += 5) {
      out.add(s + ".0");
    }
    for (int s = 120; s <= 300; s += 30) {
      out.add(s + ".0");
    }
    out.add("+Inf");
    return out;
  }

  @Test
  void register_iptablesMode_upstreamNamesHelpTypesLabelsAndBuckets() {
    ProxyMetrics m = metrics("iptables");
    m.queued(new Queued(Set.of("ns/a"), Set.of("ns/a"), Set.of("ns/a"), Set.of("ns/a"), T0));
    m.synced(
        ok(
            ProxyState.empty(),
            ProxyState.empty(),
            T0.plusSeconds(1),
            new Figures(Optional.of(true), Map.of("nat", 1), Map.of("nat", 1), 0)));
    m.synced(failed(false, T0.plusSeconds(2), new SyncException("refused", 1)));
    Exposition e = scrape();

    Map<String, String[]> upstream =
        Map.ofEntries(
            Map.entry(
                "kubeproxy_sync_proxy_rules_duration_seconds",
                new String[] {"histogram", "SyncProxyRules latency in seconds"}),
            Map.entry(
                "kubeproxy_sync_full_proxy_rules_duration_seconds",
                new String[] {"histogram", "SyncProxyRules latency in seconds for full resyncs"}),
            Map.entry(
                "kubeproxy_sync_partial_proxy_rules_duration_seconds",
                new String[] {
                  "histogram", "SyncProxyRules latency in seconds for partial resyncs"
                }),
            Map.entry(
                "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
                new String[] {"gauge", "The last time proxy rules were successfully synced"}),
            Map.entry(
                "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds",
                new String[] {"gauge", "The last time a sync of proxy rules was queued"}),
            Map.entry(
                "kubeproxy_network_programming_duration_seconds",
                new String[] {"histogram", "In Cluster Network Programming Latency in seconds"}),
            Map.entry(
                "kubeproxy_sync_proxy_rules_endpoint_changes_pending",
                new String[] {"gauge", "Pending proxy rules Endpoint changes"}),
            Map.entry(
                "kubeproxy_sync_proxy_rules_endpoint_changes_total",
                new String[] {"counter", "Cumulative proxy rules Endpoint changes"}),
            Map.entry(
                "kubeproxy_sync_proxy_rules_service_changes_pending",
                new String[] {"gauge", "Pending proxy rules Service changes"}),
            Map.entry(
                "kubeproxy_sync_proxy_rules_service_changes_total",
                new String[] {"counter", "Cumulative proxy rules Service changes"}),
            Map.entry(
                "kubeproxy_sync_proxy_rules_iptables_restore_failures_total",
                new String[] {"counter", "Cumulative proxy iptables restore failures"}),
            Map.entry(
                "kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total",
                new String[] {"counter", "Cumulative proxy iptables partial restore failures"}),
            Map.entry(
                "kubeproxy_sync_proxy_rules_iptables_total",
                new String[] {"gauge", "Total number of iptables rules owned by kube-proxy"}),
            Map.entry(
                "kubeproxy_sync_proxy_rules_iptables_last",
                new String[] {
                  "gauge", "Number of iptables rules written by kube-proxy in last sync"
                }),
            Map.entry(
                "kubeproxy_sync_proxy_rules_no_local_endpoints_total",
                new String[] {
                  "gauge", "Number of services with a Local traffic policy and no endpoints"
                }));
    upstream.forEach(
        (name, th) -> {
          assertThat(e.type()).as(name).containsEntry(name, th[0]);
          assertThat(e.help()).as(name).containsEntry(name, th[1]);
        });

    String v4 = "ip_family=\"IPv4\"";
    assertThat(e.buckets("kubeproxy_sync_proxy_rules_duration_seconds", v4))
        .isEqualTo(SYNC_BUCKETS);
    assertThat(e.buckets("kubeproxy_sync_full_proxy_rules_duration_seconds", v4))
        .isEqualTo(SYNC_BUCKETS);
    assertThat(e.buckets("kubeproxy_sync_partial_proxy_rules_duration_seconds", v4))
        .isEqualTo(SYNC_BUCKETS);
    // Exposed as Go's client exposes a classic histogram: _bucket, _sum and _count.
    assertThat(e.series())
        .containsKeys(
            "kubeproxy_sync_proxy_rules_duration_seconds_sum{" + v4 + "}",
            "kubeproxy_sync_proxy_rules_duration_seconds_count{" + v4 + "}");
    // Labels: ip_family where the v1.34 reference lists it, table and traffic_policy as in
    // metrics.go; the change counters and pending gauges have none.
    assertThat(e.series())
        .containsKeys(
            "kubeproxy_sync_proxy_rules_last_timestamp_seconds{" + v4 + "}",
            "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds{" + v4 + "}",
            "kubeproxy_sync_proxy_rules_iptables_total{" + v4 + ",table=\"nat\"}",
            "kubeproxy_sync_proxy_rules_iptables_last{" + v4 + ",table=\"nat\"}",
            "kubeproxy_sync_proxy_rules_iptables_restore_failures_total{" + v4 + "}",
            "kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total{" + v4 + "}",
            "kubeproxy_sync_proxy_rules_no_local_endpoints_total{"
                + v4
                + ",traffic_policy=\"internal\"}",
            "kubeproxy_sync_proxy_rules_no_local_endpoints_total{"
                + v4
                + ",traffic_policy=\"external\"}",
            "kubeproxy_sync_proxy_rules_endpoint_changes_total",
            "kubeproxy_sync_proxy_rules_endpoint_changes_pending",
            "kubeproxy_sync_proxy_rules_service_changes_total",
            "kubeproxy_sync_proxy_rules_service_changes_pending");

    m.synced(
        ok(
            ProxyState.empty(),
            programmed(T0.plusSeconds(10)),
            T0.plusSeconds(3),
            Figures.partial()));
    clock.now = T0.plusSeconds(12);
    assertThat(scrape().buckets("kubeproxy_network_programming_duration_seconds", v4))
        .isEqualTo(networkProgrammingBuckets());
  }

  @Test
  void register_ipvsMode_onlyWhatUpstreamRegistersForIpvs() {
    metrics("ipvs");
    Exposition e = scrape();
    // RegisterMetrics(ProxyModeIPVS): the common set plus IPTablesRestoreFailuresTotal only.
    assertThat(e.type())
        .doesNotContainKeys(
            "kubeproxy_sync_full_proxy_rules_duration_seconds",
            "kubeproxy_sync_partial_proxy_rules_duration_seconds",
            "kubeproxy_sync_proxy_rules_iptables_total",
            "kubeproxy_sync_proxy_rules_iptables_last",
            "kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total");
    ProxyMetrics m = metrics2ipvsFailure();
    assertThat(m.mode()).isEqualTo("ipvs");
  }

  /** A second registry: an IPVS sync refused by iptables-restore counts as upstream's does. */
  private ProxyMetrics metrics2ipvsFailure() {
    PrometheusRegistry r = new PrometheusRegistry();
    ProxyMetrics m = new ProxyMetrics(r, "ipvs", new ServicePlanner(CFG), clock);
    m.synced(failed(true, T0, new SyncException("iptables-restore refused", 1)));
    assertThat(
            Exposition.of(r)
                .value(
                    "kubeproxy_sync_proxy_rules_iptables_restore_failures_total{ip_family=\"IPv4\"}"))
        .isEqualTo(1.0);
    return m;
  }

  @Test
  void synced_nftablesMode_syncAndCleanupFailuresCounted() {
    ProxyMetrics m = metrics("nftables");
    String sync = "kubeproxy_sync_proxy_rules_nftables_sync_failures_total{ip_family=\"IPv4\"}";
    String cleanup =
        "kubeproxy_sync_proxy_rules_nftables_cleanup_failures_total{ip_family=\"IPv4\"}";
    assertThat(scrape().value(sync)).isEqualTo(0.0);
    // metrics.go: the nftables counters' help texts, and the full/partial histograms.
    assertThat(scrape().help())
        .containsEntry(
            "kubeproxy_sync_proxy_rules_nftables_sync_failures_total",
            "Cumulative proxy nftables sync failures")
        .containsEntry(
            "kubeproxy_sync_proxy_rules_nftables_cleanup_failures_total",
            "Cumulative proxy nftables cleanup failures")
        .containsKey("kubeproxy_sync_partial_proxy_rules_duration_seconds")
        .doesNotContainKey("kubeproxy_sync_proxy_rules_iptables_restore_failures_total");
    m.synced(failed(false, T0, new SyncException("nft -f refused the transaction")));
    m.synced(
        ok(
            ProxyState.empty(),
            ProxyState.empty(),
            T0.plusSeconds(1),
            new dev.svcproxy.sync.nftables.NftSyncResult(false, List.of("x"), 0, 0, 0, 0, 1)));
    assertThat(scrape().value(sync)).isEqualTo(1.0);
    assertThat(scrape().value(cleanup)).isEqualTo(1.0);
    assertThat(
            scrape()
                .value(
                    "kubeproxy_sync_partial_proxy_rules_duration_seconds_count{ip_family=\"IPv4\"}"))
        .isEqualTo(2.0);
  }

  @Test
  void queuedAndSynced_changesCountedAndPendingResetBySync() {
    ProxyMetrics m = metrics("iptables");
    m.queued(
        new Queued(
            Set.of("ns/a", "ns/b"), Set.of("ns/a"), Set.of("ns/a", "ns/b"), Set.of("ns/a"), T0));
    Instant t1 = T0.plusMillis(1500);
    m.queued(
        new Queued(
            Set.of("ns/a"), Set.of("ns/c"), Set.of("ns/a", "ns/b"), Set.of("ns/a", "ns/c"), t1));
    Exposition before = scrape();
    // 2 + 1 service changes, 1 + 1 endpoint changes; pending as the loop last reported it.
    assertThat(before.value("kubeproxy_sync_proxy_rules_service_changes_total")).isEqualTo(3.0);
    assertThat(before.value("kubeproxy_sync_proxy_rules_endpoint_changes_total")).isEqualTo(2.0);
    assertThat(before.value("kubeproxy_sync_proxy_rules_service_changes_pending")).isEqualTo(2.0);
    assertThat(before.value("kubeproxy_sync_proxy_rules_endpoint_changes_pending")).isEqualTo(2.0);
    assertThat(
            before.value(
                "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds{ip_family=\"IPv4\"}"))
        .isEqualTo(1767225601.5);

    Instant started = T0.plusSeconds(2);
    m.synced(ok(ProxyState.empty(), ProxyState.empty(), started, Figures.partial()));
    // A report from before that sync started, arriving after it: its changes were synced.
    m.queued(new Queued(Set.of("ns/d"), Set.of(), Set.of("ns/d"), Set.of(), T0.plusSeconds(1)));
    Exposition after = scrape();
    assertThat(after.value("kubeproxy_sync_proxy_rules_service_changes_pending")).isEqualTo(0.0);
    assertThat(after.value("kubeproxy_sync_proxy_rules_endpoint_changes_pending")).isEqualTo(0.0);
    assertThat(after.value("kubeproxy_sync_proxy_rules_service_changes_total")).isEqualTo(4.0);
    // started + took (5 ms)
    assertThat(after.value("kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family=\"IPv4\"}"))
        .isEqualTo(1767225602.005);
    assertThat(
            after.value(
                "kubeproxy_sync_partial_proxy_rules_duration_seconds_count{ip_family=\"IPv4\"}"))
        .isEqualTo(1.0);
    assertThat(
            after.value(
                "kubeproxy_sync_full_proxy_rules_duration_seconds_count{ip_family=\"IPv4\"}"))
        .isEqualTo(0.0);
    assertThat(after.value("kubeproxy_sync_proxy_rules_duration_seconds_sum{ip_family=\"IPv4\"}"))
        .isEqualTo(0.005);
    // 5 ms falls in the 8 ms bucket, not the 4 ms one.
    assertThat(
            after.value(
                "kubeproxy_sync_proxy_rules_duration_seconds_bucket{ip_family=\"IPv4\",le=\"0.004\"}"))
        .isEqualTo(0.0);
    assertThat(
            after.value(
                "kubeproxy_sync_proxy_rules_duration_seconds_bucket{ip_family=\"IPv4\",le=\"0.008\"}"))
        .isEqualTo(1.0);

    // Queued while a sync runs (after it started): still pending after it.
    Instant s2 = T0.plusSeconds(5);
    m.queued(new Queued(Set.of("ns/e"), Set.of(), Set.of("ns/e"), Set.of(), T0.plusSeconds(6)));
    m.synced(ok(ProxyState.empty(), ProxyState.empty(), s2, Figures.partial()));
    assertThat(scrape().value("kubeproxy_sync_proxy_rules_service_changes_pending")).isEqualTo(1.0);
  }

  @Test
  void synced_restoreFailuresCountedOnlyForRefusedRestores() {
    ProxyMetrics m = metrics("iptables");
    String all = "kubeproxy_sync_proxy_rules_iptables_restore_failures_total{ip_family=\"IPv4\"}";
    String partial =
        "kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total{ip_family=\"IPv4\"}";
    // A clean sync, and a failure that is not a refused restore (iptables-save failed).
    m.synced(ok(ProxyState.empty(), ProxyState.empty(), T0, Figures.partial()));
    m.synced(failed(false, T0.plusSeconds(1), new IllegalStateException("iptables-save failed")));
    assertThat(scrape().value(all)).isEqualTo(0.0);
    assertThat(scrape().value(partial)).isEqualTo(0.0);
    // A partial sync that failed after two refused restores: 2, and one partial failure.
    m.synced(failed(false, T0.plusSeconds(2), new SyncException("refused", 2)));
    // A full sync that failed after one: 3, partial unchanged.
    m.synced(failed(true, T0.plusSeconds(3), new SyncException("refused", 1)));
    // A partial sync that recovered (excluded the refused port): 4, two partial failures.
    m.synced(
        ok(
            ProxyState.empty(),
            ProxyState.empty(),
            T0.plusSeconds(4),
            new Figures(Optional.of(false), Map.of(), Map.of(), 1)));
    assertThat(scrape().value(all)).isEqualTo(4.0);
    assertThat(scrape().value(partial)).isEqualTo(2.0);
    // The failed syncs are timed too (upstream observes in a defer): 5 syncs.
    assertThat(
            scrape().value("kubeproxy_sync_proxy_rules_duration_seconds_count{ip_family=\"IPv4\"}"))
        .isEqualTo(5.0);
    // ... but only the successful ones set the last-synced time (T0+4 s + 5 ms).
    assertThat(
            scrape().value("kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family=\"IPv4\"}"))
        .isEqualTo(1767225604.005);
  }

  @Test
  void synced_iptablesRuleCountsFromTheResult() {
    ProxyMetrics m = metrics("iptables");
    m.synced(
        ok(
            ProxyState.empty(),
            ProxyState.empty(),
            T0,
            new Figures(
                Optional.of(true),
                Map.of("filter", 7, "nat", 40),
                Map.of("filter", 7, "nat", 12),
                0)));
    Exposition e = scrape();
    assertThat(
            e.value("kubeproxy_sync_proxy_rules_iptables_total{ip_family=\"IPv4\",table=\"nat\"}"))
        .isEqualTo(40.0);
    assertThat(
            e.value(
                "kubeproxy_sync_proxy_rules_iptables_total{ip_family=\"IPv4\",table=\"filter\"}"))
        .isEqualTo(7.0);
    assertThat(
            e.value("kubeproxy_sync_proxy_rules_iptables_last{ip_family=\"IPv4\",table=\"nat\"}"))
        .isEqualTo(12.0);
    // The proxier said full although the loop asked for partial.
    assertThat(
            e.value("kubeproxy_sync_full_proxy_rules_duration_seconds_count{ip_family=\"IPv4\"}"))
        .isEqualTo(1.0);
  }

  /** Service ns/a with one endpoint whose slice says it changed at {@code trigger}. */
  private static ProxyState programmed(Instant trigger) {
    return programmed("10.1.0.1", trigger);
  }

  private static ProxyState programmed(String endpoint, Instant... triggers) {
    StringBuilder y = new StringBuilder();
    y.append(
        """
        apiVersion: v1
        kind: Service
        metadata: {namespace: ns, name: a}
        spec: {clusterIP: 172.30.0.1, ports: [{name: p, port: 80}]}
        """);
    int i = 0;
    for (Instant t : triggers) {
      y.append(
          """
          ---
          apiVersion: discovery.k8s.io/v1
          kind: EndpointSlice
          metadata:
            namespace: ns
            name: a-%d
            labels: {kubernetes.io/service-name: a}
            annotations: {endpoints.kubernetes.io/last-change-trigger-time: "%s"}
          addressType: IPv4
          ports: [{name: p, port: 80}]
          endpoints: [{addresses: [%s]}]
          """
              .formatted(i++, t, i == 1 ? endpoint : "10.9.9." + i));
    }
    return States.fromYaml(y.toString());
  }

  private static final String NPL = "kubeproxy_network_programming_duration_seconds";
  private static final String V4 = "{ip_family=\"IPv4\"}";

  @Test
  void synced_networkProgrammingLatencyFromTriggerTimes() {
    ProxyMetrics m = metrics("iptables");
    // Before the tracker started (a restart): not measured.
    ProxyState old = programmed("10.1.0.1", T0.minusSeconds(30));
    clock.now = T0.plusSeconds(1);
    m.synced(ok(ProxyState.empty(), old, T0, Figures.partial()));
    assertThat(scrape().value(NPL + "_count" + V4)).isEqualTo(0.0);

    // The endpoint changed at T0+2 s; programmed at T0+4.5 s: 2.5 s.
    ProxyState s1 = programmed("10.1.0.2", T0.plusSeconds(2));
    clock.now = T0.plusMillis(4500);
    m.synced(ok(old, s1, T0.plusSeconds(4), Figures.partial()));
    Exposition e = scrape();
    assertThat(e.value(NPL + "_count" + V4)).isEqualTo(1.0);
    assertThat(e.value(NPL + "_sum" + V4)).isEqualTo(2.5);
    assertThat(e.value(NPL + "_bucket{ip_family=\"IPv4\",le=\"2.0\"}")).isEqualTo(0.0);
    assertThat(e.value(NPL + "_bucket{ip_family=\"IPv4\",le=\"3.0\"}")).isEqualTo(1.0);

    // Synced again with the same trigger time (another service changed): nothing new.
    clock.now = T0.plusSeconds(8);
    m.synced(ok(s1, s1, T0.plusSeconds(7), Figures.partial()));
    assertThat(scrape().value(NPL + "_count" + V4)).isEqualTo(1.0);

    // A failed sync measures nothing; the next good one measures from the trigger: 20 - 10 = 10 s.
    ProxyState s2 = programmed("10.1.0.3", T0.plusSeconds(10));
    clock.now = T0.plusSeconds(12);
    m.synced(failed(false, T0.plusSeconds(11), new SyncException("refused", 1)));
    clock.now = T0.plusSeconds(20);
    m.synced(ok(s1, s2, T0.plusSeconds(19), Figures.partial()));
    assertThat(scrape().value(NPL + "_count" + V4)).isEqualTo(2.0);
    assertThat(scrape().value(NPL + "_sum" + V4)).isEqualTo(12.5);

    // Two slices changed (T0+30 s, T0+33 s) before one sync at T0+40 s: the earliest, 10 s.
    ProxyState s3 = programmed("10.1.0.4", T0.plusSeconds(30), T0.plusSeconds(33));
    clock.now = T0.plusSeconds(40);
    m.synced(ok(s2, s3, T0.plusSeconds(39), Figures.partial()));
    assertThat(scrape().value(NPL + "_count" + V4)).isEqualTo(3.0);
    assertThat(scrape().value(NPL + "_sum" + V4)).isEqualTo(22.5);

    // The trigger time moved but the endpoints did not: not a programming of ns/a; and a later
    // change is measured from its own time (60 s), not from the passed-over one (50 s).
    ProxyState s4 = programmed("10.1.0.4", T0.plusSeconds(50), T0.plusSeconds(33));
    clock.now = T0.plusSeconds(55);
    m.synced(ok(s3, s4, T0.plusSeconds(54), Figures.partial()));
    assertThat(scrape().value(NPL + "_count" + V4)).isEqualTo(3.0);
    ProxyState s5 = programmed("10.1.0.5", T0.plusSeconds(60), T0.plusSeconds(33));
    clock.now = T0.plusSeconds(61);
    m.synced(ok(s4, s5, T0.plusSeconds(60), Figures.partial()));
    assertThat(scrape().value(NPL + "_count" + V4)).isEqualTo(4.0);
    assertThat(scrape().value(NPL + "_sum" + V4)).isEqualTo(23.5);
  }

  /**
   * Upstream's count: a Local policy whose node has none of the port's endpoints while others do
   * (DROP); a port with no endpoints at all is REJECTed and not counted.
   */
  private static final String LOCAL_POLICIES =
      """
      apiVersion: v1
      kind: Service
      metadata: {namespace: ns, name: itp}
      spec:
        clusterIP: 172.30.0.1
        internalTrafficPolicy: Local
        ports: [{name: p, port: 80}, {name: q, port: 81}]
      ---
      apiVersion: discovery.k8s.io/v1
      kind: EndpointSlice
      metadata: {namespace: ns, name: itp-1, labels: {kubernetes.io/service-name: itp}}
      addressType: IPv4
      ports: [{name: p, port: 80}, {name: q, port: 81}]
      endpoints: [{addresses: [10.1.0.1], nodeName: node-b}]
      ---
      apiVersion: v1
      kind: Service
      metadata: {namespace: ns, name: etp}
      spec:
        type: NodePort
        clusterIP: 172.30.0.2
        externalTrafficPolicy: Local
        ports: [{name: p, port: 80, nodePort: 30080}]
      ---
      apiVersion: discovery.k8s.io/v1
      kind: EndpointSlice
      metadata: {namespace: ns, name: etp-1, labels: {kubernetes.io/service-name: etp}}
      addressType: IPv4
      ports: [{name: p, port: 80}]
      endpoints: [{addresses: [10.1.0.2], nodeName: node-b}]
      ---
      apiVersion: v1
      kind: Service
      metadata: {namespace: ns, name: here}
      spec:
        type: NodePort
        clusterIP: 172.30.0.3
        externalTrafficPolicy: Local
        internalTrafficPolicy: Local
        ports: [{name: p, port: 80, nodePort: 30081}]
      ---
      apiVersion: discovery.k8s.io/v1
      kind: EndpointSlice
      metadata: {namespace: ns, name: here-1, labels: {kubernetes.io/service-name: here}}
      addressType: IPv4
      ports: [{name: p, port: 80}]
      endpoints: [{addresses: [10.1.0.3], nodeName: node-a}]
      ---
      apiVersion: v1
      kind: Service
      metadata: {namespace: ns, name: none}
      spec:
        clusterIP: 172.30.0.4
        internalTrafficPolicy: Local
        ports: [{name: p, port: 80}]
      """;

  @Test
  void synced_noLocalEndpointsPerServicePortInIptablesMode() {
    ProxyMetrics m = metrics("iptables");
    m.synced(ok(ProxyState.empty(), States.fromYaml(LOCAL_POLICIES), T0, Figures.partial()));
    Exposition e = scrape();
    // itp's two ports (iTP=Local, endpoint on node-b); etp's one port (eTP=Local NodePort).
    assertThat(
            e.value(
                "kubeproxy_sync_proxy_rules_no_local_endpoints_total{ip_family=\"IPv4\",traffic_policy=\"internal\"}"))
        .isEqualTo(2.0);
    assertThat(
            e.value(
                "kubeproxy_sync_proxy_rules_no_local_endpoints_total{ip_family=\"IPv4\",traffic_policy=\"external\"}"))
        .isEqualTo(1.0);
    // The endpoint of itp moves to this node: only etp is left.
    m.synced(
        ok(
            ProxyState.empty(),
            States.fromYaml(
                LOCAL_POLICIES.replace(
                    "[10.1.0.1], nodeName: node-b", "[10.1.0.1], nodeName: node-a")),
            T0.plusSeconds(1),
            Figures.partial()));
    assertThat(
            scrape()
                .value(
                    "kubeproxy_sync_proxy_rules_no_local_endpoints_total{ip_family=\"IPv4\",traffic_policy=\"internal\"}"))
        .isEqualTo(0.0);
  }

  @Test
  void synced_noLocalEndpointsPerServiceInIpvsMode() {
    ProxyMetrics m = metrics("ipvs");
    m.synced(ok(ProxyState.empty(), States.fromYaml(LOCAL_POLICIES), T0, Figures.partial()));
    // IPVS's proxier collects namespaced names in a set: itp counts once for its two ports.
    assertThat(
            scrape()
                .value(
                    "kubeproxy_sync_proxy_rules_no_local_endpoints_total{ip_family=\"IPv4\",traffic_policy=\"internal\"}"))
        .isEqualTo(1.0);
  }
}
