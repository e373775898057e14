package dev.svcproxy.conntrack;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.ConntrackTool;
import dev.svcproxy.kernel.RecordingCommandRunner;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.sync.SyncObserver;
import dev.svcproxy.testutil.States;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.Set;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * The reconciler as a sync observer, on a recording runner: when it runs, the exact conntrack argv,
 * how it takes the tool's answers, and its two metrics (names, labels, buckets from upstream's
 * pkg/proxy/metrics).
 */
class ConntrackReconcilerTest {
  static final String SUMMARY_SHOWN =
      "conntrack v1.4.7 (conntrack-tools): %d flow entries have been shown.\n";
  static final String SUMMARY_DELETED =
      "conntrack v1.4.7 (conntrack-tools): %d flow entries have been deleted.\n";

  /** A UDP (DNS) and a TCP Service with one endpoint each. */
  static String manifests(String udpEndpoint, String tcpEndpoint) {
    return """
        apiVersion: v1
        kind: Service
        metadata: {namespace: kube-system, name: dns}
        spec:
          type: NodePort
          clusterIP: 10.96.0.10
          ports: [{name: dns, port: 53, protocol: UDP, nodePort: 30053}]
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {namespace: kube-system, name: dns-1, labels: {kubernetes.io/service-name: dns}}
        addressType: IPv4
        ports: [{name: dns, port: 53, protocol: UDP}]
        endpoints: [{addresses: [%s]}]
        ---
        apiVersion: v1
        kind: Service
        metadata: {namespace: ns, name: web}
        spec: {clusterIP: 10.96.0.20, ports: [{name: http, port: 80}]}
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {namespace: ns, name: web-1, labels: {kubernetes.io/service-name: web}}
        addressType: IPv4
        ports: [{name: http, port: 80}]
        endpoints: [{addresses: [%s]}]
        """
        .formatted(udpEndpoint, tcpEndpoint);
  }

  /** What `conntrack -L -f ipv4 -p udp -o extended` printed for a client pod's DNS flows. */
  static final String UDP_LISTING =
      """
      ipv4     2 udp      17 28 src=10.244.0.3 dst=10.96.0.10 sport=40001 dport=53 src=10.244.1.5 dst=10.244.0.3 sport=53 dport=40001 [ASSURED] mark=0 use=1
      ipv4     2 udp      17 29 src=10.244.0.3 dst=10.96.0.10 sport=40002 dport=53 src=10.244.2.7 dst=10.244.0.3 sport=53 dport=40002 mark=0 use=1
      ipv4     2 udp      17 27 src=192.168.77.100 dst=192.168.77.11 sport=40003 dport=30053 [UNREPLIED] src=192.168.77.11 dst=192.168.77.100 sport=30053 dport=40003 mark=0 zone=3 use=1
      ipv4     2 udp      17 25 src=10.244.0.3 dst=10.96.0.99 sport=40004 dport=53 [UNREPLIED] src=10.96.0.99 dst=10.244.0.3 sport=53 dport=40004 mark=0 use=1
      """;

  static final List<String> LIST_UDP =
      List.of("conntrack", "-L", "-f", "ipv4", "-p", "udp", "-o", "extended");

  /**
   * The two stale flows of UDP_LISTING once 10.244.2.7 has replaced 10.244.1.5, written by hand.
   */
  static final List<String> DELETE_OLD_ENDPOINT =
      List.of(
          "conntrack",
          "-D",
          "-f",
          "ipv4",
          "-p",
          "udp",
          "--orig-src",
          "10.244.0.3",
          "--orig-dst",
          "10.96.0.10",
          "--sport",
          "40001",
          "--dport",
          "53",
          "--reply-src",
          "10.244.1.5",
          "--reply-port-src",
          "53");

  static final List<String> DELETE_NODEPORT_BLACKHOLE =
      List.of(
          "conntrack",
          "-D",
          "-f",
          "ipv4",
          "-p",
          "udp",
          "--orig-src",
          "192.168.77.100",
          "--orig-dst",
          "192.168.77.11",
          "--sport",
          "40003",
          "--dport",
          "30053",
          "--reply-src",
          "192.168.77.11",
          "--reply-port-src",
          "30053",
          "-w",
          "3");

