package dev.svcproxy.conntrack;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.IptablesKernel;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.kernel.Spawned;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.lab.ProxyProcess;
import dev.svcproxy.model.LocalTrafficDetector;
import dev.svcproxy.model.ProxyConfig;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.render.iptables.IptablesOptions;
import dev.svcproxy.sync.SyncLoop;
import dev.svcproxy.sync.SyncObserver;
import dev.svcproxy.sync.iptables.IptablesProxier;
import dev.svcproxy.testutil.KernelTests;
import dev.svcproxy.testutil.States;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A long-lived UDP client socket (fixed source port, one datagram every 100 ms) on the kernel, with
 * svcproxy's iptables proxier and sync loop running in-process against node1 of a lab: the flow is
 * pinned by conntrack, and only the reconciler frees it. Each case uses its own ClusterIP so the
 * flows of one case never meet another's. In-process (not a ProxyProcess JVM per case) keeps the
 * class fast and lets a case run the very same loop without the reconciler, to show the blackhole
 * is real.
 */
class ConntrackCleanupKernelTest {
  private static final Duration WINDOW = Duration.ofSeconds(4);
  private static final Duration QUIET = Duration.ofMillis(1500);

  private static Lab lab;
  private static Lab.Pod client;
  private static Lab.Pod b1;
  private static Lab.Pod b2;
  private static Lab.Client external;

  @BeforeAll
  static void createLab() {
    KernelTests.require("conntrack cleanup kernel test");
    lab = Lab.create(new ProcessCommandRunner(), 2);
    client = lab.addPod("node1", "client");
    // The backends live on node2: the replies cross node1, as a remote endpoint's do.
    b1 = lab.addPod("node2", "b1");
    b2 = lab.addPod("node2", "b2");
    external = lab.addClient("ext");
    for (Lab.Pod b : List.of(b1, b2)) {
      lab.spawn(b.netns(), List.of("socat", "-u", "UDP-RECV:5353", "STDOUT"), log(b));
    }
  }

  @AfterAll
  static void closeLab() {
    if (lab != null) {
      lab.close();
    }
  }

  private static Path log(Lab.Pod b) {
    return lab.workDir().resolve("udp-" + b.name() + ".log");
  }

