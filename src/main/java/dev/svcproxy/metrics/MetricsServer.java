package dev.svcproxy.metrics;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import com.sun.net.httpserver.HttpServer;
import dev.svcproxy.config.HostPort;
import io.prometheus.metrics.exporter.httpserver.MetricsHandler;
import io.prometheus.metrics.instrumentation.jvm.JvmMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Upstream kube-proxy's metrics server (--metrics-bind-address): /metrics from the shared registry
 * (Prometheus text format, OpenMetrics when the scraper asks for it), /proxyMode, and /healthz
 * ("ok"); any other path is 404. When the address cannot be bound it retries every 5 s, or, with
 * --bind-address-hard-fail, fails the start, as upstream's serveMetrics does.
 */
public final class MetricsServer implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(MetricsServer.class);

  /** Upstream's wait.Until period between attempts to listen. */
  static final Duration RETRY = Duration.ofSeconds(5);

  private final InetSocketAddress address;
  private final String mode;
  private final PrometheusRegistry registry;
  private final ExecutorService handlers;
  private final ScheduledExecutorService retries;
  private HttpServer server;
  private boolean closed;

  private MetricsServer(InetSocketAddress address, String mode, PrometheusRegistry registry) {
    this.address = address;
    this.mode = mode;
    this.registry = registry;
    this.handlers = Executors.newFixedThreadPool(2, daemon("metrics-http"));
    this.retries = Executors.newSingleThreadScheduledExecutor(daemon("metrics-bind-retry"));
  }

  /**
   * Starts serving on {@code bindAddress} ("IP:PORT"); null when it is empty (disabled). Registers
   * the JVM and process metrics on {@code registry}, as upstream's Go and process collectors.
   *
   * @throws UncheckedIOException when the address cannot be bound and {@code hardFail} is set
   * @throws IllegalArgumentException when {@code bindAddress} is not IP:PORT
   */
  public static MetricsServer start(
      String bindAddress, String mode, PrometheusRegistry registry, boolean hardFail) {
    if (bindAddress == null || bindAddress.isEmpty()) {
      return null;
    }
    InetSocketAddress addr = parse(bindAddress);
    JvmMetrics.builder().register(registry);
    MetricsServer s = new MetricsServer(addr, mode, registry);
    try {
      s.bind();
    } catch (IOException e) {
      if (hardFail) {
        s.close();
        throw new UncheckedIOException(
            "starting metrics server failed: listen " + bindAddress + ": " + e.getMessage(), e);
      }
      LOG.error(
          "starting metrics server failed: listen {}: {}; retrying every {} s",
          bindAddress,
          e.getMessage(),
          RETRY.toSeconds());
      s.retries.scheduleWithFixedDelay(
          s::retry, RETRY.toMillis(), RETRY.toMillis(), TimeUnit.MILLISECONDS);
    }
    return s;
  }

  /** "IP:PORT" ("[v6]:PORT" too), checked as upstream checks --metrics-bind-address. */
  static InetSocketAddress parse(String hostPort) {
    return HostPort.bindAddress(hostPort, "--metrics-bind-address", -1);
  }

  /** The port listened on (the bound one when the address asked for port 0); -1 when not bound. */
  public synchronized int port() {
    return server == null ? -1 : server.getAddress().getPort();
  }

  /** Whether the server is listening. */
  public synchronized boolean listening() {
    return server != null;
  }

  private synchronized void bind() throws IOException {
    if (closed || server != null) {
      return;
    }
    HttpServer s = HttpServer.create(address, 16);
    MetricsHandler metrics = new MetricsHandler(registry);
    s.createContext("/", this::handle);
    s.createContext("/metrics", exact("/metrics", metrics));
    s.setExecutor(handlers);
    s.start();
    server = s;
    LOG.info("metrics server listening on {}", s.getAddress());
  }

  private void retry() {
    try {
      bind();
      retries.shutdown();
    } catch (IOException e) {
      LOG.error("starting metrics server failed: listen {}: {}", address, e.getMessage());
    }
  }

  private void handle(HttpExchange ex) throws IOException {
    try (ex) {
      switch (ex.getRequestURI().getPath()) {
        case "/proxyMode" -> text(ex, 200, mode);
        case "/healthz" -> text(ex, 200, "ok");
        default -> text(ex, 404, "404 page not found\n");
      }
    }
  }

  /** {@code h} for {@code path} itself; Go's mux does not hand "/metrics/x" to "/metrics". */
  private HttpHandler exact(String path, HttpHandler h) {
    return ex -> {
      if (ex.getRequestURI().getPath().equals(path)) {
        h.handle(ex);
      } else {
        handle(ex);
      }
    };
  }

  /** A text/plain answer with the headers upstream's handlers set. */
  private static void text(HttpExchange ex, int code, String body) throws IOException {
    byte[] b = body.getBytes(StandardCharsets.UTF_8);
    ex.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
    ex.getResponseHeaders().set("X-Content-Type-Options", "nosniff");
    if (ex.getRequestMethod().equals("HEAD")) {
      ex.sendResponseHeaders(code, -1);
      return;
    }
    ex.sendResponseHeaders(code, b.length);
    try (OutputStream out = ex.getResponseBody()) {
      out.write(b);
    }
  }

  @Override
  public void close() {
    HttpServer s;
    synchronized (this) {
      closed = true;
      s = server;
      server = null;
    }
    retries.shutdownNow();
    if (s != null) {
      s.stop(0);
    }
    handlers.shutdownNow();
  }

  private static java.util.concurrent.ThreadFactory daemon(String name) {
    return r -> {
      Thread t = new Thread(r, name);
      t.setDaemon(true);
      return t;
    };
  }
}
