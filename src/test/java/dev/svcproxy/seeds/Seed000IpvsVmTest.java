package dev.svcproxy.seeds;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.lab.Connection;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.testutil.KernelTests;
import dev.svcproxy.testutil.vm.TimeScale;
import dev.svcproxy.trace.ReasonCode;
import dev.svcproxy.trace.TraceResult;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Seed 000 on a real IPVS kernel: a node connects to the ClusterIP of the apiserver Service, whose
 * endpoint is another machine's host-network address. The ClusterIP is bound on kube-ipvs0, so the
 * local route makes it the source address; IPVS rewrites only the destination; unless an iptables
 * rule marks the packet for masquerade, the SYN leaves with the VIP as source and the reply goes
 * elsewhere. The node's IPVS state is the seed's own (`-A -t VIP:443 -s rr -p 10800`, real server
 * in masquerade mode); each test loads one variant of the nat table the seed compares.
 */
@Tag("vm")
class Seed000IpvsVmTest {
  private static final String VIP = "10.96.0.1";
  private static final String SERVICE_CIDR = "10.96.0.0/12";
  private static final int API_PORT = 6443;

  private static Lab lab;
  private static Lab.Node node;
  private static Lab.Node apiserver;

  @BeforeAll
  static void buildLab() {
    KernelTests.requireIpvs("seed 000 reproduction");
    lab = Lab.create(new ProcessCommandRunner(), 2);
    node = lab.node("node1");
    apiserver = lab.node("node2");
    // The apiserver listens on its host network, as in the seed (10.19.9.120:6443).
    lab.startBackend(
        new Lab.Pod("apiserver", apiserver.netns(), apiserver.ip(), apiserver), API_PORT);
    lab.in(node.netns(), "ip", "link", "add", "kube-ipvs0", "type", "dummy");
    lab.in(node.netns(), "ip", "addr", "add", VIP + "/32", "dev", "kube-ipvs0");
    lab.in(node.netns(), "sysctl", "-q", "-w", "net.ipv4.vs.conntrack=1");
    run(
        node.netns(),
        List.of("ipset", "restore"),
        "create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536\n"
            + "add KUBE-CLUSTER-IP "
            + VIP
            + ",tcp:443\n"
            + "create KUBE-LOOP-BACK hash:ip,port,ip family inet hashsize 1024 maxelem 65536\n"
            + "create KUBE-NODE-PORT-TCP bitmap:port range 0-65535\n");
  }

  @AfterAll
  static void tearDown() {
    if (lab != null) {
      lab.close();
    }
  }

  @Test
  void routeToVip_isLocalWithTheVipAsSource() {
    // The seed's `ip addr` shows the VIP on kube-ipvs0 (state DOWN); the local table then routes
    // the VIP to the node itself with the VIP as preferred source.
    String route = lab.in(node.netns(), "ip", "-4", "route", "get", VIP).stdout();

    assertThat(route).startsWith("local " + VIP).contains("src " + VIP);
  }

  @Test
  void withoutClusterCidr_kubeProxy19Rules_connectionTimesOut() {
    // The broken node of the seed: kube-proxy 1.9 without --cluster-cidr wrote no masquerade rule
    // for ClusterIPs; only NodePorts and hairpin traffic are masqueraded.
    loadNat(
        "-A KUBE-SERVICES -p tcp -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ\n");

    assertThatOutcome(connectExpectingTimeout()).isEqualTo(Connection.Outcome.TIMED_OUT);
    // The SYN left with the VIP as its source, as the seed's tcpdump on eth0 shows.
    assertThat(conntrackOriginalSources()).contains("src=" + VIP);
    // The tracer on the captured node explains it: source chosen, no masquerade, no reply.
    TraceResult t = NodeTraces.trace(lab, node.netns(), null, VIP, 443);
    assertThat(t.outcomes())
        .singleElement()
        .satisfies(
            o -> {
              assertThat(o.dnat()).isEqualTo(apiserver.ip() + ":" + API_PORT);
              assertThat(o.finalSource()).isEqualTo(VIP);
              assertThat(o.snat()).isNull();
              assertThat(o.steps())
                  .anyMatch(s -> s.text().contains("source address chosen: " + VIP));
              assertThat(o.reply().returnsHere()).isFalse();
              assertThat(o.reply().reasonCode()).isEqualTo(ReasonCode.REPLY_NOT_ROUTED_BACK);
            });
  }

