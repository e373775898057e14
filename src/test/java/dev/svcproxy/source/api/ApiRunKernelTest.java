package dev.svcproxy.source.api;

import static dev.svcproxy.source.api.MockApiServer.service;
import static dev.svcproxy.source.api.MockApiServer.slice;
import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.lab.Connection;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.lab.ProxyProcess;
import dev.svcproxy.testutil.KernelTests;
import io.fabric8.kubernetes.client.NamespacedKubernetesClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * `svcproxy run --kubeconfig` in a lab node, its API server the CRUD mock server in this JVM
 * (reached through a unix-socket bridge: socat on the node's 127.0.0.1, nothing added to the root
 * namespace). Objects created, changed and deleted through the API become rules that real
 * connections from a pod go through; the API server going away and coming back is survived.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ApiRunKernelTest {
  private static final int NODE_API_PORT = 16443;
  private static final String WEB = "10.96.0.10";
  private static final String API = "10.96.0.11";

  /** The sync window: a change is in the kernel within min-sync-period (1 s) plus a JVM's lag. */
  private static final Duration WINDOW = Duration.ofSeconds(10);

  private Lab lab;
  private Lab.Node node;
  private MockApiServer server;
  private UnixBridge bridge;
  private ProxyProcess proxy;
  private final List<AutoCloseable> clients = new java.util.ArrayList<>();

  @BeforeAll
  void start() throws Exception {
    KernelTests.require("lab tests");
    lab = Lab.create(new ProcessCommandRunner(), 1);
    node = lab.node("node1");
    lab.addPod("node1", "web-a");
    lab.addPod("node1", "web-b");
    lab.addPod("node1", "client");
    lab.startBackend(lab.pod("web-a"), 8080);
    lab.startBackend(lab.pod("web-b"), 8080);
    server = MockApiServer.start(0);
    bridge = UnixBridge.start(lab.workDir().resolve("api.sock"), server.port());
    lab.spawn(
        node.netns(), bridge.socatArgv(NODE_API_PORT), lab.workDir().resolve("api-bridge.log"));
  }

  @AfterAll
  void stop() throws Exception {
    if (proxy != null) {
      proxy.stop();
    }
    for (AutoCloseable c : clients) {
      c.close();
    }
    if (bridge != null) {
      bridge.close();
    }
    if (server != null) {
      server.close();
    }
    if (lab != null) {
      lab.close();
    }
  }

  private NamespacedKubernetesClient client() {
    NamespacedKubernetesClient c = server.client();
    clients.add(c);
    return c;
  }

  private String ip(String pod) {
    return lab.pod(pod).ip();
  }

  private Connection connect(String ip) {
    return lab.connect(lab.pod("client").netns(), ip, 80, Duration.ofSeconds(2));
  }

  /** Connects until one satisfies {@code ok}, within the sync window. */
  private Connection awaitConnection(String ip, Predicate<Connection> ok) throws Exception {
    long end = System.nanoTime() + WINDOW.toNanos();
    Connection c = connect(ip);
    while (!ok.test(c) && System.nanoTime() < end) {
      Thread.sleep(200);
      c = connect(ip);
    }
    return c;
  }

  private String natRules() {
    return lab.in(node.netns(), "iptables-save", "-t", "nat").orThrow().stdout();
  }

  private void createWorld(NamespacedKubernetesClient k, String svc, String ip, String pod) {
    k.nodes().resource(MockApiServer.node("node1", node.ip(), node.podCidr(), "zone-a")).create();
    k.services().inNamespace("default").resource(service("default", svc, ip, 80)).create();
    k.discovery()
        .v1()
        .endpointSlices()
        .inNamespace("default")
        .resource(slice("default", svc + "-1", svc, 8080, List.of(ip(pod))))
        .create();
  }

  @Test
  void run_kubeconfig_rulesFollowTheApiServer_andSurviveItsRestart() throws Exception {
    NamespacedKubernetesClient k = client();
    createWorld(k, "web", WEB, "web-a");
    Path kubeconfig = lab.workDir().resolve("kubeconfig");
    Files.writeString(kubeconfig, MockApiServer.kubeconfig("http://127.0.0.1:" + NODE_API_PORT));
    proxy =
        ProxyProcess.startWith(
            lab, node, "iptables", List.of("--kubeconfig", kubeconfig.toString()), List.of());

    // Created through the API: a pod's connection to the ClusterIP reaches the endpoint.
    assertThat(connect(WEB).backend()).isEqualTo("web-a");

    // The slice moves to web-b.
    k.discovery()
        .v1()
        .endpointSlices()
        .inNamespace("default")
        .resource(slice("default", "web-1", "web", 8080, List.of(ip("web-b"))))
        .update();
    assertThat(awaitConnection(WEB, c -> "web-b".equals(c.backend())).backend()).isEqualTo("web-b");

    // A new Service comes, the old one goes: its rules go with it.
    k.services().inNamespace("default").resource(service("default", "api", API, 80)).create();
    k.discovery()
        .v1()
        .endpointSlices()
        .inNamespace("default")
        .resource(slice("default", "api-1", "api", 8080, List.of(ip("web-b"))))
        .create();
    k.services().inNamespace("default").withName("web").delete();
    assertThat(awaitConnection(API, c -> "web-b".equals(c.backend())).backend()).isEqualTo("web-b");
    long end = System.nanoTime() + WINDOW.toNanos();
    while (natRules().contains(WEB + "/32") && System.nanoTime() < end) {
      Thread.sleep(200);
    }
    assertThat(natRules()).doesNotContain(WEB + "/32").contains(API + "/32");

    // The API server goes away: the rules stay and keep working.
    int port = server.port();
    server.close();
    assertThat(connect(API).backend()).isEqualTo("web-b");
    assertThat(proxy.isAlive()).isTrue();

    // It comes back on the same port with an empty store (a CRUD store does not persist, nor
    // keep resourceVersions a resumed watch could replay from): once the informers watch it
    // again, the cluster's objects are created there, api's endpoint now on web-a.
    server = MockApiServer.start(port);
    assertThat(server.awaitWatches(Duration.ofSeconds(20), "services", "endpointslices"))
        .as("the informers watch the restarted server")
        .isTrue();
    createWorld(client(), "api", API, "web-a");
    assertThat(awaitConnection(API, c -> "web-a".equals(c.backend())).backend()).isEqualTo("web-a");
    assertThat(proxy.log()).doesNotContain("Exception in thread");
  }
}
