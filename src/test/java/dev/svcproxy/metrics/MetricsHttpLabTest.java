package dev.svcproxy.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.lab.ProxyProcess;
import dev.svcproxy.testutil.KernelTests;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * `svcproxy run` in a lab node with --metrics-bind-address NODEIP:10249, scraped over real HTTP
 * with curl from a client namespace on the fabric, as Prometheus scrapes kube-proxy. Metric names
 * are upstream's (pkg/proxy/metrics/metrics.go); the rule counts are checked against what the
 * node's kernel holds (iptables-save), not against svcproxy's own figures.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class MetricsHttpLabTest {
  private Lab lab;
  private Lab.Node node;
  private Lab.Client scraper;
  private ProxyProcess proxy;
  private Path manifests;
  private String base;
  private Instant trigger;

  @BeforeAll
  void start() throws IOException {
    KernelTests.require("lab tests");
    lab = Lab.create(new ProcessCommandRunner(), 1);
    node = lab.node("node1");
    scraper = lab.addClient("scraper");
    manifests = Files.createDirectories(lab.workDir().resolve("metrics-manifests"));
    try (InputStream in = getClass().getResourceAsStream("/golden/overall/input.yaml")) {
      Files.copy(in, manifests.resolve("overall.yaml"));
    }
    proxy =
        ProxyProcess.start(
            lab, node, manifests, List.of("--metrics-bind-address", node.ip() + ":10249"));
    base = "http://" + node.ip() + ":10249";

    // A Service whose EndpointSlice the "controller" writes now, after the proxy started: its
    // programming is measured from the annotation.
    trigger = Instant.now();
    Files.writeString(
        manifests.resolve("late.yaml"),
        """
        apiVersion: v1
        kind: Service
        metadata: {namespace: late, name: web}
        spec: {clusterIP: 172.30.0.99, ports: [{name: p, port: 80}]}
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata:
          namespace: late
          name: web-1
          labels: {kubernetes.io/service-name: web}
          annotations: {endpoints.kubernetes.io/last-change-trigger-time: "%s"}
        addressType: IPv4
        ports: [{name: p, port: 80}]
        endpoints: [{addresses: [10.180.9.9]}]
        """
            .formatted(trigger));
    proxy.awaitLog("synced iptables", 2, Duration.ofSeconds(15));
  }

  @AfterAll
  void stop() {
    if (proxy != null) {
      proxy.stop();
    }
    if (lab != null) {
      lab.close();
    }
  }

  /** curl from the scraper's namespace: status line, headers and body. */
  private String curl(String path, String... extra) {
    List<String> argv = new java.util.ArrayList<>(List.of("curl", "-sS", "-i", "--max-time", "5"));
    argv.addAll(List.of(extra));
    argv.add(base + path);
    return lab.in(scraper.netns(), argv.toArray(String[]::new)).stdout();
  }

  private static String body(String response) {
    return response.substring(response.indexOf("\r\n\r\n") + 4);
  }

  /** Rules in chains named KUBE-* of {@code table} in the node's kernel, as iptables-save lists. */
  private long kernelRules(String table) {
    return lab.in(node.netns(), "iptables-save", "-t", table)
        .stdout()
        .lines()
        .filter(l -> l.startsWith("-A KUBE-"))
        .count();
  }

  @Test
  void metrics_scrapedFromAnotherNamespace_upstreamSeriesWithPlausibleValues() {
    String response = curl("/metrics");
    assertThat(response).startsWith("HTTP/1.1 200");
    assertThat(response).containsIgnoringCase("Content-Type: text/plain; version=0.0.4");
    Exposition e = Exposition.parse(body(response));
    String v4 = "{ip_family=\"IPv4\"}";

    assertThat(e.value("kubeproxy_sync_proxy_rules_duration_seconds_count" + v4))
        .isGreaterThanOrEqualTo(2.0);
    // The first sync is full, the late Service's partial.
    assertThat(e.value("kubeproxy_sync_full_proxy_rules_duration_seconds_count" + v4))
        .isGreaterThanOrEqualTo(1.0);
    assertThat(e.value("kubeproxy_sync_partial_proxy_rules_duration_seconds_count" + v4))
        .isGreaterThanOrEqualTo(1.0);
    // Upstream counts the rules of its own chains, not the jumps from the built-in chains.
    assertThat(
            e.value("kubeproxy_sync_proxy_rules_iptables_total{ip_family=\"IPv4\",table=\"nat\"}"))
        .isEqualTo((double) kernelRules("nat"));
    assertThat(
            e.value(
                "kubeproxy_sync_proxy_rules_iptables_total{ip_family=\"IPv4\",table=\"filter\"}"))
        .isEqualTo((double) kernelRules("filter"));
    assertThat(e.value("kubeproxy_sync_proxy_rules_iptables_restore_failures_total" + v4))
        .isEqualTo(0.0);
    // input.yaml: only ns2/svc2 is eTP=Local, and its one endpoint is on no node of this lab.
    assertThat(
            e.value(
                "kubeproxy_sync_proxy_rules_no_local_endpoints_total{ip_family=\"IPv4\",traffic_policy=\"external\"}"))
        .isEqualTo(1.0);
    // late.yaml added one service with endpoints: one change of each kind after the first sync.
    assertThat(e.value("kubeproxy_sync_proxy_rules_service_changes_total"))
        .isGreaterThanOrEqualTo(1.0);
    assertThat(e.value("kubeproxy_sync_proxy_rules_endpoint_changes_total"))
        .isGreaterThanOrEqualTo(1.0);
    assertThat(e.value("kubeproxy_sync_proxy_rules_endpoint_changes_pending")).isEqualTo(0.0);
    double now = Instant.now().getEpochSecond();
    assertThat(e.value("kubeproxy_sync_proxy_rules_last_timestamp_seconds" + v4))
        .isBetween(trigger.getEpochSecond() - 1.0, now + 1);
    assertThat(e.value("kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds" + v4))
        .isBetween(trigger.getEpochSecond() - 1.0, now + 1);
    // The late slice's trigger time to its sync: one observation, under the time this took.
    assertThat(e.value("kubeproxy_network_programming_duration_seconds_count" + v4)).isEqualTo(1.0);
    assertThat(e.value("kubeproxy_network_programming_duration_seconds_sum" + v4))
        .isGreaterThan(0.0)
        .isLessThan(now - trigger.getEpochSecond() + 1);
    // JVM and process metrics, as Go's client adds go_* and process_*.
    assertThat(e.series()).containsKey("process_cpu_seconds_total");
    assertThat(e.type()).containsKey("jvm_memory_used_bytes");
  }

  @Test
  void metrics_openMetricsAsked_openMetricsServed() {
    String response = curl("/metrics", "-H", "Accept: application/openmetrics-text; version=1.0.0");
    assertThat(response).containsIgnoringCase("Content-Type: application/openmetrics-text");
    assertThat(body(response)).contains("kubeproxy_sync_proxy_rules_duration_seconds_bucket");
    assertThat(body(response).strip()).endsWith("# EOF");
  }

  @Test
  void proxyModeAndHealthz_answerAsUpstream() {
    String mode = curl("/proxyMode");
    assertThat(mode).startsWith("HTTP/1.1 200");
    assertThat(mode).containsIgnoringCase("Content-Type: text/plain; charset=utf-8");
    assertThat(mode).containsIgnoringCase("X-Content-Type-Options: nosniff");
    assertThat(body(mode)).isEqualTo("iptables");
    assertThat(body(curl("/healthz"))).isEqualTo("ok");
    assertThat(curl("/metrics/extra")).startsWith("HTTP/1.1 404");
    assertThat(curl("/")).startsWith("HTTP/1.1 404");
  }
}