  static Function<RecordingCommandRunner.Call, CommandResult> tool(
      int deleteExit, String deleteErr) {
    return c -> {
      if (c.argv().equals(LIST_UDP)) {
        return new CommandResult(c.argv(), 0, UDP_LISTING, SUMMARY_SHOWN.formatted(4));
      }
      if (c.argv().get(1).equals("-D")) {
        return new CommandResult(c.argv(), deleteExit, "", deleteErr);
      }
      return new CommandResult(c.argv(), 0, "", "");
    };
  }

  static SyncObserver.Synced synced(ProxyState before, ProxyState after, boolean ok) {
    return new SyncObserver.Synced(
        false,
        before,
        after,
        Set.of("kube-system/dns"),
        null,
        ok ? null : new IllegalStateException("iptables-restore failed"),
        Instant.EPOCH,
        Duration.ZERO);
  }

  static String text(PrometheusRegistry registry) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    PrometheusTextFormatWriter.create().write(out, registry.scrape());
    return out.toString(StandardCharsets.UTF_8);
  }

  static final ProxyState OLD = States.fromYaml(manifests("10.244.1.5", "10.244.1.6"));
  static final ProxyState NEW = States.fromYaml(manifests("10.244.2.7", "10.244.1.6"));

  @Test
  void synced_udpEndpointReplaced_listsOnceThenDeletesEachStaleFlowExactly() throws IOException {
    RecordingCommandRunner runner =
        new RecordingCommandRunner(tool(0, SUMMARY_DELETED.formatted(1)));
    PrometheusRegistry registry = new PrometheusRegistry();
    Deque<Long> clock = new ArrayDeque<>(List.of(1_000_000_000L, 1_250_000_000L));
    ConntrackReconciler r = new ConntrackReconciler(runner, registry, clock::removeFirst);

    r.synced(synced(OLD, NEW, true));

    assertThat(runner.calls().stream().map(RecordingCommandRunner.Call::argv))
        .containsExactly(LIST_UDP, DELETE_OLD_ENDPOINT, DELETE_NODEPORT_BLACKHOLE);
    String text = text(registry);
    assertThat(text)
        .contains(
            "# TYPE kubeproxy_conntrack_reconciler_deleted_entries_total counter",
            "kubeproxy_conntrack_reconciler_deleted_entries_total{ip_family=\"IPv4\"} 2.0",
            "# TYPE kubeproxy_conntrack_reconciler_sync_duration_seconds histogram",
            "kubeproxy_conntrack_reconciler_sync_duration_seconds_count{ip_family=\"IPv4\"} 1",
            "kubeproxy_conntrack_reconciler_sync_duration_seconds_sum{ip_family=\"IPv4\"} 0.25",
            // ExponentialBuckets(0.001, 2, 15): 0.001 ... 16.384, then +Inf.
            "kubeproxy_conntrack_reconciler_sync_duration_seconds_bucket{ip_family=\"IPv4\",le=\"0.001\"} 0",
            "kubeproxy_conntrack_reconciler_sync_duration_seconds_bucket{ip_family=\"IPv4\",le=\"0.128\"} 0",
            "kubeproxy_conntrack_reconciler_sync_duration_seconds_bucket{ip_family=\"IPv4\",le=\"0.256\"} 1",
            "kubeproxy_conntrack_reconciler_sync_duration_seconds_bucket{ip_family=\"IPv4\",le=\"16.384\"} 1")
        .doesNotContain("le=\"32.768\"");
  }

  @Test
  void synced_flowAlreadyGone_countsNothingAndIsNoError() throws IOException {
    // conntrack 1.4.7 exits 1 when the filter matched nothing (checked on this host's tool).
    RecordingCommandRunner runner =
        new RecordingCommandRunner(tool(1, SUMMARY_DELETED.formatted(0)));
    PrometheusRegistry registry = new PrometheusRegistry();
    ConntrackReconciler r = new ConntrackReconciler(runner, registry);

    r.synced(synced(OLD, NEW, true));

    assertThat(runner.calls()).hasSize(3);
    assertThat(text(registry))
        .contains("kubeproxy_conntrack_reconciler_deleted_entries_total{ip_family=\"IPv4\"} 0.0");
  }

  @Test
  void synced_deleteFails_otherFlowsStillDeletedAndNothingThrown() throws IOException {
    RecordingCommandRunner runner =
        new RecordingCommandRunner(
            c ->
                c.argv().equals(DELETE_OLD_ENDPOINT)
                    ? new CommandResult(c.argv(), 2, "", "conntrack v1.4.7: Operation failed\n")
                    : tool(0, SUMMARY_DELETED.formatted(1)).apply(c));
    PrometheusRegistry registry = new PrometheusRegistry();
    ConntrackReconciler r = new ConntrackReconciler(runner, registry);

    r.synced(synced(OLD, NEW, true));

    assertThat(runner.calls().stream().map(RecordingCommandRunner.Call::argv))
        .containsExactly(LIST_UDP, DELETE_OLD_ENDPOINT, DELETE_NODEPORT_BLACKHOLE);
    assertThat(text(registry))
        .contains("kubeproxy_conntrack_reconciler_deleted_entries_total{ip_family=\"IPv4\"} 1.0");
  }

  @Test
  void synced_listFails_deletesNothingAndNothingThrown() {
    RecordingCommandRunner runner =
        new RecordingCommandRunner(
            c -> new CommandResult(c.argv(), 1, "", "conntrack v1.4.7: Operation not permitted\n"));
    ConntrackReconciler r = new ConntrackReconciler(runner, new PrometheusRegistry());

    r.synced(synced(OLD, NEW, true));

    assertThat(runner.calls().stream().map(RecordingCommandRunner.Call::argv))
        .containsExactly(LIST_UDP);
  }

  @Test
  void synced_failedSync_runsNothing() {
    RecordingCommandRunner runner = new RecordingCommandRunner(tool(0, ""));
    new ConntrackReconciler(runner, new PrometheusRegistry()).synced(synced(OLD, NEW, false));

    assertThat(runner.calls()).isEmpty();
  }

  @Test
  void synced_onlyTcpEndpointsChanged_runsNothing() {
    RecordingCommandRunner runner = new RecordingCommandRunner(tool(0, ""));
    ProxyState tcpMoved = States.fromYaml(manifests("10.244.1.5", "10.244.3.3"));

    new ConntrackReconciler(runner, new PrometheusRegistry()).synced(synced(OLD, tcpMoved, true));

    assertThat(runner.calls()).isEmpty();
  }

  @Test
  void synced_udpServiceFirstAppears_reconciles() {
    // The first sync (nothing applied before) brings every UDP service port: flows that reached
    // its ClusterIP before the rules existed are pinned un-DNATed and must go.
    RecordingCommandRunner runner =
        new RecordingCommandRunner(tool(0, SUMMARY_DELETED.formatted(1)));

    new ConntrackReconciler(runner, new PrometheusRegistry())
        .synced(synced(ProxyState.empty(), NEW, true));

    assertThat(runner.calls().stream().map(RecordingCommandRunner.Call::argv))
        .startsWith(LIST_UDP)
        .contains(DELETE_OLD_ENDPOINT);
  }

  @Test
  void cleanupRequired_udpNodePortChanged_true() {
    ProxyState otherNodePort =
        States.fromYaml(manifests("10.244.1.5", "10.244.1.6").replace("30053", "30054"));

    assertThat(ConntrackReconciler.cleanupRequired(OLD, otherNodePort)).isTrue();
    assertThat(ConntrackReconciler.cleanupRequired(OLD, OLD)).isFalse();
  }

  @Test
  void deleteArgv_addressNotIpv4_refused() {
    var e =
        dev.svcproxy.netfilter.ConntrackCodec.parseLine(
            "ipv6 10 udp 17 28 src=fd00::3 dst=fd00::10 sport=40001 dport=53 src=fd00::5 dst=fd00::3 sport=53 dport=40001 mark=0 use=1");

    org.assertj.core.api.Assertions.assertThatThrownBy(() -> ConntrackTool.deleteArgv(e))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("fd00::3");
  }
}
