package dev.svcproxy.seeds;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.lab.Connection;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.testutil.KernelTests;
import dev.svcproxy.testutil.vm.TimeScale;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Seed 001 on a real IPVS kernel: the cloud load balancer's IP 192.168.1.200 serves port 80 for a
 * LoadBalancer Service (endpoint nginx on node2) and port 443 for something outside the cluster.
 * kube-proxy's IPVS mode binds the LB IP on kube-ipvs0 of every node, so from inside the cluster
 * port 80 is served by the node's own IPVS and port 443 never leaves the node: it is refused
 * (KUBE-IPVS-FILTER since 1.26; before that, no local listener), while a client outside the cluster
 * reaches the real LB on both. The node's state is upstream's IPVS-mode layout for this Service.
 */
@Tag("vm")
class Seed001IpvsVmTest {
  private static final String LB_IP = "192.168.1.200";

  private static Lab lab;
  private static Lab.Node node1;
  private static Lab.Pod client;
  private static Lab.Pod nginx;
  private static Lab.Client outside;

  @BeforeAll
  static void buildLab() {
    KernelTests.requireIpvs("seed 001 reproduction");
    lab = Lab.create(new ProcessCommandRunner(), 2);
    node1 = lab.node("node1");
    client = lab.addPod("node1", "client");
    nginx = lab.addPod("node2", "nginx");
    lab.startBackend(nginx, 80);
    // The cloud LB: holds the LB IP and answers its own 443 listener (the seed's CLB1:443).
    Lab.Client clb = lab.addClient("clb");
    lab.in(clb.netns(), "ip", "addr", "add", LB_IP + "/32", "dev", "eth0");
    lab.startBackend(new Lab.Pod("clb-443", clb.netns(), LB_IP, null), 443);
    outside = lab.addClient("ecs");
    lab.route(outside.netns(), LB_IP, clb.ip());
    for (Lab.Node n : lab.nodes()) {
      lab.route(n.netns(), LB_IP, clb.ip());
    }
    lab.in(node1.netns(), "ip", "link", "add", "kube-ipvs0", "type", "dummy");
    lab.in(node1.netns(), "sysctl", "-q", "-w", "net.ipv4.vs.conntrack=1");
  }

  @AfterAll
  static void tearDown() {
    if (lab != null) {
      lab.close();
    }
  }

  @BeforeEach
  void upstreamIpvsState() {
    loadNode(true, true, false);
  }

  @Test
  void podToLbPort80_servedByTheNodesIpvs() {
    Connection c = connect(client.netns(), 80);

    assertThat(c.outcome()).as("%s", c).isEqualTo(Connection.Outcome.REPLIED);
    assertThat(c.backend()).isEqualTo("nginx");
    // The node's own connection (source: the LB IP, bound locally) is masqueraded with eTP=Cluster.
    assertThatOutcome(connect(node1.netns(), 80)).isEqualTo(Connection.Outcome.REPLIED);
  }

  @Test
  void podToLbPort443_refusedLocally_whileOutsideClientReachesTheLb() {
    assertThatOutcome(connect(client.netns(), 443)).isEqualTo(Connection.Outcome.REFUSED);
    assertThatOutcome(connect(node1.netns(), 443)).isEqualTo(Connection.Outcome.REFUSED);

    Connection fromOutside = connect(outside.netns(), 443);
    assertThat(fromOutside.outcome()).as("%s", fromOutside).isEqualTo(Connection.Outcome.REPLIED);
    assertThat(fromOutside.backend()).isEqualTo("clb-443");
  }

  @Test
  void before126WithoutIpvsFilter_port443StillRefusedByTheLocalStack() {
    loadNode(true, false, false);

    assertThatOutcome(connect(client.netns(), 443)).isEqualTo(Connection.Outcome.REFUSED);
  }

  @Test
  void lbIpNotBound_ipModeProxy_podReachesTheRealLb() {
    // KEP-1860 ipMode: Proxy (or the seed's hostname annotation): no address on kube-ipvs0, no
    // virtual server for the LB IP; pod traffic leaves the node and reaches the load balancer.
    loadNode(false, true, false);

    Connection c = connect(client.netns(), 443);

    assertThat(c.outcome()).as("%s", c).isEqualTo(Connection.Outcome.REPLIED);
    assertThat(c.backend()).isEqualTo("clb-443");
  }

  @Test
  void etpLocalNoLocalEndpoint_nodeToLbIp_timesOutWithTheLbIpAsSource() {
    // Since 1.24 (PR #97081) a node without local endpoints keeps all endpoints behind the LB's
    // virtual server, but eTP=Local traffic is not masqueraded: the node's own connection leaves
    // with the LB IP as source and nginx's reply goes to the real LB.
    loadNode(true, true, true);

    assertThatOutcome(connectExpectingTimeout(node1.netns(), 80))
        .isEqualTo(Connection.Outcome.TIMED_OUT);
    // A pod keeps its own address as source, which routes back: it works.
    assertThatOutcome(connect(client.netns(), 80)).isEqualTo(Connection.Outcome.REPLIED);
  }

