package dev.svcproxy.seeds;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.lab.Connection;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.testutil.KernelTests;
import dev.svcproxy.testutil.vm.TimeScale;
import dev.svcproxy.trace.Outcome;
import dev.svcproxy.trace.TraceResult;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The book's hand-built IPVS service ("实现散装的 IPVS SVC"), step by step on a real IPVS kernel: VIP
 * 169.254.11.2:80 on a dummy interface of node1, rr over web servers on node1 and node2 at :8080
 * (masquerade forwarding). The book's observations are the oracle: without SNAT only the local real
 * server answers (the remote one replies to the VIP and the reply is lost); MASQUERADE needs
 * net.ipv4.vs.conntrack=1; marking in PREROUTING alone does not cover the node's own connections,
 * which pass nat OUTPUT; marking in OUTPUT as well makes every connection work.
 */
@Tag("vm")
class BookIpvsServiceVmTest {
  private static final String VIP = "169.254.11.2";

  private static Lab lab;
  private static Lab.Node node1;
  private static Lab.Node node2;

  @BeforeAll
  static void buildLab() {
    KernelTests.requireIpvs("the book's IPVS service");
    lab = Lab.create(new ProcessCommandRunner(), 2);
    node1 = lab.node("node1");
    node2 = lab.node("node2");
    lab.startBackend(new Lab.Pod("web-111", node1.netns(), node1.ip(), node1), 8080);
    lab.startBackend(new Lab.Pod("web-222", node2.netns(), node2.ip(), node2), 8080);
    lab.in(node1.netns(), "ip", "link", "add", "svc", "type", "dummy");
    lab.in(node1.netns(), "ip", "addr", "add", VIP + "/32", "dev", "svc");
  }

  @AfterAll
  static void tearDown() {
    if (lab != null) {
      lab.close();
    }
  }

  @BeforeEach
  void freshState() {
    lab.runner().inNetns(node1.netns()).run("iptables", "-t", "nat", "-F");
    lab.runner().inNetns(node1.netns()).run("iptables", "-t", "nat", "-X");
    lab.runner().inNetns(node1.netns()).run("ipset", "destroy");
    lab.runner().inNetns(node1.netns()).run("ipvsadm", "-C");
    lab.runner().inNetns(node1.netns()).run("conntrack", "-F");
    sysctl("net.ipv4.vs.conntrack=0");
    stdin(
        List.of("ipvsadm", "-R"),
        "-A -t "
            + VIP
            + ":80 -s rr\n"
            + "-a -t "
            + VIP
            + ":80 -r "
            + node1.ip()
            + ":8080 -m -w 1\n"
            + "-a -t "
            + VIP
            + ":80 -r "
            + node2.ip()
            + ":8080 -m -w 1\n");
  }

  @Test
  void noSnat_onlyTheLocalRealServerAnswers() {
    Set<String> reached = new HashSet<>();
    int timedOut = 0;
    for (int i = 0; i < 4; i++) {
      Connection c = probe();
      if (c.outcome() == Connection.Outcome.REPLIED) {
        reached.add(c.backend());
      } else if (c.outcome() == Connection.Outcome.TIMED_OUT) {
        timedOut++;
      }
    }

    // rr alternates: two connections go to node2, whose reply to the VIP never comes back.
    assertThat(reached).containsExactly("web-111");
    assertThat(timedOut).isEqualTo(2);
    // The tracer agrees: rr halves; the local real server answers; the remote one gets the SYN
    // from the VIP and, as the book's tcpdump on the gateway shows, sends its reply to its gateway.
    TraceResult t = NodeTraces.trace(lab, node1.netns(), null, VIP, 80);
    assertThat(t.outcomes()).hasSize(2);
    for (Outcome o : t.outcomes()) {
      assertThat(o.probability()).isCloseTo(0.5, within(1e-9));
      assertThat(o.finalSource()).isEqualTo(VIP);
      boolean local = o.dnat().equals(node1.ip() + ":8080");
      assertThat(o.reply().returnsHere()).as("reply of %s", o.dnat()).isEqualTo(local);
    }
    assertThat(t.outcomes())
        .extracting(Outcome::dnat)
        .containsExactlyInAnyOrder(node1.ip() + ":8080", node2.ip() + ":8080");
  }

