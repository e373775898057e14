package dev.svcproxy.health;

import dev.svcproxy.config.HostPort;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * /healthz and /livez on --healthz-bind-address, answering as upstream's ProxyHealthServer: 200 or
 * 503, JSON bodies, and the kubeproxy_proxy_healthz_total / kubeproxy_proxy_livez_total counters.
 */
public final class HealthzServer implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(HealthzServer.class);

  /** Upstream's default port, appended to a bind address given without one (--healthz-port). */
  public static final int DEFAULT_PORT = 10256;

  /** How often upstream retries a healthz listener that failed (wait.Until period). */
  public static final Duration RETRY = Duration.ofSeconds(5);

  /** The bind address cannot be used and --bind-address-hard-fail is set: run must exit. */
  public static final class BindFailedException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    BindFailedException(String message, Throwable cause) {
      super(message, cause);
    }
  }

  private final ProxyHealth health;
  private final Counter healthzTotal;
  private final Counter livezTotal;
  private final Http.Listener listener;
  private ScheduledExecutorService retry;
  private Http.Bound server;
  private InetSocketAddress bound;
  private boolean closed;

  /** Registers the counters on {@code registry}; {@link #start} opens the listener. */
  public HealthzServer(ProxyHealth health, PrometheusRegistry registry, Http.Listener listener) {
    this.health = health;
    this.listener = listener;
    this.healthzTotal =
        Counter.builder()
            .name("kubeproxy_proxy_healthz_total")
            .help("[ALPHA] Cumulative proxy healthz HTTP status")
            .labelNames("code")
            .register(registry);
    this.livezTotal =
        Counter.builder()
            .name("kubeproxy_proxy_livez_total")
            .help("[ALPHA] Cumulative proxy livez HTTP status")
            .labelNames("code")
            .register(registry);
  }

  /**
   * Listens on {@code bindAddress} ("IP:PORT", "[IPv6]:PORT" or a bare IP for port 10256; blank
   * disables). When the address cannot be bound: with {@code hardFail} throws {@link
   * BindFailedException}, otherwise logs it and retries every {@code retryPeriod} in the
   * background, as upstream does.
   */
  public synchronized void start(String bindAddress, boolean hardFail, Duration retryPeriod) {
    if (bindAddress == null || bindAddress.isBlank()) {
      LOG.info("healthz server disabled (--healthz-bind-address is empty)");
      return;
    }
    InetSocketAddress address = parseBindAddress(bindAddress, "--healthz-bind-address");
    String failure = tryBind(address);
    if (failure == null) {
      return;
    }
    if (hardFail) {
      throw new BindFailedException("healthz server failed: " + failure, null);
    }
    LOG.error("healthz server failed: {}; retrying every {} s", failure, retryPeriod.toSeconds());
    retry =
        Executors.newSingleThreadScheduledExecutor(
            r -> {
              Thread t = new Thread(r, "healthz-bind-retry");
              t.setDaemon(true);
              return t;
            });
    long ms = retryPeriod.toMillis();
    retry.scheduleWithFixedDelay(
        () -> {
          synchronized (this) {
            if (closed || server != null) {
              retry.shutdown();
              return;
            }
            String again = tryBind(address);
            if (again == null) {
              retry.shutdown();
            } else {
              LOG.error("healthz server failed: {}", again);
            }
          }
        },
        ms,
        ms,
        TimeUnit.MILLISECONDS);
  }

  /** Null when bound, else why not (upstream's "failed to start proxy healthz on ..." text). */
  private String tryBind(InetSocketAddress address) {
    try {
      server = listener.listen(address, this::handle);
      bound = server.address();
      LOG.info("serving /healthz and /livez on {}", Http.hostPort(bound));
      return null;
    } catch (IOException e) {
      return "failed to start proxy healthz on " + Http.hostPort(address) + ": " + e.getMessage();
    }
  }

  /** Where the server listens (the real port if 0 was asked for); null while it is not bound. */
  public synchronized InetSocketAddress bound() {
    return bound;
  }

  /** The answer to a request for {@code path}, counting it as upstream's handlers do. */
  Http.Response handle(String path) {
    return switch (path) {
      case "/healthz" -> healthz();
      case "/livez" -> livez();
      default -> Http.Response.notFound();
    };
  }

  private Http.Response healthz() {
    ProxyHealth.Health h = health.health();
    boolean eligible = health.nodeEligible();
    boolean healthy = h.healthy() && eligible;
    healthzTotal.labelValues(healthy ? "200" : "503").inc();
    return answer(h, healthy, eligible);
  }

  private Http.Response livez() {
    ProxyHealth.Health h = health.health();
    livezTotal.labelValues(h.healthy() ? "200" : "503").inc();
    return answer(h, h.healthy(), null);
  }

  /**
   * Upstream's body, json.Marshal of ProxyHealth: fields in struct order, nodeEligible only on
   * /healthz, status left out while empty (omitempty); a healthy answer reports lastUpdated as the
   * current time, as older releases did.
   */
  private Http.Response answer(ProxyHealth.Health h, boolean healthy, Boolean eligible) {
    StringBuilder b = new StringBuilder("{");
    b.append("\"lastUpdated\":")
        .append(Http.quote(Http.goTime(healthy ? h.currentTime() : h.lastUpdated())));
    b.append(",\"currentTime\":").append(Http.quote(Http.goTime(h.currentTime())));
    if (eligible != null) {
      b.append(",\"nodeEligible\":").append(eligible);
    }
    b.append(",\"healthy\":").append(h.healthy());
    if (!h.status().isEmpty()) {
      b.append(",\"status\":{");
      String sep = "";
      for (Map.Entry<String, ProxyHealth.FamilyHealth> e : h.status().entrySet()) {
        b.append(sep).append(Http.quote(e.getKey())).append(":{\"lastUpdated\":");
        b.append(Http.quote(Http.goTime(e.getValue().lastUpdated())));
        b.append(",\"healthy\":").append(e.getValue().healthy()).append('}');
        sep = ",";
      }
      b.append('}');
    }
    b.append('}');
    Map<String, String> headers = new LinkedHashMap<>();
    headers.put("Content-Type", "application/json");
    headers.put("X-Content-Type-Options", "nosniff");
    return new Http.Response(healthy ? 200 : 503, headers, b.toString());
  }

  /**
   * Parses "IP:PORT", "[IPv6]:PORT" or a bare IP (port 10256, upstream's --healthz-port default).
   *
   * @throws IllegalArgumentException naming {@code flag} when it is not such an address
   */
  public static InetSocketAddress parseBindAddress(String value, String flag) {
    return HostPort.bindAddress(value, flag, DEFAULT_PORT);
  }

  @Override
  public synchronized void close() {
    closed = true;
    if (retry != null) {
      retry.shutdownNow();
    }
    if (server != null) {
      server.close();
      server = null;
      bound = null;
    }
  }
}
