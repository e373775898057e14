package dev.svcproxy.health;

import com.fasterxml.jackson.core.io.JsonStringEncoder;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ExecutorService;

/** The JDK's HTTP server under the health endpoints, and the bits of Go's net/http they mimic. */
final class Http {
  private static final DateTimeFormatter SECONDS =
      DateTimeFormatter.ofPattern("uuuu-MM-dd'T'HH:mm:ss").withZone(ZoneOffset.UTC);

  /** One HTTP answer: status, headers in order, body. */
  record Response(int status, Map<String, String> headers, String body) {
    Response {
      headers = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(headers));
    }

    /** Go's http.NotFound, as a ServeMux answers a path it has no handler for. */
    static Response notFound() {
      Map<String, String> h = new LinkedHashMap<>();
      h.put("Content-Type", "text/plain; charset=utf-8");
      h.put("X-Content-Type-Options", "nosniff");
      return new Response(404, h, "404 page not found\n");
    }
  }

  /** Answers requests by path. */
  interface Handler {
    Response handle(String path);
  }

  /** An open listener. */
  interface Bound extends AutoCloseable {
    /** The address it listens on (the real port when port 0 was asked for). */
    InetSocketAddress address();

    @Override
    void close();
  }

  /** Opens listeners; unit tests swap it for one that opens nothing. */
  interface Listener {
    /** Binds {@code address} and serves {@code handler} there until the result is closed. */
    Bound listen(InetSocketAddress address, Handler handler) throws IOException;
  }

  private Http() {}

  /** A listener over the JDK's HttpServer; handlers run on {@code executor}. */
  static Listener jdk(ExecutorService executor) {
    return (address, handler) -> {
      HttpServer server = HttpServer.create(address, 0);
      server.createContext("/", exchange -> answer(exchange, handler));
      server.setExecutor(executor);
      server.start();
      return new Bound() {
        @Override
        public InetSocketAddress address() {
          return server.getAddress();
        }

        @Override
        public void close() {
          server.stop(0);
        }
      };
    };
  }

  private static void answer(HttpExchange exchange, Handler handler) throws IOException {
    try (exchange) {
      Response r = handler.handle(exchange.getRequestURI().getPath());
      r.headers().forEach((k, v) -> exchange.getResponseHeaders().set(k, v));
      byte[] body = r.body().getBytes(StandardCharsets.UTF_8);
      boolean head = exchange.getRequestMethod().equals("HEAD");
      exchange.sendResponseHeaders(r.status(), head || body.length == 0 ? -1 : body.length);
      if (!head && body.length > 0) {
        try (OutputStream out = exchange.getResponseBody()) {
          out.write(body);
        }
      }
    }
  }

  /** "host:port" (IPv6 as "[::]:port"), the way Go's net.JoinHostPort writes it. */
  static String hostPort(InetSocketAddress a) {
    String host = a.getAddress().getHostAddress();
    return (host.contains(":") ? "[" + host + "]" : host) + ":" + a.getPort();
  }

  /** A JSON string literal, as Go's %q writes one for the names that reach it. */
  static String quote(String s) {
    return "\"" + new String(JsonStringEncoder.getInstance().quoteAsString(s)) + "\"";
  }

  /**
   * A time as Go's encoding/json writes a UTC time.Time (RFC 3339 with nanoseconds, trailing zeros
   * of the fraction dropped): "2024-05-01T10:00:00.1234Z", "0001-01-01T00:00:00Z".
   */
  static String goTime(Instant t) {
    StringBuilder b = new StringBuilder(SECONDS.format(t));
    int nanos = t.getNano();
    if (nanos != 0) {
      String frac = String.format("%09d", nanos);
      int end = frac.length();
      while (frac.charAt(end - 1) == '0') {
        end--;
      }
      b.append('.').append(frac, 0, end);
    }
    return b.append('Z').toString();
  }
}