  @Test
  void ipvsMatchMasquerade_needsIpvsConntrack() {
    lab.in(
        node1.netns(),
        "iptables",
        "-t",
        "nat",
        "-A",
        "POSTROUTING",
        "-m",
        "ipvs",
        "--vaddr",
        VIP,
        "--vport",
        "80",
        "-j",
        "MASQUERADE");

    // Without vs/conntrack the packet IPVS forwards has no conntrack entry of its own to NAT.
    assertThat(backendsOfFour()).containsExactly("web-111");

    sysctl("net.ipv4.vs.conntrack=1");

    assertThat(backendsOfFour()).containsExactlyInAnyOrder("web-111", "web-222");
    TraceResult t = NodeTraces.trace(lab, node1.netns(), null, VIP, 80);
    assertThat(t.outcomes())
        .hasSize(2)
        .allSatisfy(o -> assertThat(o.reply().returnsHere()).as("reply of %s", o.dnat()).isTrue());
  }

  @Test
  void ipsetMarkInPreroutingOnly_nodesOwnConnectionsStillFail_outputJumpFixesThem() {
    sysctl("net.ipv4.vs.conntrack=1");
    stdin(
        List.of("ipset", "restore"),
        "create ZGZ-CLUSTER-IP hash:ip,port -exist\nadd ZGZ-CLUSTER-IP "
            + VIP
            + ",tcp:80 -exist\n");
    stdin(
        List.of("iptables-restore", "--noflush"),
        "*nat\n"
            + ":ZGZ-SERVICES - [0:0]\n:ZGZ-MARK-MASQ - [0:0]\n:ZGZ-SERVICES-POSTROUTING - [0:0]\n"
            + "-A PREROUTING -m comment --comment \"zgz service portals\" -j ZGZ-SERVICES\n"
            + "-A ZGZ-MARK-MASQ -j MARK --set-xmark 0x2000/0x2000\n"
            + "-A ZGZ-SERVICES -m comment --comment \"zgz service cluster ip + port for masquerade"
            + " purpose\" -m set --match-set ZGZ-CLUSTER-IP dst,dst -j ZGZ-MARK-MASQ\n"
            + "-A POSTROUTING -m comment --comment \"zgz postrouting rules\""
            + " -j ZGZ-SERVICES-POSTROUTING\n"
            + "-A ZGZ-SERVICES-POSTROUTING -m comment --comment \"zgz service traffic requiring"
            + " SNAT\" -m mark --mark 0x2000/0x2000 -j MASQUERADE\n"
            + "COMMIT\n");

    assertThat(backendsOfFour()).containsExactly("web-111");

    lab.in(
        node1.netns(),
        "iptables",
        "-t",
        "nat",
        "-A",
        "OUTPUT",
        "-m",
        "comment",
        "--comment",
        "zgz service portals",
        "-j",
        "ZGZ-SERVICES");

    Set<String> peers = new HashSet<>();
    Set<String> reached = new HashSet<>();
    for (int i = 0; i < 4; i++) {
      Connection c = connect();
      assertThat(c.outcome()).as("%s", c).isEqualTo(Connection.Outcome.REPLIED);
      reached.add(c.backend());
      peers.add(c.backend() + " saw " + c.peer());
    }
    assertThat(reached).containsExactlyInAnyOrder("web-111", "web-222");
    // Masqueraded to the outgoing interface's address: node2 sees node1's IP, not the VIP.
    assertThat(peers).contains("web-222 saw " + node1.ip());
  }

  private static Set<String> backendsOfFour() {
    Set<String> reached = new HashSet<>();
    for (int i = 0; i < 4; i++) {
      Connection c = probe();
      if (c.outcome() == Connection.Outcome.REPLIED) {
        reached.add(c.backend());
      }
    }
    return reached;
  }

  /**
   * A connection that may time out waits a fixed 3 s, not the VM-scaled deadline: client, node and
   * backends share one guest kernel, where a reply that comes at all comes within milliseconds.
   */
  private static Connection probe() {
    return lab.connect(node1.netns(), VIP, 80, Duration.ofSeconds(3));
  }

  private static Connection connect() {
    return lab.connect(node1.netns(), VIP, 80, TimeScale.scale(Duration.ofSeconds(2)));
  }

  private static void sysctl(String kv) {
    lab.in(node1.netns(), "sysctl", "-q", "-w", kv);
  }

  private static void stdin(List<String> argv, String in) {
    lab.runner()
        .inNetns(node1.netns())
        .run(argv, in, TimeScale.scale(Duration.ofSeconds(20)))
        .orThrow();
  }
}