  private static void loadNode(boolean bound, boolean ipvsFilter, boolean etpLocal) {
    lab.runner().inNetns(node1.netns()).run("ip", "addr", "flush", "dev", "kube-ipvs0");
    lab.runner().inNetns(node1.netns()).run("ipvsadm", "-C");
    lab.runner().inNetns(node1.netns()).run("conntrack", "-F");
    lab.runner().inNetns(node1.netns()).run("iptables", "-t", "nat", "-F");
    lab.runner().inNetns(node1.netns()).run("iptables", "-t", "nat", "-X");
    lab.runner().inNetns(node1.netns()).run("iptables", "-t", "filter", "-F");
    lab.runner().inNetns(node1.netns()).run("iptables", "-t", "filter", "-X");
    lab.runner().inNetns(node1.netns()).run("ipset", "destroy");
    StringBuilder sets =
        new StringBuilder(
            "create KUBE-LOAD-BALANCER hash:ip,port family inet hashsize 1024 maxelem 65536\n"
                + "create KUBE-LOAD-BALANCER-LOCAL hash:ip,port family inet hashsize 1024 maxelem"
                + " 65536\n"
                + "create KUBE-IPVS-IPS hash:ip family inet hashsize 1024 maxelem 65536\n");
    if (bound) {
      lab.in(node1.netns(), "ip", "addr", "add", LB_IP + "/32", "dev", "kube-ipvs0");
      stdin(
          List.of("ipvsadm", "-R"),
          "-A -t "
              + LB_IP
              + ":80 -s rr\n-a -t "
              + LB_IP
              + ":80 -r "
              + nginx.ip()
              + ":80 -m -w 1\n");
      sets.append("add KUBE-LOAD-BALANCER " + LB_IP + ",tcp:80\n");
      sets.append("add KUBE-IPVS-IPS " + LB_IP + "\n");
      if (etpLocal) {
        sets.append("add KUBE-LOAD-BALANCER-LOCAL " + LB_IP + ",tcp:80\n");
      }
    }
    stdin(List.of("ipset", "restore"), sets.toString());
    StringBuilder rules = new StringBuilder();
    rules
        .append("*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-POSTROUTING - [0:0]\n")
        .append(":KUBE-MARK-MASQ - [0:0]\n:KUBE-LOAD-BALANCER - [0:0]\n")
        .append("-A PREROUTING -j KUBE-SERVICES\n-A OUTPUT -j KUBE-SERVICES\n")
        .append("-A POSTROUTING -j KUBE-POSTROUTING\n")
        // The CNI's own rule (flannel's): pods reach off-cluster addresses from the node's IP.
        .append("-A POSTROUTING -s " + Lab.CLUSTER_CIDR + " ! -d " + Lab.CLUSTER_CIDR)
        .append(" -j MASQUERADE\n");
    if (bound) {
      rules
          .append("-A KUBE-SERVICES -m set --match-set KUBE-LOAD-BALANCER dst,dst")
          .append(" -j KUBE-LOAD-BALANCER\n");
      if (etpLocal) {
        rules
            .append("-A KUBE-LOAD-BALANCER -m set --match-set KUBE-LOAD-BALANCER-LOCAL dst,dst")
            .append(" -j RETURN\n");
      }
      rules.append("-A KUBE-LOAD-BALANCER -j KUBE-MARK-MASQ\n");
    }
    rules
        .append("-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n")
        .append("-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000\n")
        .append("-A KUBE-POSTROUTING -j MASQUERADE\n")
        .append("-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\nCOMMIT\n");
    rules.append("*filter\n:KUBE-IPVS-FILTER - [0:0]\n");
    if (ipvsFilter) {
      rules.append("-A INPUT -j KUBE-IPVS-FILTER\n");
      if (bound) {
        rules
            .append("-A KUBE-IPVS-FILTER -m set --match-set KUBE-LOAD-BALANCER dst,dst -j RETURN\n")
            .append("-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW")
            .append(" -m set --match-set KUBE-IPVS-IPS dst -j REJECT\n");
      }
    }
    rules.append("COMMIT\n");
    stdin(List.of("iptables-restore", "--noflush"), rules.toString());
  }

  private static Connection connect(String netns, int port) {
    return lab.connect(netns, LB_IP, port, TimeScale.scale(Duration.ofSeconds(3)));
  }

  /**
   * A connection that should time out waits a fixed 4 s, not the VM-scaled deadline: every host of
   * the lab shares one guest kernel, where a reply that comes at all comes within milliseconds.
   */
  private static Connection connectExpectingTimeout(String netns, int port) {
    return lab.connect(netns, LB_IP, port, Duration.ofSeconds(4));
  }

  private static void stdin(List<String> argv, String in) {
    lab.runner()
        .inNetns(node1.netns())
        .run(argv, in, TimeScale.scale(Duration.ofSeconds(20)))
        .orThrow();
  }

  /** The outcome, with the whole connection (and socat's message) in a failure's description. */
  private static org.assertj.core.api.AbstractComparableAssert<?, Connection.Outcome>
      assertThatOutcome(Connection c) {
    return org.assertj.core.api.Assertions.assertThat(c.outcome()).as("%s", c);
  }
}
