package dev.svcproxy.trace;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.lab.Connection;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.testutil.KernelTests;
import dev.svcproxy.trace.bundle.BundleCapture;
import dev.svcproxy.trace.bundle.BundleReader;
import dev.svcproxy.trace.engine.Tracer;
import java.time.Duration;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Tracer against the kernel: a kube-proxy-shaped nft table (upstream's templates: service-ips and
 * service-nodeports verdict maps, `fib daddr type local` NodePorts, `numgen random mod 2 vmap`,
 * dnat, the mark and masquerade) loaded into a lab node with two backend pods; real connections
 * from an external client show which endpoints the kernel picks and which source the backends see;
 * the bundle `capture` takes of that node, traced, must say the same.
 */
class NftTracerKernelTest {
  private static final int CONNECTIONS = 24;
  private static Lab lab;
  private static Lab.Node node;
  private static Lab.Pod p1;
  private static Lab.Pod p2;
  private static Lab.Client client;
  private static NodeState captured;

  @BeforeAll
  static void setUp() {
    KernelTests.require("nftables tracer-vs-kernel tests");
    lab = Lab.create(new ProcessCommandRunner(), 1);
    node = lab.node("node1");
    p1 = lab.addPod("node1", "p1");
    p2 = lab.addPod("node1", "p2");
    lab.startBackend(p1, 8080);
    lab.startBackend(p2, 8080);
    client = lab.addClient("client");
    lab.route(client.netns(), "172.30.0.10", node.ip());
    CommandRunner netns = lab.runner().inNetns(node.netns());
    String ep1 = "endpoint-" + p1.ip();
    String ep2 = "endpoint-" + p2.ip();
    String t =
        """
        add table ip kplab
        add map ip kplab service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }
        add map ip kplab service-nodeports { type inet_proto . inet_service : verdict ; }
        add chain ip kplab nat-prerouting { type nat hook prerouting priority -100 ; }
        add chain ip kplab nat-output { type nat hook output priority -100 ; }
        add chain ip kplab nat-postrouting { type nat hook postrouting priority 100 ; }
        add chain ip kplab services
        add chain ip kplab mark-for-masquerade
        add chain ip kplab masquerading
        add chain ip kplab svc
        add chain ip kplab ext
        add chain ip kplab EP1
        add chain ip kplab EP2
        add rule ip kplab nat-prerouting jump services
        add rule ip kplab nat-output jump services
        add rule ip kplab nat-postrouting jump masquerading
        add rule ip kplab mark-for-masquerade mark set mark or 0x4000
        add rule ip kplab masquerading mark and 0x4000 == 0 return
        add rule ip kplab masquerading mark set mark xor 0x4000
        add rule ip kplab masquerading masquerade fully-random
        add rule ip kplab services ip daddr . meta l4proto . th dport vmap @service-ips
        add rule ip kplab services fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports
        add rule ip kplab svc ip daddr 172.30.0.10 ip saddr != 192.168.77.0/24 jump mark-for-masquerade
        add rule ip kplab svc numgen random mod 2 vmap { 0 : goto EP1 , 1 : goto EP2 }
        add rule ip kplab ext jump mark-for-masquerade
        add rule ip kplab ext goto svc
        add rule ip kplab EP1 ip saddr P1 jump mark-for-masquerade
        add rule ip kplab EP1 meta l4proto tcp dnat to P1:8080
        add rule ip kplab EP2 ip saddr P2 jump mark-for-masquerade
        add rule ip kplab EP2 meta l4proto tcp dnat to P2:8080
        add element ip kplab service-ips { 172.30.0.10 . tcp . 80 : goto svc }
        add element ip kplab service-nodeports { tcp . 30080 : goto ext }
        """
            .replace("EP1", ep1)
            .replace("EP2", ep2)
            .replace("P1", p1.ip())
            .replace("P2", p2.ip());
    NftRulesets.load(netns, t);
    captured = BundleReader.fromFiles(BundleCapture.capture(netns));
  }

  @AfterAll
  static void tearDown() {
    if (lab != null) {
      lab.close();
    }
  }

  /** What the backends said over {@code CONNECTIONS} connections: "backend peer" lines. */
  private static Set<String> kernel(String ip, int port) {
    Set<String> seen = new TreeSet<>();
    for (int i = 0; i < CONNECTIONS; i++) {
      Connection c = lab.connect(client.netns(), ip, port, Duration.ofSeconds(2));
      seen.add(
          c.outcome() == Connection.Outcome.REPLIED
              ? c.backend() + " " + c.peer()
              : c.outcome().name());
    }
    return seen;
  }

  /** The same as the tracer says it: the endpoint's pod and the source it sees. */
  private static Set<String> traced(String ip, int port) {
    TraceResult r =
        new Tracer(captured).trace(new PacketSpec(client.ip(), 40000, ip, port, "tcp", null));
    Set<String> out = new TreeSet<>();
    for (Outcome o : r.outcomes()) {
      assertThat(o.verdict()).as(TraceFormatter.text(r)).isEqualTo(Verdict.ACCEPT);
      if (o.dnat() == null) {
        out.add("local " + o.delivery());
        continue;
      }
      String pod = o.dnat().startsWith(p1.ip() + ":") ? "p1" : "p2";
      assertThat(o.dnat()).isIn(p1.ip() + ":8080", p2.ip() + ":8080");
      out.add(pod + " " + o.finalSource());
    }
    return out;
  }

  /**
   * To the ClusterIP from a client inside 192.168.77.0/24 (the "cluster" of this table's masquerade
   * rule): numgen spreads over both endpoints, neither masquerades.
   */
  @Test
  void clusterIp_numgenVmap_bothEndpointsWithoutMasquerade() {
    Set<String> kernel = kernel("172.30.0.10", 80);
    assertThat(kernel).containsExactly("p1 " + client.ip(), "p2 " + client.ip());
    assertThat(traced("172.30.0.10", 80)).isEqualTo(kernel);
  }

  /**
   * To the node's own address at the NodePort: `fib daddr type local` matches, the external chain
   * marks for masquerade, both endpoints see the node's cni0 address.
   */
  @Test
  void nodePort_fibDaddrLocal_bothEndpointsMasqueraded() {
    Set<String> kernel = kernel(node.ip(), 30080);
    assertThat(kernel).containsExactly("p1 " + node.bridgeIp(), "p2 " + node.bridgeIp());
    assertThat(traced(node.ip(), 30080)).isEqualTo(kernel);
  }

  /**
   * A port that is no NodePort: no DNAT; the kernel refuses (no listener), the tracer delivers
   * locally, untouched.
   */
  @Test
  void otherPort_noNodePort_localUntouched() {
    assertThat(kernel(node.ip(), 30081)).containsExactly("REFUSED");
    assertThat(traced(node.ip(), 30081)).containsExactly("local local");
  }

  /** The capture holds the table: nft-ruleset.json was written and read. */
  @Test
  void capture_holdsNftRuleset() {
    assertThat(captured.nftables().tables())
        .filteredOn(t -> t.label().equals("ip kplab"))
        .singleElement()
        .satisfies(t -> assertThat(t.chains()).hasSize(10));
  }
}