  @Test
  void clusterCidrIsThePodCidr_masqueradeRule_connectionReachesApiserverFromNodeIp() {
    loadNat(
        "-A KUBE-SERVICES ! -s "
            + Lab.CLUSTER_CIDR
            + " -m comment --comment \"Kubernetes service cluster ip + port for masquerade purpose\""
            + " -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ\n");

    Connection c = connect();

    assertThat(c.outcome()).as("%s", c).isEqualTo(Connection.Outcome.REPLIED);
    assertThat(c.peer()).isEqualTo(node.ip());
    TraceResult t = NodeTraces.trace(lab, node.netns(), null, VIP, 443);
    assertThat(t.outcomes())
        .singleElement()
        .satisfies(
            o -> {
              assertThat(o.snat()).startsWith(node.ip() + ":");
              assertThat(o.reply().returnsHere()).isTrue();
            });
  }

  @Test
  void clusterCidrIsTheServiceCidr_sourceVipIsInside_connectionStillTimesOut() {
    // The seed's detour: --cluster-cidr set to the service CIDR; the VIP source is inside it.
    loadNat(
        "-A KUBE-SERVICES ! -s "
            + SERVICE_CIDR
            + " -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ\n");

    assertThatOutcome(connectExpectingTimeout()).isEqualTo(Connection.Outcome.TIMED_OUT);
    TraceResult t = NodeTraces.trace(lab, node.netns(), null, VIP, 443);
    assertThat(t.outcomes())
        .singleElement()
        .satisfies(o -> assertThat(o.reply().returnsHere()).isFalse());
  }

  @Test
  void withoutClusterCidr_currentUpstreamSrcDstRule_connectionReplies() {
    // Upstream since PR #63319: with no local-traffic detector, kube-proxy masquerades packets
    // whose *source* is a ClusterIP:port (KUBE-CLUSTER-IP src,dst), which is this seed's case.
    loadNat("-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP src,dst -j KUBE-MARK-MASQ\n");

    Connection c = connect();

    assertThat(c.outcome()).as("%s", c).isEqualTo(Connection.Outcome.REPLIED);
    assertThat(c.peer()).isEqualTo(node.ip());
  }

  @Test
  void masqueradeAll_connectionReplies() {
    loadNat("-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ\n");

    assertThatOutcome(connect()).isEqualTo(Connection.Outcome.REPLIED);
  }

  /** The nat table of the seed's working node, with {@code clusterIpRules} in KUBE-SERVICES. */
  private static void loadNat(String clusterIpRules) {
    String nat =
        "*nat\n"
            + ":PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
            + ":POSTROUTING ACCEPT [0:0]\n"
            + ":KUBE-SERVICES - [0:0]\n:KUBE-POSTROUTING - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n"
            + "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
            + "-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
            + "-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\""
            + " -j KUBE-POSTROUTING\n"
            + "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000\n"
            + "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\""
            + " -m mark --mark 0x4000/0x4000 -j MASQUERADE\n"
            + "-A KUBE-POSTROUTING -m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE\n"
            + clusterIpRules
            + "COMMIT\n";
    run(node.netns(), List.of("iptables-restore"), nat);
    // Each test starts a new connection: entries of the previous variant must not decide this one.
    lab.runner().inNetns(node.netns()).run("conntrack", "-F");
    lab.runner().inNetns(node.netns()).run("ipvsadm", "-C");
    loadSeedServices();
  }

  /** The seed's own IPVS rules: `-A -t 10.20.0.1:443 -s rr -p 10800`, one real server here. */
  private static void loadSeedServices() {
    run(
        node.netns(),
        List.of("ipvsadm", "-R"),
        "-A -t "
            + VIP
            + ":443 -s rr -p 10800\n"
            + "-a -t "
            + VIP
            + ":443 -r "
            + apiserver.ip()
            + ":"
            + API_PORT
            + " -m -w 1\n");
  }

  private static Connection connect() {
    return lab.connect(node.netns(), VIP, 443, TimeScale.scale(Duration.ofSeconds(3)));
  }

  /**
   * A connection that should time out waits a fixed 4 s, not the VM-scaled deadline: client, node
   * and backend share one guest kernel, where a reply that comes at all comes within milliseconds.
   */
  private static Connection connectExpectingTimeout() {
    return lab.connect(node.netns(), VIP, 443, Duration.ofSeconds(4));
  }

  private static String conntrackOriginalSources() {
    return lab.runner().inNetns(node.netns()).run("conntrack", "-L", "-p", "tcp").stdout();
  }

  private static CommandResult run(String netns, List<String> argv, String stdin) {
    return lab.runner()
        .inNetns(netns)
        .run(argv, stdin, TimeScale.scale(Duration.ofSeconds(20)))
        .orThrow();
  }

  /** The outcome, with the whole connection (and socat's message) in a failure's description. */
  private static org.assertj.core.api.AbstractComparableAssert<?, Connection.Outcome>
      assertThatOutcome(Connection c) {
    return org.assertj.core.api.Assertions.assertThat(c.outcome()).as("%s", c);
  }
}
