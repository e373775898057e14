package dev.svcproxy.health;

import dev.svcproxy.model.ProxyConfig;
import dev.svcproxy.source.NodeInfo;
import dev.svcproxy.sync.SyncObserver;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Supplier;

/**
 * What `run` starts for health: the {@link ProxyHealth} tracker, /healthz and /livez, and the
 * health-check node ports; the sync loop feeds them through {@link #observers()}.
 */
public final class HealthServers implements AutoCloseable {
  private final ProxyHealth health;
  private final HealthzServer healthz;
  private final ServiceHealthServers services;
  private final ExecutorService executor;

  private HealthServers(
      ProxyHealth health,
      HealthzServer healthz,
      ServiceHealthServers services,
      ExecutorService executor) {
    this.health = health;
    this.healthz = healthz;
    this.services = services;
    this.executor = executor;
  }

  /**
   * Starts the health endpoints of a run whose sync loop has period {@code syncPeriod}.
   *
   * @param healthzBindAddress --healthz-bind-address (blank disables /healthz and /livez)
   * @param hardFail --bind-address-hard-fail: an unusable healthz address throws {@link
   *     HealthzServer.BindFailedException} instead of being retried every 5 s
   * @param node this node's Node object as last seen ({@link ProxyHealth#noNodeObject()} with
   *     --manifests)
   */
  public static HealthServers start(
      ProxyConfig cfg,
      Duration syncPeriod,
      String healthzBindAddress,
      boolean hardFail,
      PrometheusRegistry registry,
      Supplier<Optional<NodeInfo>> node) {
    ProxyHealth health = new ProxyHealth(syncPeriod.multipliedBy(2), Clock.systemUTC(), node);
    // Upstream's SyncLoop marks every proxier updated as it starts, "in case Sync() never
    // succeeds": until a change is queued, a starting proxy is healthy.
    health.updated(ProxyHealth.Family.IPV4);
    ExecutorService executor =
        Executors.newCachedThreadPool(
            r -> {
              Thread t = new Thread(r, "health-http");
              t.setDaemon(true);
              return t;
            });
    Http.Listener listener = Http.jdk(executor);
    HealthzServer healthz = new HealthzServer(health, registry, listener);
    try {
      healthz.start(healthzBindAddress, hardFail, HealthzServer.RETRY);
    } catch (RuntimeException e) {
      healthz.close();
      executor.shutdownNow();
      throw e;
    }
    ServiceHealthServers services =
        new ServiceHealthServers(
            cfg.nodeName(), ServiceHealthServers.listenAddresses(cfg), listener, health);
    return new HealthServers(health, healthz, services, executor);
  }

  /** The observers the sync loop must call: the tracker first, then the health checks. */
  public List<SyncObserver> observers() {
    return List.of(health, services);
  }

  public ProxyHealth health() {
    return health;
  }

  @Override
  public void close() {
    services.close();
    healthz.close();
    executor.shutdownNow();
  }
}
