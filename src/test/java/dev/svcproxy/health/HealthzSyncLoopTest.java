package dev.svcproxy.health;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.svcproxy.model.Endpoint;
import dev.svcproxy.model.Protocol;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.model.ServicePortInfo;
import dev.svcproxy.model.ServicePortName;
import dev.svcproxy.model.TrafficPolicy;
import dev.svcproxy.sync.Exclusion;
import dev.svcproxy.sync.Proxier;
import dev.svcproxy.sync.SyncException;
import dev.svcproxy.sync.SyncLoop;
import dev.svcproxy.sync.SyncResult;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The real sync loop feeding {@link ProxyHealth}, read over real HTTP: a change the proxier keeps
 * refusing turns /healthz and /livez 503 once it has waited 2 x the sync period, and the next
 * successful sync turns them 200 again. In process, with a proxier that refuses on demand, because
 * nothing in a lab node makes the kernel refuse iptables-restore on cue without also touching the
 * host (the xtables lock is shared); the health clock is a fake one advanced by hand, so nothing
 * here waits for time to pass.
 */
class HealthzSyncLoopTest {
  private static final Duration SYNC_PERIOD = Duration.ofSeconds(30);

  private final MutableClock clock = new MutableClock(Instant.parse("2024-05-01T10:00:00Z"));
  private final ProxyHealth health =
      new ProxyHealth(SYNC_PERIOD.multipliedBy(2), clock, ProxyHealth.noNodeObject());
  private final ExecutorService executor = Executors.newCachedThreadPool();
  private final HealthzServer server =
      new HealthzServer(health, new PrometheusRegistry(), Http.jdk(executor));
  private final HttpClient client = HttpClient.newHttpClient();
  private final AtomicBoolean refuse = new AtomicBoolean();

  private final Proxier proxier =
      new Proxier() {
        @Override
        public String name() {
          return "test";
        }

        @Override
        public SyncResult sync(ProxyState state, boolean full, Set<String> changed) {
          if (refuse.get()) {
            throw new SyncException("test: the kernel refused the sync");
          }
          return () -> "ok";
        }

        @Override
        public List<String> missing() {
          return List.of();
        }

        @Override
        public void cleanup() {}

        @Override
        public Map<ServicePortName, Exclusion> excluded() {
          return Map.of();
        }
      };

  @AfterEach
  void close() {
    server.close();
    executor.shutdownNow();
  }

  private static ProxyState state(String endpointIp) {
    ServicePortName name = new ServicePortName("ns", "svc", "", Protocol.TCP);
    ServicePortInfo info =
        new ServicePortInfo(
            name,
            "172.30.0.1",
            80,
            0,
            List.of(),
            List.of(),
            List.of(),
            0,
            false,
            0,
            TrafficPolicy.CLUSTER,
            TrafficPolicy.CLUSTER);
    return new ProxyState(
        new TreeMap<>(Map.of(name, info)),
        Map.of(name, List.of(Endpoint.ready(endpointIp, 8080, "node1"))));
  }

  private record Answer(int status, JsonNode body) {}

  private Answer get(String path) throws Exception {
    InetSocketAddress a = server.bound();
    HttpResponse<String> r =
        client.send(
            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + a.getPort() + path)).build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(r.headers().firstValue("Content-Type")).hasValue("application/json");
    assertThat(r.headers().firstValue("X-Content-Type-Options")).hasValue("nosniff");
    return new Answer(r.statusCode(), new ObjectMapper().readTree(r.body()));
  }

  @Test
  void healthz_changeRefusedForTwoSyncPeriods_turns503_andBack200AfterTheNextGoodSync()
      throws Exception {
    server.start("127.0.0.1:0", true, HealthzServer.RETRY);
    health.updated(ProxyHealth.Family.IPV4);
    try (SyncLoop loop =
        new SyncLoop(
            proxier,
            new SyncLoop.Timing(Duration.ofMillis(1), Duration.ofMillis(20), Duration.ofHours(1)),
            List.of(health))) {
      loop.update(state("10.244.1.2"));
      loop.start();
      assertThat(loop.awaitSuccesses(1, Duration.ofSeconds(10))).isTrue();
      assertThat(get("/healthz").status()).isEqualTo(200);

      refuse.set(true);
      Instant queuedAt = clock.instant();
      loop.update(state("10.244.1.3"));
      long end = System.nanoTime() + Duration.ofSeconds(10).toNanos();
      while (loop.lastError() == null && System.nanoTime() < end) {
        Thread.sleep(5);
      }
      assertThat(loop.lastError()).contains("refused");
      // A failed sync is no update: the change stays queued, late only at 2 x the sync period.
      clock.step(SYNC_PERIOD.multipliedBy(2).minusMillis(1));
      assertThat(get("/healthz").status()).isEqualTo(200);
      assertThat(get("/livez").status()).isEqualTo(200);
      clock.step(Duration.ofMillis(1));
      Answer healthz = get("/healthz");
      assertThat(healthz.status()).isEqualTo(503);
      assertThat(healthz.body().get("healthy").asBoolean()).isFalse();
      assertThat(healthz.body().get("nodeEligible").asBoolean()).isTrue();
      assertThat(healthz.body().path("status").path("IPv4").path("healthy").asBoolean()).isFalse();
      // lastUpdated is the last good sync, before the change was queued.
      assertThat(Instant.parse(healthz.body().get("lastUpdated").asText()))
          .isBefore(queuedAt.plusNanos(1));
      assertThat(get("/livez").status()).isEqualTo(503);

      refuse.set(false);
      assertThat(loop.awaitSuccesses(2, Duration.ofSeconds(10))).isTrue();
      Answer after = get("/healthz");
      assertThat(after.status()).isEqualTo(200);
      assertThat(after.body().get("healthy").asBoolean()).isTrue();
      assertThat(get("/livez").status()).isEqualTo(200);
    }
  }

  @Test
  void start_hardFailOnAPortInUse_throwsNamingTheAddress() throws Exception {
    server.start("127.0.0.1:0", true, HealthzServer.RETRY);
    int port = server.bound().getPort();
    HealthzServer second = new HealthzServer(health, new PrometheusRegistry(), Http.jdk(executor));
    org.assertj.core.api.Assertions.assertThatThrownBy(
            () -> second.start("127.0.0.1:" + port, true, HealthzServer.RETRY))
        .isInstanceOf(HealthzServer.BindFailedException.class)
        .hasMessageContaining("failed to start proxy healthz on 127.0.0.1:" + port);
    second.close();
  }
}
