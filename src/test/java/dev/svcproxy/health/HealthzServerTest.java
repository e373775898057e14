package dev.svcproxy.health;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.svcproxy.health.ProxyHealth.Family;
import dev.svcproxy.source.NodeInfo;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * /healthz and /livez against upstream's pkg/proxy/healthcheck/healthcheck_test.go
 * (TestHealthzServer, TestLivezServer and their testProxyHealthUpdater sequence: health timeout 10
 * s, steps of 25 s and 5 s on a fake clock), plus the exact bytes Go's json.Marshal of ProxyHealth
 * writes.
 */
class HealthzServerTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Instant START = Instant.parse("2024-05-01T10:00:00Z");

  private final MutableClock clock = new MutableClock(START);
  private final AtomicReference<Optional<NodeInfo>> node =
      new AtomicReference<>(Optional.of(node(false, false)));

  /** A Node as the API source reads it: being deleted, tainted ToBeDeletedByClusterAutoscaler. */
  private static NodeInfo node(boolean deleting, boolean toBeDeleted) {
    return new NodeInfo("n1", List.of("192.168.0.2"), List.of(), "", deleting, toBeDeleted);
  }

  private final ProxyHealth health = new ProxyHealth(Duration.ofSeconds(10), clock, node::get);
  private final PrometheusRegistry registry = new PrometheusRegistry();
  private final HealthzServer server = new HealthzServer(health, registry, unusedListener());
  private int tracking200;
  private int tracking503;

  private static Http.Listener unusedListener() {
    return (a, h) -> {
      throw new IOException("test: no listener");
    };
  }

  private double counter(String name, String code) {
    for (var s : registry.scrape().stream().toList()) {
      if (s instanceof CounterSnapshot c
          && c.getMetadata().getPrometheusName().equals(name.replaceAll("_total$", ""))) {
        for (var d : c.getDataPoints()) {
          if (d.getLabels().equals(Labels.of("code", code))) {
            return d.getValue();
          }
        }
      }
    }
    return 0;
  }

  /** The expected state of one family: its last update and health; null when it has none yet. */
  private record Fam(Instant lastUpdated, boolean healthy) {}

  /**
   * As upstream's testHTTPHandler: status, times, health per family, node eligibility, counters.
   */
  private void expect(
      String url,
      int status,
      Instant lastUpdated,
      boolean healthy,
      Fam v4,
      Fam v6,
      Boolean eligible)
      throws IOException {
    Http.Response r = server.handle(url);
    assertThat(r.status()).as(r.body()).isEqualTo(status);
    assertThat(r.headers())
        .containsEntry("Content-Type", "application/json")
        .containsEntry("X-Content-Type-Options", "nosniff");
    JsonNode body = JSON.readTree(r.body());
    assertThat(Instant.parse(body.get("lastUpdated").asText())).isEqualTo(lastUpdated);
    assertThat(Instant.parse(body.get("currentTime").asText())).isEqualTo(clock.instant());
    assertThat(body.get("healthy").asBoolean()).isEqualTo(healthy);
    for (var e :
        Map.of("IPv4", Optional.ofNullable(v4), "IPv6", Optional.ofNullable(v6)).entrySet()) {
      JsonNode f = body.path("status").path(e.getKey());
      if (e.getValue().isEmpty()) {
        assertThat(f.isMissingNode()).as(e.getKey()).isTrue();
        continue;
      }
      assertThat(f.get("healthy").asBoolean())
          .as(e.getKey())
          .isEqualTo(e.getValue().get().healthy());
      assertThat(Instant.parse(f.get("lastUpdated").asText()))
          .as(e.getKey())
          .isEqualTo(e.getValue().get().lastUpdated());
    }
    if (status == 200) {
      tracking200++;
    } else {
      tracking503++;
    }
    if (url.equals("/healthz")) {
      assertThat(body.get("nodeEligible").asBoolean()).isEqualTo(eligible);
      assertThat(counter("kubeproxy_proxy_healthz_total", "200")).isEqualTo(tracking200);
      assertThat(counter("kubeproxy_proxy_healthz_total", "503")).isEqualTo(tracking503);
    } else {
      assertThat(body.has("nodeEligible")).isFalse();
      assertThat(counter("kubeproxy_proxy_livez_total", "200")).isEqualTo(tracking200);
      assertThat(counter("kubeproxy_proxy_livez_total", "503")).isEqualTo(tracking503);
    }
  }

  /** Upstream's testProxyHealthUpdater, step by step, for /healthz (eligible node) and /livez. */
  @ParameterizedTest
  @ValueSource(strings = {"/healthz", "/livez"})
  void handler_upstreamUpdaterSequence_answersAsUpstream(String url) throws IOException {
    Boolean eligible = url.equals("/healthz") ? true : null;
    // Should return 200 "OK" by default.
    expect(url, 200, clock.instant(), true, null, null, eligible);

    // Should return 200 "OK" after first update for both IPv4 and IPv6 proxiers.
    health.updated(Family.IPV4);
    health.updated(Family.IPV6);
    Instant v4 = clock.instant();
    Instant v6 = clock.instant();
    Instant last = clock.instant();
    expect(url, 200, clock.instant(), true, new Fam(v4, true), new Fam(v6, true), eligible);

    // Should continue to return 200 "OK" as long as no further updates are queued.
    clock.step(Duration.ofSeconds(25));
    expect(url, 200, clock.instant(), true, new Fam(v4, true), new Fam(v6, true), eligible);

    // Should return 503 if the IPv4 proxier exceeds the max update-processing time.
    health.queuedUpdate(Family.IPV4);
    clock.step(Duration.ofSeconds(25));
    expect(url, 503, last, false, new Fam(v4, false), new Fam(v6, true), eligible);

    // 200 after processing the update for both.
    health.updated(Family.IPV4);
    health.updated(Family.IPV6);
    v4 = v6 = last = clock.instant();
    clock.step(Duration.ofSeconds(5));
    expect(url, 200, clock.instant(), true, new Fam(v4, true), new Fam(v6, true), eligible);

    // 503 if the IPv6 proxier is late.
    health.queuedUpdate(Family.IPV6);
    clock.step(Duration.ofSeconds(25));
    expect(url, 503, last, false, new Fam(v4, true), new Fam(v6, false), eligible);

    health.updated(Family.IPV4);
    health.updated(Family.IPV6);
    v4 = v6 = last = clock.instant();
    clock.step(Duration.ofSeconds(5));
    expect(url, 200, clock.instant(), true, new Fam(v4, true), new Fam(v6, true), eligible);

    // 503 if both are late.
    health.queuedUpdate(Family.IPV4);
    health.queuedUpdate(Family.IPV6);
    clock.step(Duration.ofSeconds(25));
    expect(url, 503, last, false, new Fam(v4, false), new Fam(v6, false), eligible);

    health.updated(Family.IPV4);
    health.updated(Family.IPV6);
    v4 = v6 = last = clock.instant();
    clock.step(Duration.ofSeconds(5));
    expect(url, 200, clock.instant(), true, new Fam(v4, true), new Fam(v6, true), eligible);

    // If IPv6 is late but IPv4 is not, updating IPv4 has no effect.
    health.queuedUpdate(Family.IPV6);
    clock.step(Duration.ofSeconds(25));
    expect(url, 503, last, false, new Fam(v4, true), new Fam(v6, false), eligible);
    health.updated(Family.IPV4);
    v4 = last = clock.instant();
    expect(url, 503, last, false, new Fam(v4, true), new Fam(v6, false), eligible);
    health.updated(Family.IPV6);
    v6 = clock.instant();
    expect(url, 200, clock.instant(), true, new Fam(v4, true), new Fam(v6, true), eligible);

    // Both late: no 200 until both have updated.
    last = clock.instant();
    health.queuedUpdate(Family.IPV4);
    health.queuedUpdate(Family.IPV6);
    clock.step(Duration.ofSeconds(25));
    expect(url, 503, last, false, new Fam(v4, false), new Fam(v6, false), eligible);
    health.updated(Family.IPV4);
    v4 = clock.instant();
    expect(url, 503, v4, false, new Fam(v4, true), new Fam(v6, false), eligible);
    health.updated(Family.IPV6);
    v6 = clock.instant();
    expect(url, 200, clock.instant(), true, new Fam(v4, true), new Fam(v6, true), eligible);
  }

  /** Upstream's QueuedUpdate keeps the oldest change: a later one does not restart the wait. */
  @Test
  void health_secondQueuedUpdate_doesNotRestartTheTimeout() {
    health.updated(Family.IPV4);
    health.queuedUpdate(Family.IPV4);
    clock.step(Duration.ofSeconds(6));
    health.queuedUpdate(Family.IPV4);
    clock.step(Duration.ofSeconds(4));
    // 10 s after the first queued change: exactly the timeout, which upstream counts as late.
    assertThat(health.health().healthy()).isFalse();
  }

  @Test
  void health_queuedChangeJustUnderTheTimeout_isHealthy() {
    health.updated(Family.IPV4);
    health.queuedUpdate(Family.IPV4);
    clock.step(Duration.ofSeconds(10).minusNanos(1));
    assertThat(health.health().healthy()).isTrue();
  }

  /** Upstream's TestHealthzServer and TestLivezServer: only /healthz cares about the Node. */
  @Test
  void healthz_nodeTaintedToBeDeletedOrDeleted_503_livezStays200() throws IOException {
    health.updated(Family.IPV4);
    Fam v4 = new Fam(clock.instant(), true);
    node.set(Optional.of(node(false, false)));
    expect("/healthz", 200, clock.instant(), true, v4, null, true);
    node.set(Optional.of(node(false, true)));
    // The proxy itself is healthy: "healthy" stays true, the node is what fails.
    expect("/healthz", 503, clock.instant(), true, v4, null, false);
    node.set(Optional.of(node(false, false)));
    expect("/healthz", 200, clock.instant(), true, v4, null, true);
    node.set(Optional.of(node(true, false)));
    expect("/healthz", 503, clock.instant(), true, v4, null, false);
    node.set(Optional.empty());
    expect("/healthz", 503, clock.instant(), true, v4, null, false);

    tracking200 = 0;
    tracking503 = 0;
    for (NodeInfo n : new NodeInfo[] {node(false, false), node(false, true), node(true, false)}) {
      node.set(Optional.of(n));
      expect("/livez", 200, clock.instant(), true, v4, null, null);
    }
  }

  /** Go's json.Marshal(ProxyHealth): struct field order, RFC 3339 nanos, omitempty status. */
  @Test
  void healthz_body_isWhatGoWritesForProxyHealth() {
    clock.step(Duration.ofMillis(500));
    assertThat(server.handle("/healthz").body())
        .isEqualTo(
            "{\"lastUpdated\":\"2024-05-01T10:00:00.5Z\",\"currentTime\":\"2024-05-01T10:00:00.5Z\","
                + "\"nodeEligible\":true,\"healthy\":true}");
    health.updated(Family.IPV4);
    health.queuedUpdate(Family.IPV4);
    clock.step(Duration.ofSeconds(10).plusNanos(123_456_789));
    assertThat(server.handle("/healthz").body())
        .isEqualTo(
            "{\"lastUpdated\":\"2024-05-01T10:00:00.5Z\","
                + "\"currentTime\":\"2024-05-01T10:00:10.623456789Z\",\"nodeEligible\":true,"
                + "\"healthy\":false,\"status\":{\"IPv4\":{\"lastUpdated\":\"2024-05-01T10:00:00.5Z\","
                + "\"healthy\":false}}}");
    assertThat(server.handle("/livez").body())
        .isEqualTo(
            "{\"lastUpdated\":\"2024-05-01T10:00:00.5Z\","
                + "\"currentTime\":\"2024-05-01T10:00:10.623456789Z\","
                + "\"healthy\":false,\"status\":{\"IPv4\":{\"lastUpdated\":\"2024-05-01T10:00:00.5Z\","
                + "\"healthy\":false}}}");
  }

  @ParameterizedTest
  @ValueSource(strings = {"/", "/healthz/", "/livezz", "/metrics", "/healthzx"})
  void handle_otherPath_isGosNotFound(String path) {
    Http.Response r = server.handle(path);
    assertThat(r.status()).isEqualTo(404);
    assertThat(r.body()).isEqualTo("404 page not found\n");
    assertThat(r.headers()).containsEntry("Content-Type", "text/plain; charset=utf-8");
  }

  @ParameterizedTest
  @CsvSource({
    "0001-01-01T00:00:00Z, 0001-01-01T00:00:00Z",
    "2024-05-01T10:00:00.100Z, 2024-05-01T10:00:00.1Z",
    "2024-05-01T10:00:00.000001Z, 2024-05-01T10:00:00.000001Z",
    "2024-05-01T10:00:00.123456789Z, 2024-05-01T10:00:00.123456789Z",
  })
  void goTime_instant_isGosRfc3339Nano(String instant, String expected) {
    assertThat(Http.goTime(Instant.parse(instant))).isEqualTo(expected);
  }

  @ParameterizedTest
  @CsvSource({
    "0.0.0.0:10256, 0.0.0.0, 10256",
    "192.168.77.11:8080, 192.168.77.11, 8080",
    "[::]:10256, 0:0:0:0:0:0:0:0, 10256",
    "127.0.0.1, 127.0.0.1, 10256",
  })
  void parseBindAddress_valid_givesAddressAndPort(String value, String host, int port) {
    InetSocketAddress a = HealthzServer.parseBindAddress(value, "--healthz-bind-address");
    assertThat(a.getAddress().getHostAddress()).isEqualTo(host);
    assertThat(a.getPort()).isEqualTo(port);
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "localhost:10256",
        "300.0.0.1:10256",
        "0.0.0.0:99999",
        "0.0.0.0:",
        ":10256",
        "[::"
      })
  void parseBindAddress_invalid_namesTheFlag(String value) {
    assertThatThrownBy(() -> HealthzServer.parseBindAddress(value, "--healthz-bind-address"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("--healthz-bind-address");
  }

  private static Http.Bound bound(InetSocketAddress a) {
    return new Http.Bound() {
      @Override
      public InetSocketAddress address() {
        return a;
      }

      @Override
      public void close() {}
    };
  }

  @Test
  void start_bindFailsWithHardFail_throws() {
    HealthzServer s =
        new HealthzServer(
            health,
            new PrometheusRegistry(),
            (a, h) -> {
              throw new java.net.BindException("Address already in use");
            });
    assertThatThrownBy(() -> s.start("0.0.0.0:10256", true, Duration.ofMillis(10)))
        .isInstanceOf(HealthzServer.BindFailedException.class)
        .hasMessageContaining("failed to start proxy healthz on 0.0.0.0:10256")
        .hasMessageContaining("Address already in use");
    assertThat(s.bound()).isNull();
  }

  @Test
  void start_bindFailsWithoutHardFail_retriesUntilItBinds() throws InterruptedException {
    AtomicInteger attempts = new AtomicInteger();
    HealthzServer s =
        new HealthzServer(
            health,
            new PrometheusRegistry(),
            (a, h) -> {
              if (attempts.incrementAndGet() < 3) {
                throw new java.net.BindException("Address already in use");
              }
              return bound(a);
            });
    s.start("0.0.0.0:10256", false, Duration.ofMillis(10));
    assertThat(attempts.get()).isEqualTo(1);
    long end = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (s.bound() == null && System.nanoTime() < end) {
      Thread.sleep(5);
    }
    assertThat(s.bound()).isEqualTo(new InetSocketAddress("0.0.0.0", 10256));
    assertThat(attempts.get()).isEqualTo(3);
    s.close();
  }

  @Test
  void start_blankAddress_opensNothing() {
    AtomicInteger attempts = new AtomicInteger();
    HealthzServer s =
        new HealthzServer(
            health,
            new PrometheusRegistry(),
            (a, h) -> {
              attempts.incrementAndGet();
              return bound(a);
            });
    s.start("", false, Duration.ofMillis(10));
    assertThat(attempts.get()).isZero();
    assertThat(s.bound()).isNull();
  }
}
