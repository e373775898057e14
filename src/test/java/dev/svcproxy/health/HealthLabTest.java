package dev.svcproxy.health;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.lab.ProxyProcess;
import dev.svcproxy.testutil.KernelTests;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * `svcproxy run` in two lab nodes, asked over real HTTP by curl from an external client namespace:
 * /healthz and /livez, and the health-check node port of an eTP=Local LoadBalancer Service as the
 * Services and endpoints change under it. node1 listens on 0.0.0.0 (the default); node2 runs with
 * --nodeport-addresses on the fabric, so its health check listens on its node IP only. Expected
 * answers are upstream's (pkg/proxy/healthcheck, see HealthzServerTest and
 * ServiceHealthServersTest) for the endpoints written below, counted by hand.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class HealthLabTest {
  private static final int HC_PORT = 30001;
  private static final ObjectMapper JSON = new ObjectMapper();

  private Lab lab;
  private Lab.Node node1;
  private Lab.Node node2;
  private Lab.Client client;
  private Path manifests;
  private ProxyProcess proxy1;
  private ProxyProcess proxy2;

  private static final String SERVICE =
      """
      apiVersion: v1
      kind: Service
      metadata: {namespace: shop, name: web}
      spec:
        clusterIP: 10.96.0.50
        type: LoadBalancer
        externalTrafficPolicy: Local
        healthCheckNodePort: 30001
        ports: [{name: http, port: 80, nodePort: 31080}, {name: https, port: 443, nodePort: 31443}]
      status: {loadBalancer: {ingress: [{ip: 203.0.113.10}]}}
      """;

  /** Endpoints of shop/web: ready ones on {@code readyNode}, plus one terminating on node1. */
  private static String slice(String readyNode) {
    return """
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {namespace: shop, name: web-1, labels: {kubernetes.io/service-name: web}}
        addressType: IPv4
        ports: [{name: http, port: 8080}, {name: https, port: 8443}]
        endpoints:
        - {addresses: [10.244.1.2], nodeName: %1$s}
        - {addresses: [10.244.1.3], nodeName: %1$s}
        - {addresses: [10.244.1.9], nodeName: node1, conditions: {ready: false, serving: true, terminating: true}}
        """
        .formatted(readyNode);
  }

  @BeforeAll
  void start() throws IOException {
    KernelTests.require("lab tests");
    lab = Lab.create(new ProcessCommandRunner(), 2);
    node1 = lab.node("node1");
    node2 = lab.node("node2");
    client = lab.addClient("lb");
    manifests = Files.createDirectories(lab.workDir().resolve("health-manifests"));
    Files.writeString(manifests.resolve("web.yaml"), SERVICE + "---\n" + slice("node1"));
    proxy1 =
        ProxyProcess.start(
            lab, node1, manifests, List.of("--healthz-bind-address", node1.ip() + ":10256"));
    proxy2 =
        ProxyProcess.start(
            lab, node2, manifests, List.of("--nodeport-addresses", Lab.FABRIC_NET + ".0/24"));
  }

  @AfterAll
  void stop() {
    if (lab != null) {
      lab.close();
    }
  }

  /** One curl answer: status, headers (names lower-cased), body; status 0 when none came. */
  private record Answer(int exit, int status, Map<String, String> headers, String body) {
    JsonNode json() throws IOException {
      return JSON.readTree(body);
    }
  }

  private Answer curl(String netns, String url) {
    CommandResult r =
        lab.runner()
            .inNetns(netns)
            .run(List.of("curl", "-s", "-i", "--max-time", "5", url), "", Duration.ofSeconds(15));
    if (!r.ok()) {
      return new Answer(r.exitCode(), 0, Map.of(), "");
    }
    String out = r.stdout();
    int split = out.indexOf("\r\n\r\n");
    String[] head = out.substring(0, split).split("\r\n");
    Map<String, String> headers = new LinkedHashMap<>();
    for (int i = 1; i < head.length; i++) {
      int c = head[i].indexOf(':');
      headers.put(
          head[i].substring(0, c).toLowerCase(Locale.ROOT), head[i].substring(c + 1).strip());
    }
    return new Answer(
        0, Integer.parseInt(head[0].split(" ")[1]), headers, out.substring(split + 4));
  }

  /** The local addresses listening on {@code port} in {@code netns}, as the kernel lists them. */
  private String listening(String netns, int port) {
    return lab.in(netns, "ss", "-Hltn", "sport = :" + port).stdout();
  }

  @Test
  @Order(1)
  void healthz_fromAnotherNamespace_200WithUpstreamsHeadersAndBody() throws IOException {
    Answer a = curl(client.netns(), "http://" + node1.ip() + ":10256/healthz");
    assertThat(a.status()).as(a.body()).isEqualTo(200);
    assertThat(a.headers())
        .containsEntry("content-type", "application/json")
        .containsEntry("x-content-type-options", "nosniff");
    JsonNode b = a.json();
    assertThat(b.get("healthy").asBoolean()).isTrue();
    assertThat(b.get("nodeEligible").asBoolean()).isTrue();
    assertThat(b.path("status").path("IPv4").path("healthy").asBoolean()).isTrue();
    Instant now = Instant.parse(b.get("currentTime").asText());
    // Healthy: lastUpdated is reported as the current time, as upstream does.
    assertThat(Instant.parse(b.get("lastUpdated").asText())).isEqualTo(now);
    assertThat(Duration.between(now, Instant.now()).abs()).isLessThan(Duration.ofMinutes(1));
    // The JDK listens on an IPv6 socket even for an IPv4 address: [::ffff:192.168.77.11]:10256.
    assertThat(listening(node1.netns(), 10256)).contains(node1.ip() + "]:10256");

    Answer livez = curl(client.netns(), "http://" + node1.ip() + ":10256/livez");
    assertThat(livez.status()).isEqualTo(200);
    assertThat(livez.json().has("nodeEligible")).isFalse();
    assertThat(livez.json().get("healthy").asBoolean()).isTrue();
    assertThat(curl(client.netns(), "http://" + node1.ip() + ":10256/metrics").status())
        .isEqualTo(404);
    // node2 kept the default address, 0.0.0.0:10256.
    assertThat(curl(client.netns(), "http://" + node2.ip() + ":10256/healthz").status())
        .isEqualTo(200);
  }

  @Test
  @Order(2)
  void healthCheckNodePort_nodeWithTwoReadyLocalEndpoints_200CountingDistinctIps()
      throws IOException {
    // 10.244.1.2 and .3 are ready on node1 (each on two ports: still two); .9 only terminates.
    Answer a = curl(client.netns(), "http://" + node1.ip() + ":" + HC_PORT + "/any/path");
    assertThat(a.status()).as(a.body()).isEqualTo(200);
    assertThat(a.headers())
        .containsEntry("content-type", "application/json")
        .containsEntry("x-content-type-options", "nosniff")
        .containsEntry("x-load-balancing-endpoint-weight", "2");
    assertThat(a.body())
        .isEqualTo(
            "{\n\t\"service\": {\n\t\t\"namespace\": \"shop\",\n\t\t\"name\": \"web\"\n\t},\n"
                + "\t\"localEndpoints\": 2,\n\t\"serviceProxyHealthy\": true\n}");
    // 0.0.0.0 is the wildcard socket, "*" to ss (Go's listener on 0.0.0.0 shows the same).
    assertThat(listening(node1.netns(), HC_PORT)).contains("*:" + HC_PORT);
  }

  @Test
  @Order(3)
  void healthCheckNodePort_nodeWithoutLocalEndpoints_503_boundToTheNodeIpOnly() throws IOException {
    Answer a = curl(client.netns(), "http://" + node2.ip() + ":" + HC_PORT + "/");
    assertThat(a.status()).as(a.body()).isEqualTo(503);
    assertThat(a.json().get("localEndpoints").asInt()).isZero();
    assertThat(a.json().get("serviceProxyHealthy").asBoolean()).isTrue();
    assertThat(a.headers()).containsEntry("x-load-balancing-endpoint-weight", "0");
    assertThat(listening(node2.netns(), HC_PORT))
        .contains(node2.ip() + "]:" + HC_PORT)
        .doesNotContain("*:" + HC_PORT);
    // --nodeport-addresses leaves loopback out: nothing listens there.
    assertThat(curl(node2.netns(), "http://127.0.0.1:" + HC_PORT + "/").exit()).isEqualTo(7);
  }

  private void rewrite(String content) throws IOException {
    int synced1 = proxy1.count("synced iptables");
    int synced2 = proxy2.count("synced iptables");
    Path tmp = manifests.resolve(".web.yaml.tmp");
    Files.writeString(tmp, content);
    Files.move(tmp, manifests.resolve("web.yaml"), java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    proxy1.awaitLog("synced iptables", synced1 + 1, Duration.ofSeconds(15));
    proxy2.awaitLog("synced iptables", synced2 + 1, Duration.ofSeconds(15));
  }

  @Test
  @Order(4)
  void healthCheckNodePort_endpointsMoveToTheOtherNode_answersFollowAfterTheSync()
      throws IOException {
    rewrite(SERVICE + "---\n" + slice("node2"));
    Answer on1 = curl(client.netns(), "http://" + node1.ip() + ":" + HC_PORT + "/");
    assertThat(on1.status()).as(on1.body()).isEqualTo(503);
    assertThat(on1.json().get("localEndpoints").asInt()).isZero();
    Answer on2 = curl(client.netns(), "http://" + node2.ip() + ":" + HC_PORT + "/");
    assertThat(on2.status()).as(on2.body()).isEqualTo(200);
    assertThat(on2.json().get("localEndpoints").asInt()).isEqualTo(2);
    assertThat(on2.headers()).containsEntry("x-load-balancing-endpoint-weight", "2");
  }

  @Test
  @Order(5)
  void healthCheckNodePort_serviceDeleted_portCloses() throws IOException {
    rewrite(slice("node2"));
    // curl exit 7: connection refused, nothing listens any more.
    assertThat(curl(client.netns(), "http://" + node1.ip() + ":" + HC_PORT + "/").exit())
        .isEqualTo(7);
    assertThat(curl(client.netns(), "http://" + node2.ip() + ":" + HC_PORT + "/").exit())
        .isEqualTo(7);
    assertThat(listening(node1.netns(), HC_PORT)).isBlank();
    assertThat(listening(node2.netns(), HC_PORT)).isBlank();
    // The proxy itself stays healthy.
    assertThat(curl(client.netns(), "http://" + node1.ip() + ":10256/healthz").status())
        .isEqualTo(200);
  }

  @Test
  @Order(6)
  void run_hardFailWithTheHealthzPortTaken_exitsTwoNamingTheAddress() {
    // A fresh namespace of the lab where something else already holds port 10256.
    Lab.Client other = lab.addClient("taken");
    lab.spawn(
        other.netns(),
        List.of("socat", "TCP-LISTEN:10256,fork,reuseaddr", "SYSTEM:true"),
        lab.workDir().resolve("socat-10256.log"));
    long end = System.nanoTime() + Duration.ofSeconds(5).toNanos();
    while (listening(other.netns(), 10256).isBlank() && System.nanoTime() < end) {
      Thread.onSpinWait();
    }
    List<String> argv = new java.util.ArrayList<>(ProxyProcess.javaCommand());
    argv.addAll(
        List.of(
            "run",
            "--manifests",
            manifests.toString(),
            "--node-name",
            "taken",
            "--node-ip",
            other.ip(),
            "--lock-dir",
            lab.workDir().resolve("taken-lock").toString(),
            "--bind-address-hard-fail"));
    CommandResult r = lab.runner().inNetns(other.netns()).run(argv, "", Duration.ofSeconds(30));
    assertThat(r.exitCode()).as(r.stderr()).isEqualTo(2);
    assertThat(r.stderr())
        .contains("svcproxy: healthz server failed: failed to start proxy healthz on 0.0.0.0:10256")
        .contains("Address already in use");
  }
}
