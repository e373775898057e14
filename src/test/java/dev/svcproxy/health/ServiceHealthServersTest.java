package dev.svcproxy.health;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.svcproxy.health.ServiceHealthServers.ServiceName;
import dev.svcproxy.model.Cidr;
import dev.svcproxy.model.LocalTrafficDetector;
import dev.svcproxy.model.ProxyConfig;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.snapshot.ProxyStateBuilder;
import dev.svcproxy.source.ManifestParser;
import dev.svcproxy.source.ManifestSet;
import dev.svcproxy.sync.SyncObserver;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Health-check node ports against upstream's healthcheck_test.go TestServer and
 * TestServerWithSelectiveListeningAddress (a fake listener records what is open), and the inputs
 * upstream's proxiers hand it: HealthCheckNodePorts() and LocalReadyEndpoints().
 */
class ServiceHealthServersTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** Upstream's fakeListener: the set of open "ip:port" and the handlers behind them. */
  private final Set<String> openPorts = new HashSet<>();

  private final Map<String, Http.Handler> handlers = new HashMap<>();
  private final Set<Integer> refused = new HashSet<>();
  private final MutableClock clock = new MutableClock(Instant.parse("2024-05-01T10:00:00Z"));
  private final ProxyHealth health =
      new ProxyHealth(Duration.ofSeconds(10), clock, ProxyHealth.noNodeObject());

  private Http.Listener fakeListener() {
    return (address, handler) -> {
      if (refused.contains(address.getPort())) {
        throw new java.net.BindException("Address already in use");
      }
      String key = Http.hostPort(address);
      openPorts.add(key);
      handlers.put(key, handler);
      return new Http.Bound() {
        @Override
        public InetSocketAddress address() {
          return address;
        }

        @Override
        public void close() {
          openPorts.remove(key);
          handlers.remove(key);
        }
      };
    };
  }

  private ServiceHealthServers servers(List<String> ips) throws IOException {
    List<InetAddress> addrs = new java.util.ArrayList<>();
    for (String ip : ips) {
      addrs.add(InetAddress.getByName(ip));
    }
    return new ServiceHealthServers("node1", addrs, fakeListener(), health);
  }

  private static ServiceName nsn(String ns, String name) {
    return new ServiceName(ns, name);
  }

  /** As upstream's tHandler: through every listener of the service, any path. */
  private void expectHandler(
      ServiceHealthServers hcs, ServiceName n, int status, int endpoints, boolean proxyHealthy)
      throws IOException {
    int port = hcs.openPorts().get(n);
    List<String> keys = handlers.keySet().stream().filter(k -> k.endsWith(":" + port)).toList();
    assertThat(keys).isNotEmpty();
    for (String k : keys) {
      Http.Response r = handlers.get(k).handle("/healthz");
      assertThat(r.status()).as(n + " " + r.body()).isEqualTo(status);
      JsonNode body = JSON.readTree(r.body());
      assertThat(body.path("service").path("namespace").asText()).isEqualTo(n.namespace());
      assertThat(body.path("service").path("name").asText()).isEqualTo(n.name());
      assertThat(body.get("localEndpoints").asInt()).isEqualTo(endpoints);
      assertThat(body.get("serviceProxyHealthy").asBoolean()).isEqualTo(proxyHealthy);
      assertThat(r.headers())
          .containsEntry("Content-Type", "application/json")
          .containsEntry("X-Content-Type-Options", "nosniff")
          .containsEntry("X-Load-Balancing-Endpoint-Weight", Integer.toString(endpoints));
    }
  }

  private void makeProxyUnhealthy() {
    health.updated(ProxyHealth.Family.IPV4);
    health.queuedUpdate(ProxyHealth.Family.IPV4);
    clock.step(Duration.ofSeconds(25));
  }

  /** Upstream's TestServer, step by step (endpoint counts 18, 11, 9, 3, 7, 6 as there). */
  @Test
  void syncServicesAndEndpoints_upstreamTestServerSequence_opensClosesAndAnswersAsUpstream()
      throws IOException {
    ServiceHealthServers hcs = servers(List.of("0.0.0.0"));
    hcs.syncServices(Map.of());
    hcs.syncEndpoints(Map.of());
    assertThat(hcs.openPorts()).isEmpty();
    // Endpoints of unknown services are dropped.
    hcs.syncEndpoints(Map.of(nsn("a", "b"), 93));
    assertThat(hcs.openPorts()).isEmpty();

    ServiceName n = nsn("a", "b");
    hcs.syncServices(Map.of(n, 9376));
    assertThat(hcs.openPorts()).containsOnlyKeys(n);
    assertThat(openPorts).containsExactly("0.0.0.0:9376");
    expectHandler(hcs, n, 503, 0, true);

    hcs.syncEndpoints(Map.of(n, 18));
    expectHandler(hcs, n, 200, 18, true);
    hcs.syncEndpoints(Map.of(n, 0));
    expectHandler(hcs, n, 503, 0, true);
    hcs.syncEndpoints(Map.of(n, 11));
    expectHandler(hcs, n, 200, 11, true);
    // Nil endpoints: every service reports 0.
    hcs.syncEndpoints(Map.of());
    expectHandler(hcs, n, 503, 0, true);
    hcs.syncEndpoints(Map.of(n, 18));
    hcs.syncServices(Map.of());
    assertThat(hcs.openPorts()).isEmpty();
    assertThat(openPorts).isEmpty();

    ServiceName n1 = nsn("a", "b");
    ServiceName n2 = nsn("c", "d");
    ServiceName n3 = nsn("e", "f");
    ServiceName n4 = nsn("g", "h");
    hcs.syncServices(Map.of(n1, 9376, n2, 12909, n3, 11113));
    assertThat(openPorts)
        .containsExactlyInAnyOrder("0.0.0.0:9376", "0.0.0.0:12909", "0.0.0.0:11113");
    expectHandler(hcs, n1, 503, 0, true);
    expectHandler(hcs, n2, 503, 0, true);
    expectHandler(hcs, n3, 503, 0, true);

    hcs.syncEndpoints(Map.of(n1, 9, n2, 3, n3, 7));
    expectHandler(hcs, n1, 200, 9, true);
    expectHandler(hcs, n2, 200, 3, true);
    expectHandler(hcs, n3, 200, 7, true);

    // Remove n1, keep n2, move n3 to another port, add n4.
    hcs.syncServices(Map.of(n2, 12909, n3, 11114, n4, 11878));
    assertThat(hcs.openPorts())
        .containsExactlyInAnyOrderEntriesOf(Map.of(n2, 12909, n3, 11114, n4, 11878));
    assertThat(openPorts)
        .containsExactlyInAnyOrder("0.0.0.0:12909", "0.0.0.0:11114", "0.0.0.0:11878");
    expectHandler(hcs, n2, 200, 3, true);
    // A re-opened health check starts from 0 endpoints.
    expectHandler(hcs, n3, 503, 0, true);
    expectHandler(hcs, n4, 503, 0, true);

    hcs.syncEndpoints(Map.of(n1, 9, n2, 3, n3, 7, n4, 6));
    expectHandler(hcs, n2, 200, 3, true);
    expectHandler(hcs, n3, 200, 7, true);
    expectHandler(hcs, n4, 200, 6, true);

    hcs.syncEndpoints(Map.of(n3, 7, n4, 6));
    expectHandler(hcs, n2, 503, 0, true);
    expectHandler(hcs, n3, 200, 7, true);
    expectHandler(hcs, n4, 200, 6, true);

    // A temporarily unhealthy proxy fails every health check, endpoints or not.
    makeProxyUnhealthy();
    expectHandler(hcs, n2, 503, 0, false);
    expectHandler(hcs, n3, 503, 7, false);
    expectHandler(hcs, n4, 503, 6, false);
    health.updated(ProxyHealth.Family.IPV4);
    expectHandler(hcs, n2, 503, 0, true);
    expectHandler(hcs, n3, 200, 7, true);
    expectHandler(hcs, n4, 200, 6, true);
  }

  private static ProxyConfig config(List<String> nodeIPs, List<String> nodePortAddresses) {
    return new ProxyConfig(
        "node1",
        "192.168.0.1",
        nodeIPs,
        "",
        new LocalTrafficDetector(LocalTrafficDetector.Mode.CLUSTER_CIDR, "10.244.0.0/16"),
        14,
        false,
        nodePortAddresses.stream().map(Cidr::parse).toList());
  }

  /** Upstream's TestServerWithSelectiveListeningAddress: 127.0.0.0/8 listens on 127.0.0.1 only. */
  @Test
  void listenAddresses_nodePortAddressesLoopback_listensOnLoopbackOnly() throws IOException {
    List<InetAddress> addrs =
        ServiceHealthServers.listenAddresses(
            config(List.of("127.0.0.1", "192.168.0.1"), List.of("127.0.0.0/8")));
    assertThat(addrs).extracting(InetAddress::getHostAddress).containsExactly("127.0.0.1");
    ServiceHealthServers hcs = new ServiceHealthServers("node1", addrs, fakeListener(), health);
    hcs.syncServices(Map.of(nsn("a", "b"), 9376));
    assertThat(openPorts).containsExactly("127.0.0.1:9376");
    expectHandler(hcs, nsn("a", "b"), 503, 0, true);
  }

  @Test
  void listenAddresses_noNodePortAddresses_listensOnTheWildcard() {
    assertThat(
            ServiceHealthServers.listenAddresses(
                config(List.of("127.0.0.1", "192.168.0.1"), List.of())))
        .extracting(InetAddress::getHostAddress)
        .containsExactly("0.0.0.0");
  }

  @Test
  void listenAddresses_twoMatchingNodeIps_listensOnEach() throws IOException {
    List<InetAddress> addrs =
        ServiceHealthServers.listenAddresses(
            config(
                List.of("127.0.0.1", "192.168.0.1", "10.1.0.5", "172.16.0.1"),
                List.of("192.168.0.0/24", "10.0.0.0/8")));
    ServiceHealthServers hcs = new ServiceHealthServers("node1", addrs, fakeListener(), health);
    hcs.syncServices(Map.of(nsn("a", "b"), 31000));
    assertThat(openPorts).containsExactlyInAnyOrder("192.168.0.1:31000", "10.1.0.5:31000");
    hcs.syncServices(Map.of());
    assertThat(openPorts).isEmpty();
  }

  /** Upstream logs (and emits FailedToStartServiceHealthcheck) and carries on with the others. */
  @Test
  void syncServices_onePortCannotListen_othersOpen_andItIsRetriedAtTheNextSync()
      throws IOException {
    ServiceHealthServers hcs = servers(List.of("0.0.0.0"));
    refused.add(9000);
    hcs.syncServices(Map.of(nsn("a", "bad"), 9000, nsn("a", "good"), 9001));
    assertThat(hcs.openPorts()).containsOnlyKeys(nsn("a", "good"));
    assertThat(openPorts).containsExactly("0.0.0.0:9001");
    refused.clear();
    hcs.syncServices(Map.of(nsn("a", "bad"), 9000, nsn("a", "good"), 9001));
    assertThat(openPorts).containsExactlyInAnyOrder("0.0.0.0:9000", "0.0.0.0:9001");
  }

  /** A failure on the second address closes the first: the port is all or nothing, as upstream. */
  @Test
  void syncServices_secondAddressCannotListen_closesTheFirst() throws IOException {
    ServiceHealthServers hcs =
        new ServiceHealthServers(
            "node1",
            List.of(InetAddress.getByName("10.0.0.1"), InetAddress.getByName("10.0.0.2")),
            (address, handler) -> {
              if (address.getAddress().getHostAddress().equals("10.0.0.2")) {
                throw new java.net.BindException("Cannot assign requested address");
              }
              return fakeListener().listen(address, handler);
            },
            health);
    hcs.syncServices(Map.of(nsn("a", "b"), 9000));
    assertThat(hcs.openPorts()).isEmpty();
    assertThat(openPorts).isEmpty();
  }

  /** The body upstream's hcHandler writes: a dedented template, tabs, no trailing newline. */
  @Test
  void respond_body_isUpstreamsTemplateByteForByte() throws IOException {
    ServiceHealthServers hcs = servers(List.of("0.0.0.0"));
    hcs.syncServices(Map.of(nsn("ns", "svc"), 30000));
    hcs.syncEndpoints(Map.of(nsn("ns", "svc"), 2));
    assertThat(handlers.get("0.0.0.0:30000").handle("/anything").body())
        .isEqualTo(
            "{\n\t\"service\": {\n\t\t\"namespace\": \"ns\",\n\t\t\"name\": \"svc\"\n\t},\n"
                + "\t\"localEndpoints\": 2,\n\t\"serviceProxyHealthy\": true\n}");
  }

  private static ProxyState state(String yaml) {
    ManifestSet set = new ManifestParser().parse("test.yaml", yaml);
    assertThat(set.problems()).isEmpty();
    return ProxyStateBuilder.build(set.services(), set.slices());
  }

  private static final String SERVICES =
      """
      apiVersion: v1
      kind: Service
      metadata: {namespace: ns, name: lb-local}
      spec:
        clusterIP: 172.30.0.1
        type: LoadBalancer
        externalTrafficPolicy: Local
        healthCheckNodePort: 30001
        ports: [{name: http, port: 80, nodePort: 31080}, {name: https, port: 443, nodePort: 31443}]
      status: {loadBalancer: {ingress: [{ip: 1.2.3.4}]}}
      ---
      apiVersion: v1
      kind: Service
      metadata: {namespace: ns, name: lb-cluster}
      spec:
        clusterIP: 172.30.0.2
        type: LoadBalancer
        externalTrafficPolicy: Cluster
        ports: [{port: 80, nodePort: 31081}]
      ---
      apiVersion: v1
      kind: Service
      metadata: {namespace: ns, name: np-local}
      spec:
        clusterIP: 172.30.0.3
        type: NodePort
        externalTrafficPolicy: Local
        healthCheckNodePort: 30003
        ports: [{port: 80, nodePort: 31082}]
      """;

  /** HealthCheckNodePorts: one per Service, only eTP=Local LoadBalancers (ProxyStateBuilder). */
  @Test
  void healthCheckNodePorts_onlyLocalLoadBalancers_onePerService() {
    assertThat(ServiceHealthServers.healthCheckNodePorts(state(SERVICES)))
        .containsExactlyEntriesOf(Map.of(nsn("ns", "lb-local"), 30001));
  }

  /**
   * LocalReadyEndpoints by hand: lb-local has 10.244.1.2 (both ports: one), 10.244.1.3 ready on
   * node1, 10.244.2.2 ready elsewhere, 10.244.1.4 terminating but serving on node1 and 10.244.1.5
   * not ready on node1: 2. np-local has only a terminating local endpoint: not listed (0).
   */
  @Test
  void localReadyEndpoints_countsDistinctReadyLocalIps() {
    String slices =
        """
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {namespace: ns, name: lb-local-1, labels: {kubernetes.io/service-name: lb-local}}
        addressType: IPv4
        ports: [{name: http, port: 8080}, {name: https, port: 8443}]
        endpoints:
        - {addresses: [10.244.1.2], nodeName: node1}
        - {addresses: [10.244.1.3], nodeName: node1, conditions: {ready: true}}
        - {addresses: [10.244.2.2], nodeName: node2}
        - {addresses: [10.244.1.4], nodeName: node1, conditions: {ready: false, serving: true, terminating: true}}
        - {addresses: [10.244.1.5], nodeName: node1, conditions: {ready: false}}
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {namespace: ns, name: np-local-1, labels: {kubernetes.io/service-name: np-local}}
        addressType: IPv4
        ports: [{port: 8080}]
        endpoints:
        - {addresses: [10.244.1.9], nodeName: node1, conditions: {ready: false, serving: true, terminating: true}}
        """;
    assertThat(ServiceHealthServers.localReadyEndpoints(state(SERVICES + slices), "node1"))
        .containsExactlyEntriesOf(Map.of(nsn("ns", "lb-local"), 2));
    assertThat(ServiceHealthServers.localReadyEndpoints(state(SERVICES + slices), "node2"))
        .containsExactlyEntriesOf(Map.of(nsn("ns", "lb-local"), 1));
  }

  private static SyncObserver.Synced synced(ProxyState state, boolean ok) {
    return new SyncObserver.Synced(
        false,
        ProxyState.empty(),
        state,
        Set.of(),
        ok ? () -> "" : null,
        ok ? null : new IllegalStateException("refused"),
        Instant.EPOCH,
        Duration.ZERO);
  }

  @Test
  void synced_successfulThenFailedSync_onlyTheSuccessfulOneChangesThePorts() throws IOException {
    ServiceHealthServers hcs = servers(List.of("0.0.0.0"));
    String slice =
        """
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {namespace: ns, name: lb-local-1, labels: {kubernetes.io/service-name: lb-local}}
        addressType: IPv4
        ports: [{name: http, port: 8080}]
        endpoints:
        - {addresses: [10.244.1.2], nodeName: node1}
        """;
    hcs.synced(synced(state(SERVICES + slice), true));
    assertThat(openPorts).containsExactly("0.0.0.0:30001");
    expectHandler(hcs, nsn("ns", "lb-local"), 200, 1, true);
    hcs.synced(synced(ProxyState.empty(), false));
    assertThat(openPorts).containsExactly("0.0.0.0:30001");
    hcs.synced(synced(ProxyState.empty(), true));
    assertThat(openPorts).isEmpty();
  }
}
