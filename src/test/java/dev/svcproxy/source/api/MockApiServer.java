package dev.svcproxy.source.api;

import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.ServicePortBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder;
import io.fabric8.kubernetes.client.NamespacedKubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import java.net.InetAddress;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * fabric8's mock API server in CRUD mode (a store with real HTTP LIST and WATCH) on 127.0.0.1, and
 * builders for the complete objects it needs (it does no defaulting or allocation).
 */
public final class MockApiServer implements AutoCloseable {
  /** Held so that the level set on them stays (JUL keeps loggers weakly). */
  private static final List<Logger> QUIET =
      List.of(
          Logger.getLogger("io.fabric8.mockwebserver"),
          Logger.getLogger("io.fabric8.kubernetes.client.server.mock"));

  static {
    // The mock logs every request at INFO.
    QUIET.forEach(l -> l.setLevel(Level.WARNING));
  }

  private final KubernetesMockServer server;

  private MockApiServer(KubernetesMockServer server) {
    this.server = server;
  }

  /** A new empty store listening on 127.0.0.1:{@code port} (0: any free port). */
  public static MockApiServer start(int port) {
    KubernetesMockServer s =
        new KubernetesMockServer(
            new Context(),
            new MockWebServer(),
            new HashMap<>(),
            new KubernetesCrudDispatcher(),
            false);
    s.init(InetAddress.getLoopbackAddress(), port);
    return new MockApiServer(s);
  }

  public int port() {
    return server.getPort();
  }

  public String url() {
    return urlOf(port());
  }

  public static String urlOf(int port) {
    return "http://127.0.0.1:" + port;
  }

  /** A client of this server, for the test's own writes. */
  public NamespacedKubernetesClient client() {
    return server.createClient();
  }

  /** A kubeconfig naming this server, as `run --kubeconfig` reads it. */
  public String kubeconfig() {
    return kubeconfig(url());
  }

  /** A kubeconfig naming {@code url}. */
  public static String kubeconfig(String url) {
    return """
        apiVersion: v1
        kind: Config
        clusters:
        - name: mock
          cluster:
            server: %s
        users:
        - name: mock
          user:
            token: mock-token
        contexts:
        - name: mock
          context:
            cluster: mock
            user: mock
        current-context: mock
        """
        .formatted(url);
  }

  @Override
  public void close() {
    try {
      server.destroy();
    } catch (IllegalStateException e) {
      // Vert.x waits 10 s for watch connections the JDK HTTP client has not yet torn down, then
      // gives up ("Unable to close MockWebServer"); each test uses its own random port, and the
      // test has already asserted what it tests. Seen once in CI.
      System.err.println("mock API server: " + e.getMessage() + " (ignored at teardown)");
    }
  }

  /**
   * Waits until a WATCH of each of {@code resources} (plural names, e.g. "services") has reached
   * this server: an informer that watches again has relisted or resumed. False on timeout.
   */
  public boolean awaitWatches(java.time.Duration timeout, String... resources)
      throws InterruptedException {
    java.util.Set<String> missing = new java.util.HashSet<>(List.of(resources));
    long end = System.nanoTime() + timeout.toNanos();
    while (!missing.isEmpty()) {
      long left = end - System.nanoTime();
      if (left <= 0) {
        return false;
      }
      io.fabric8.mockwebserver.http.RecordedRequest r =
          server.takeRequest(left, java.util.concurrent.TimeUnit.NANOSECONDS);
      if (r == null) {
        return false;
      }
      String path = r.getPath();
      if (path != null && path.contains("watch=true")) {
        missing.removeIf(res -> path.contains("/" + res + "?") || path.contains("/" + res + "/"));
      }
    }
    return true;
  }

  /** A Node with an InternalIP, a pod CIDR and a zone label. */
  public static io.fabric8.kubernetes.api.model.Node node(
      String name, String ip, String podCidr, String zone) {
    return new io.fabric8.kubernetes.api.model.NodeBuilder()
        .withNewMetadata()
        .withName(name)
        .withLabels(Map.of("topology.kubernetes.io/zone", zone))
        .endMetadata()
        .withNewSpec()
        .withPodCIDR(podCidr)
        .withPodCIDRs(podCidr)
        .endSpec()
        .withNewStatus()
        .addNewAddress()
        .withType("InternalIP")
        .withAddress(ip)
        .endAddress()
        .endStatus()
        .build();
  }

  /** A ClusterIP Service with one TCP port named "http". */
  public static Service service(String ns, String name, String clusterIP, int port) {
    return service(ns, name, clusterIP, port, Map.of());
  }

  public static Service service(
      String ns, String name, String clusterIP, int port, Map<String, String> labels) {
    return new ServiceBuilder()
        .withNewMetadata()
        .withNamespace(ns)
        .withName(name)
        .withLabels(labels)
        .endMetadata()
        .withNewSpec()
        .withType("ClusterIP")
        .withClusterIP(clusterIP)
        .withClusterIPs(clusterIP)
        .withPorts(
            new ServicePortBuilder()
                .withName("http")
                .withPort(port)
                .withProtocol("TCP")
                .withTargetPort(new IntOrString(port))
                .build())
        .endSpec()
        .build();
  }

  /** A ready IPv4 EndpointSlice of Service {@code svc}, port "http", at {@code addresses}. */
  public static EndpointSlice slice(
      String ns, String name, String svc, int port, List<String> addresses) {
    return slice(ns, name, svc, port, addresses, Map.of());
  }

  public static EndpointSlice slice(
      String ns,
      String name,
      String svc,
      int port,
      List<String> addresses,
      Map<String, String> labels) {
    Map<String, String> all = new HashMap<>(labels);
    all.put("kubernetes.io/service-name", svc);
    return new EndpointSliceBuilder()
        .withNewMetadata()
        .withNamespace(ns)
        .withName(name)
        .withLabels(all)
        .endMetadata()
        .withAddressType("IPv4")
        .withPorts(
            new io.fabric8.kubernetes.api.model.discovery.v1.EndpointPortBuilder()
                .withName("http")
                .withPort(port)
                .withProtocol("TCP")
                .build())
        .withEndpoints(
            addresses.stream()
                .map(
                    a ->
                        new EndpointBuilder()
                            .withAddresses(a)
                            .withNewConditions()
                            .withReady(true)
                            .withServing(true)
                            .withTerminating(false)
                            .endConditions()
                            .build())
                .toList())
        .build();
  }
}