  /** Datagrams from the client socket with source port {@code sport} that {@code b} received. */
  private static int received(Lab.Pod b, int sport) {
    try {
      Path p = log(b);
      if (!Files.exists(p)) {
        return 0;
      }
      String tag = "ping-" + sport;
      return (int) Files.readString(p).lines().filter(tag::equals).count();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** One socket that sends "ping-SPORT" every 100 ms to ip:port, from source port sport. */
  private static Spawned udpClient(String netns, String ip, int port, int sport) {
    return lab.spawn(
        netns,
        List.of(
            "socat",
            "-u",
            "SYSTEM:while true; do echo ping-" + sport + "; sleep 0.1; done",
            "UDP-SENDTO:" + ip + ":" + port + ",sourceport=" + sport),
        lab.workDir().resolve("client-" + sport + ".log"));
  }

  private static ProxyState dns(String clusterIp, int nodePort, Lab.Pod... endpoints) {
    return States.fromYaml(dnsYaml(clusterIp, nodePort, endpoints));
  }

  private static String dnsYaml(String clusterIp, int nodePort, Lab.Pod... endpoints) {
    StringBuilder eps = new StringBuilder();
    for (Lab.Pod p : endpoints) {
      eps.append(eps.isEmpty() ? "" : ", ").append("{addresses: [").append(p.ip()).append("]}");
    }
    String yaml =
        """
        apiVersion: v1
        kind: Service
        metadata: {namespace: kube-system, name: dns}
        spec:
          type: NodePort
          clusterIP: %s
          ports: [{name: dns, port: 53, targetPort: 5353, protocol: UDP, nodePort: %d}]
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {namespace: kube-system, name: dns-1, labels: {kubernetes.io/service-name: dns}}
        addressType: IPv4
        ports: [{name: dns, port: 5353, protocol: UDP}]
        endpoints: [%s]
        """
            .formatted(clusterIp, nodePort, eps);
    return yaml;
  }

  /** svcproxy's sync loop on node1, with or without the reconciler. */
  private static SyncLoop proxy(boolean reconcile) {
    Lab.Node n = lab.node("node1");
    CommandRunner node = lab.runner().inNetns(n.netns());
    ProxyConfig cfg =
        ProxyConfig.defaults(
            n.name(),
            n.ip(),
            new LocalTrafficDetector(LocalTrafficDetector.Mode.CLUSTER_CIDR, Lab.CLUSTER_CIDR));
    IptablesProxier proxier =
        new IptablesProxier(new IptablesKernel(node), cfg, IptablesOptions.defaults());
    proxier.probe();
    List<SyncObserver> observers =
        reconcile ? List.of(new ConntrackReconciler(node, new PrometheusRegistry())) : List.of();
    SyncLoop loop =
        new SyncLoop(
            proxier,
            new SyncLoop.Timing(Duration.ZERO, Duration.ofSeconds(30), Duration.ofHours(1)),
            observers);
    loop.start();
    return loop;
  }

  private static void apply(SyncLoop loop, ProxyState s) throws InterruptedException {
    loop.update(s);
    assertThat(loop.awaitApplied(s, Duration.ofSeconds(10))).as("synced").isTrue();
  }

  private static boolean within(Duration d, BooleanSupplier cond) throws InterruptedException {
    long end = System.nanoTime() + d.toNanos();
    while (System.nanoTime() < end) {
      if (cond.getAsBoolean()) {
        return true;
      }
      Thread.sleep(100);
    }
    return cond.getAsBoolean();
  }

  private static String conntrack() {
    return lab.runner()
        .inNetns(lab.node("node1").netns())
        .run("conntrack", "-L", "-p", "udp")
        .stdout();
  }

  /**
   * The client socket starts sending before the rules exist (a node booting, a proxy restarting on
   * flushed rules): its flow is confirmed un-DNATed. The Service then has no endpoints (the REJECT
   * rule only sees new flows, so the flow stays pinned: checked), then gets its first endpoint: the
   * backend must get the same socket's datagrams within the sync window.
   *
   * @param nodePort send from the external client to node1's NodePort instead of from a pod to the
   *     ClusterIP
   */
  private static void firstEndpoint(boolean reconcile, boolean nodePort, String clusterIp, int np)
      throws InterruptedException {
    String netns = nodePort ? external.netns() : client.netns();
    String dst = nodePort ? lab.node("node1").ip() : clusterIp;
    int port = nodePort ? np : 53;
    int sport = np + 10000;
    String pinned = "dst=" + dst + " sport=" + sport + " dport=" + port;
    try (SyncLoop loop = proxy(reconcile);
        Spawned c = udpClient(netns, dst, port, sport)) {
      apply(loop, ProxyState.empty());
      assertThat(within(QUIET, () -> conntrack().contains(pinned)))
          .as("client flow in conntrack:\n" + conntrack())
          .isTrue();
      apply(loop, dns(clusterIp, np));
      assertThat(conntrack()).as("pinned while the service has no endpoints").contains(pinned);

      apply(loop, dns(clusterIp, np, b1));
      assertThat(c.isAlive()).as("client socket still sending").isTrue();

      if (reconcile) {
        assertThat(within(WINDOW, () -> received(b1, sport) > 0))
            .as("b1 receives from the client socket; conntrack:\n" + conntrack())
            .isTrue();
      } else {
        Thread.sleep(QUIET.toMillis());
        assertThat(received(b1, sport)).as("blackholed without the reconciler").isZero();
      }
    }
  }

  @Test
  void firstEndpoint_clusterIpFlowPinnedWhileNoEndpoints_backendReceivesSameSocket()
      throws InterruptedException {
    firstEndpoint(true, false, "10.96.0.10", 30051);
  }

  @Test
  void firstEndpoint_withoutReconciler_flowStaysBlackholed() throws InterruptedException {
    firstEndpoint(false, false, "10.96.0.11", 30052);
  }

  @Test
  void firstEndpoint_nodePortFlowPinnedWhileNoEndpoints_backendReceivesSameSocket()
      throws InterruptedException {
    firstEndpoint(true, true, "10.96.0.14", 30055);
  }

  @Test
  void firstEndpoint_nodePortWithoutReconciler_flowStaysBlackholed() throws InterruptedException {
    firstEndpoint(false, true, "10.96.0.15", 30056);
  }

  private static void endpointReplaced(boolean reconcile, String clusterIp, int sport)
      throws InterruptedException {
    try (SyncLoop loop = proxy(reconcile)) {
      apply(loop, dns(clusterIp, 30054, b1));
      try (Spawned c = udpClient(client.netns(), clusterIp, 53, sport)) {
        assertThat(within(WINDOW, () -> received(b1, sport) > 0)).as("b1 first").isTrue();

        apply(loop, dns(clusterIp, 30054, b2));
        assertThat(c.isAlive()).as("client socket still sending").isTrue();

        if (reconcile) {
          assertThat(within(WINDOW, () -> received(b2, sport) > 0))
              .as("b2 receives from the client socket; conntrack:\n" + conntrack())
              .isTrue();
          int atB1 = received(b1, sport);
          Thread.sleep(500);
          assertThat(received(b1, sport)).as("b1 gets no more").isEqualTo(atB1);
        } else {
          Thread.sleep(QUIET.toMillis());
          assertThat(received(b2, sport)).as("still pinned to b1 without the reconciler").isZero();
        }
      }
    }
  }

  @Test
  void endpointReplaced_flowMovesToNewEndpoint() throws InterruptedException {
    endpointReplaced(true, "10.96.0.12", 41003);
  }

  @Test
  void endpointReplaced_withoutReconciler_flowStaysOnOldEndpoint() throws InterruptedException {
    endpointReplaced(false, "10.96.0.13", 41004);
  }

  @Test
  void run_flowPinnedBeforeStart_cleanedByTheFirstSync() throws IOException, InterruptedException {
    // `svcproxy run` as a node runs it: the wiring registers the reconciler, and the first sync
    // (nothing applied before) frees a flow that reached the ClusterIP before the rules existed.
    String clusterIp = "10.96.0.16";
    int sport = 41016;
    Path manifests = Files.createDirectories(lab.workDir().resolve("run-manifests"));
    Files.writeString(manifests.resolve("dns.yaml"), dnsYaml(clusterIp, 30057, b1));
    // The node already has kube-proxy's base rules (a proxy restart): conntrack only tracks in a
    // network namespace once a rule needs it.
    try (SyncLoop earlier = proxy(false)) {
      apply(earlier, ProxyState.empty());
    }
    try (Spawned c = udpClient(client.netns(), clusterIp, 53, sport)) {
      assertThat(within(QUIET, () -> conntrack().contains("dst=" + clusterIp + " sport=" + sport)))
          .as("client flow pinned before svcproxy starts:\n" + conntrack())
          .isTrue();
      ProxyProcess run = ProxyProcess.start(lab, lab.node("node1"), manifests, List.of());
      try {
        assertThat(within(WINDOW, () -> received(b1, sport) > 0))
            .as("b1 receives from the client socket; conntrack:\n" + conntrack() + "\n" + run.log())
            .isTrue();
        assertThat(c.isAlive()).isTrue();
      } finally {
        run.stop();
      }
    }
  }

  @Test
  void sysctls_inNodeNamespace_perNamespaceValuesSetAndReadOnlyOnesReported() {
    // A lab node is not the host's network namespace: there nf_conntrack_max is read-only
    // (0444) and the per-namespace timeouts are writable, as in a kind node or a netns'd proxy.
    CommandRunner node = lab.runner().inNetns(lab.node("node1").netns());
    String max = node.run("sysctl", "-n", "net.netfilter.nf_conntrack_max").stdout().strip();
    int perCore = Integer.parseInt(max) + 1;

    List<String> problems =
        new ConntrackSysctls(node, 1)
            .apply(
                new ConntrackSysctls.Settings(
                    perCore,
                    0,
                    Duration.ofSeconds(4321),
                    Duration.ofSeconds(321),
                    true,
                    Duration.ofSeconds(21),
                    Duration.ofSeconds(121)));

    assertThat(problems)
        .singleElement()
        .asString()
        .contains("net.netfilter.nf_conntrack_max=" + perCore);
    assertThat(node.run("sysctl", "-n", "net.netfilter.nf_conntrack_max").stdout().strip())
        .isEqualTo(max);
    for (String kv :
        List.of(
            "nf_conntrack_tcp_timeout_established=4321",
            "nf_conntrack_tcp_timeout_close_wait=321",
            "nf_conntrack_tcp_be_liberal=1",
            "nf_conntrack_udp_timeout=21",
            "nf_conntrack_udp_timeout_stream=121")) {
      String[] p = kv.split("=");
      assertThat(node.run("sysctl", "-n", "net.netfilter." + p[0]).stdout().strip())
          .as(p[0])
          .isEqualTo(p[1]);
    }
  }
}
