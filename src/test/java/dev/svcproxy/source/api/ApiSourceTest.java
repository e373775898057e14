package dev.svcproxy.source.api;

import static dev.svcproxy.source.api.MockApiServer.service;
import static dev.svcproxy.source.api.MockApiServer.slice;
import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.svcproxy.model.Cidr;
import dev.svcproxy.model.Endpoint;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.model.ServicePortInfo;
import dev.svcproxy.model.ServicePortName;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.NamespacedKubernetesClient;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * ApiSource against fabric8's mock API server in CRUD mode: real LIST and WATCH over HTTP. Expected
 * states are written by hand from the objects created (one line per service port: "ns/name:port
 * clusterIP:port -> endpoints").
 */
class ApiSourceTest {
  private static final Duration WAIT = Duration.ofSeconds(20);

  private final List<AutoCloseable> open = new ArrayList<>();
  private final List<ProxyState> seen = new ArrayList<>();

  @AfterEach
  void closeAll() throws Exception {
    for (int i = open.size() - 1; i >= 0; i--) {
      open.get(i).close();
    }
  }

  private MockApiServer server(int port) {
    MockApiServer s = MockApiServer.start(port);
    open.add(s);
    return s;
  }

  private NamespacedKubernetesClient writer(MockApiServer s) {
    NamespacedKubernetesClient c = s.client();
    open.add(c);
    return c;
  }

  private ApiSource source(MockApiServer s, String node) {
    return source(s.url(), node);
  }

  private ApiSource source(String url, String node) {
    KubernetesClient c =
        ApiClientConfig.client(
            ApiClientConfig.choose(null, null, url, null, Map.of()).orElseThrow());
    ApiSource src = ApiSource.start(c, node, Duration.ofMinutes(15));
    open.add(src);
    return src;
  }

  private void record(ProxyState s) {
    synchronized (seen) {
      seen.add(s);
      seen.notifyAll();
    }
  }

  /** Waits until the last state delivered, described, satisfies {@code ok}; returns it. */
  private List<String> awaitState(Predicate<List<String>> ok) throws InterruptedException {
    long end = System.nanoTime() + WAIT.toNanos();
    synchronized (seen) {
      while (true) {
        if (!seen.isEmpty() && ok.test(describe(seen.get(seen.size() - 1)))) {
          return describe(seen.get(seen.size() - 1));
        }
        long left = end - System.nanoTime();
        if (left <= 0) {
          throw new AssertionError(
              "no matching state in time; last: "
                  + (seen.isEmpty() ? "none" : describe(seen.get(seen.size() - 1))));
        }
        seen.wait(Math.max(1, left / 1_000_000));
      }
    }
  }

  private static void await(java.util.function.BooleanSupplier ok) throws InterruptedException {
    long end = System.nanoTime() + WAIT.toNanos();
    while (!ok.getAsBoolean()) {
      if (System.nanoTime() > end) {
        throw new AssertionError("condition not met in time");
      }
      Thread.sleep(20);
    }
  }

  private static List<String> describe(ProxyState s) {
    List<String> out = new ArrayList<>();
    for (Map.Entry<ServicePortName, ServicePortInfo> e : s.services().entrySet()) {
      ServicePortName n = e.getKey();
      TreeSet<String> eps = new TreeSet<>();
      for (Endpoint ep : s.endpoints().getOrDefault(n, List.of())) {
        eps.add(ep.address());
      }
      out.add(
          n.namespace()
              + "/"
              + n.name()
              + ":"
              + n.port()
              + " "
              + e.getValue().clusterIP()
              + ":"
              + e.getValue().port()
              + " -> "
              + String.join(",", eps));
    }
    return out;
  }

  @Test
  void watch_createUpdateDelete_sinkFollows() throws Exception {
    MockApiServer s = server(0);
    NamespacedKubernetesClient k = writer(s);
    ApiSource src = source(s, "node1");
    src.watch(this::record);
    awaitState(List::isEmpty);
    // The CRUD mock replays nothing to a watch that opens after a change (a real API server
    // does, from the list's resourceVersion): change objects only once the watches are open.
    assertThat(s.awaitWatches(WAIT, "services", "endpointslices")).isTrue();

    k.services()
        .inNamespace("default")
        .resource(service("default", "web", "10.96.0.10", 80))
        .create();
    k.discovery()
        .v1()
        .endpointSlices()
        .inNamespace("default")
        .resource(slice("default", "web-1", "web", 8080, List.of("10.244.1.5")))
        .create();
    awaitState(d -> d.equals(List.of("default/web:http 10.96.0.10:80 -> 10.244.1.5:8080")));

    k.discovery()
        .v1()
        .endpointSlices()
        .inNamespace("default")
        .resource(slice("default", "web-1", "web", 8080, List.of("10.244.1.5", "10.244.2.7")))
        .update();
    awaitState(
        d ->
            d.equals(List.of("default/web:http 10.96.0.10:80 -> 10.244.1.5:8080,10.244.2.7:8080")));

    k.services().inNamespace("default").withName("web").delete();
    awaitState(List::isEmpty);
  }

  @Test
  void watch_proxyNameHeadlessAndNoneClusterIp_neverArrive() throws Exception {
    MockApiServer s = server(0);
    NamespacedKubernetesClient k = writer(s);
    ApiSource src = source(s, "node1");
    src.watch(this::record);
    awaitState(List::isEmpty);
    // The CRUD mock replays nothing to a watch that opens after a change (a real API server
    // does, from the list's resourceVersion): change objects only once the watches are open.
    assertThat(s.awaitWatches(WAIT, "services", "endpointslices")).isTrue();
    var svcs = k.services().inNamespace("default");
    var slices = k.discovery().v1().endpointSlices().inNamespace("default");
    svcs.resource(
            service(
                "default",
                "other-proxy",
                "10.96.0.20",
                80,
                Map.of(ApiSource.SERVICE_PROXY_NAME, "someone-else")))
        .create();
    svcs.resource(
            service(
                "default", "labelled-headless", "10.96.0.21", 80, Map.of(ApiSource.HEADLESS, "")))
        .create();
    Service none = service("default", "headless", "None", 80);
    svcs.resource(none).create();
    // A slice of a plain Service, but labelled for another proxy: upstream's selector drops it.
    slices
        .resource(
            slice(
                "default",
                "plain-other",
                "plain",
                8080,
                List.of("10.244.9.9"),
                Map.of(ApiSource.SERVICE_PROXY_NAME, "someone-else")))
        .create();
    slices
        .resource(
            slice(
                "default",
                "plain-headless",
                "plain",
                8080,
                List.of("10.244.9.8"),
                Map.of(ApiSource.HEADLESS, "")))
        .create();
    // Created last: once it is seen, every object before it has been handled.
    svcs.resource(service("default", "plain", "10.96.0.30", 80)).create();
    slices.resource(slice("default", "plain-1", "plain", 8080, List.of("10.244.1.1"))).create();

    List<String> d = awaitState(x -> x.toString().contains("10.244.1.1"));
    assertThat(d).containsExactly("default/plain:http 10.96.0.30:80 -> 10.244.1.1:8080");
  }

  @Test
  void watch_invalidService_leftOutWithNamedWarning_othersKept() throws Exception {
    ListAppender<ILoggingEvent> logs = new ListAppender<>();
    ch.qos.logback.classic.Logger log =
        (ch.qos.logback.classic.Logger) LoggerFactory.getLogger(ApiSource.class);
    logs.start();
    log.addAppender(logs);
    try {
      MockApiServer s = server(0);
      NamespacedKubernetesClient k = writer(s);
      // The mock does not validate: a lower-case protocol is stored as given.
      Service bad =
          new ServiceBuilder(service("default", "bad", "10.96.0.40", 80))
              .editSpec()
              .editFirstPort()
              .withProtocol("tcp")
              .endPort()
              .endSpec()
              .build();
      k.services().inNamespace("default").resource(bad).create();
      k.services()
          .inNamespace("default")
          .resource(service("default", "good", "10.96.0.41", 81))
          .create();
      ApiSource src = source(s, "node1");
      src.watch(this::record);

      List<String> d = awaitState(x -> !x.isEmpty());
      assertThat(d).containsExactly("default/good:http 10.96.0.41:81 -> ");
      assertThat(logs.list)
          .extracting(ILoggingEvent::getFormattedMessage)
          .anySatisfy(
              m ->
                  assertThat(m)
                      .contains("Service default/bad")
                      .contains("spec.ports[0].protocol")
                      .contains("\"tcp\""));
    } finally {
      log.detachAppender(logs);
    }
  }

  @Test
  void watch_objectsBeforeStart_firstDeliveryHoldsThemAll() throws Exception {
    MockApiServer s = server(0);
    NamespacedKubernetesClient k = writer(s);
    for (int i = 0; i < 20; i++) {
      k.services()
          .inNamespace("ns" + i)
          .resource(service("ns" + i, "svc", "10.96.1." + (i + 1), 80))
          .create();
      k.discovery()
          .v1()
          .endpointSlices()
          .inNamespace("ns" + i)
          .resource(slice("ns" + i, "svc-1", "svc", 8080, List.of("10.244.3." + (i + 1))))
          .create();
    }
    ApiSource src = source(s, "node1");
    // The sink is attached before the informers could have listed anything.
    src.watch(this::record);
    awaitState(d -> d.size() == 20);
    synchronized (seen) {
      // Upstream syncs only once both caches are full: no empty or partial state comes first.
      assertThat(seen).hasSize(1);
      assertThat(describe(seen.get(0)))
          .contains("ns0/svc:http 10.96.1.1:80 -> 10.244.3.1:8080")
          .contains("ns19/svc:http 10.96.1.20:80 -> 10.244.3.20:8080");
    }
  }

  @Test
  void watch_apiServerDownAtStart_syncsOnceItComes() throws Exception {
    MockApiServer probe = MockApiServer.start(0);
    int port = probe.port();
    probe.close();
    ApiSource src = source(MockApiServer.urlOf(port), "node1");
    src.watch(this::record);
    // The first lists fail (connection refused); fabric8's default handler would stop there.
    Thread.sleep(1500);
    assertThat(src.hasSynced()).isFalse();
    MockApiServer s = server(port);
    writer(s)
        .services()
        .inNamespace("default")
        .resource(service("default", "web", "10.96.0.10", 80))
        .create();
    awaitState(d -> d.equals(List.of("default/web:http 10.96.0.10:80 -> ")));
  }

  @Test
  void watch_apiServerRestarted_convergesToTheNewServersObjects() throws Exception {
    MockApiServer s = server(0);
    int port = s.port();
    NamespacedKubernetesClient k = writer(s);
    k.services()
        .inNamespace("default")
        .resource(service("default", "web", "10.96.0.10", 80))
        .create();
    k.discovery()
        .v1()
        .endpointSlices()
        .inNamespace("default")
        .resource(slice("default", "web-1", "web", 8080, List.of("10.244.1.5")))
        .create();
    ApiSource src = source(s, "node1");
    src.watch(this::record);
    awaitState(d -> d.equals(List.of("default/web:http 10.96.0.10:80 -> 10.244.1.5:8080")));

    s.close();
    await(() -> !src.watching());
    // A CRUD store restart loses its objects and its resourceVersions, so a resumed watch cannot
    // replay what changed while it was away, as a real API server's would. The changes are made
    // once the watches are back: the Service again, its endpoint moved, and a new Service.
    MockApiServer s2 = server(port);
    await(src::watching);
    NamespacedKubernetesClient k2 = writer(s2);
    k2.services()
        .inNamespace("default")
        .resource(service("default", "web", "10.96.0.10", 80))
        .create();
    k2.discovery()
        .v1()
        .endpointSlices()
        .inNamespace("default")
        .resource(slice("default", "web-1", "web", 8080, List.of("10.244.2.9")))
        .create();
    k2.services()
        .inNamespace("default")
        .resource(service("default", "api", "10.96.0.11", 443))
        .create();

    awaitState(
        d ->
            d.equals(
                List.of(
                    "default/api:http 10.96.0.11:443 -> ",
                    "default/web:http 10.96.0.10:80 -> 10.244.2.9:8080")));
  }

  @Test
  void watch_serviceCidrObjects_enterTheDeliveredState_invalidOnesLeftOut() throws Exception {
    MockApiServer s = server(0);
    NamespacedKubernetesClient k = writer(s);
    ApiSource src = source(s, "node1");
    src.watch(this::record);
    awaitState(List::isEmpty);
    assertThat(s.awaitWatches(WAIT, "servicecidrs")).isTrue();
    k.network().v1().serviceCIDRs().resource(serviceCidr("kubernetes", "172.30.0.0/16")).create();
    // Not canonical: the API server would refuse it; svcproxy leaves it out as it does any
    // invalid object.
    k.network().v1().serviceCIDRs().resource(serviceCidr("bad", "10.96.0.1/12")).create();
    awaitLast(st -> st.serviceCidrs().equals(List.of(Cidr.parse("172.30.0.0/16"))));
    k.network().v1().serviceCIDRs().withName("kubernetes").delete();
    awaitLast(st -> st.serviceCidrs().isEmpty());
  }

  private static io.fabric8.kubernetes.api.model.networking.v1.ServiceCIDR serviceCidr(
      String name, String cidr) {
    return new io.fabric8.kubernetes.api.model.networking.v1.ServiceCIDRBuilder()
        .withNewMetadata()
        .withName(name)
        .endMetadata()
        .withNewSpec()
        .withCidrs(cidr)
        .endSpec()
        .build();
  }

  private void awaitLast(Predicate<ProxyState> ok) throws InterruptedException {
    long end = System.nanoTime() + WAIT.toNanos();
    synchronized (seen) {
      while (seen.isEmpty() || !ok.test(seen.get(seen.size() - 1))) {
        long left = end - System.nanoTime();
        if (left <= 0) {
          throw new AssertionError(
              "no matching state in time; last cidrs: "
                  + (seen.isEmpty() ? "none" : seen.get(seen.size() - 1).serviceCidrs()));
        }
        seen.wait(Math.max(1, left / 1_000_000));
      }
    }
  }
}
