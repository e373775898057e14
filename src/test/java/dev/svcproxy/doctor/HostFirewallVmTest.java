package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.lab.Connection;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.testutil.KernelTests;
import dev.svcproxy.testutil.LiveAndBundle;
import dev.svcproxy.testutil.vm.TimeScale;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * host-firewall-rejects-vip on a real IPVS kernel, for the two host firewalls IpvsDoctorVmTest's
 * firewalld case leaves out: Calico's host endpoint policy (felix's chains, {@link
 * CalicoFelixRules}) and INPUT rules written by hand. node1 runs kube-proxy's IPVS layout by hand
 * (kube-ipvs0 with ClusterIP 10.96.0.10 and external IP 192.168.1.200, both port 80 to an nginx pod
 * on node2, the KUBE-* sets, masquerade for both); "clb" is a client on the fabric that routes the
 * external IP to node1; "client" is a pod on node1. Each test shows the connection failing, has the
 * doctor name the rule live and on a captured bundle (cited lines re-read), applies the fix the
 * finding gives and shows the finding gone and the connection answered.
 */
@Tag("vm")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class HostFirewallVmTest {
  private static final String ID = "host-firewall-rejects-vip";
  private static final String CLUSTER_IP = "10.96.0.10";
  private static final String SERVICE_CIDR = "10.96.0.0/12";
  private static final String EIP = "192.168.1.200";

  private Lab lab;
  private Lab.Node node1;
  private Lab.Pod client;
  private Lab.Pod nginx;
  private Lab.Client clb;
  private CommandRunner node;
  @TempDir Path tmp;

  @BeforeAll
  void buildLab() {
    KernelTests.requireIpvs("host firewall reproductions");
    lab = Lab.create(new ProcessCommandRunner(), 2);
    node1 = lab.node("node1");
    node = lab.runner().inNetns(node1.netns());
    client = lab.addPod("node1", "client");
    nginx = lab.addPod("node2", "nginx");
    lab.startBackend(nginx, 80);
    clb = lab.addClient("clb");
    lab.route(clb.netns(), EIP, node1.ip());
    lab.in(node1.netns(), "ip", "link", "add", "kube-ipvs0", "type", "dummy");
    lab.in(node1.netns(), "sysctl", "-q", "-w", "net.ipv4.vs.conntrack=1");
    lab.in(node1.netns(), "ip", "addr", "add", CLUSTER_IP + "/32", "dev", "kube-ipvs0");
    lab.in(node1.netns(), "ip", "addr", "add", EIP + "/32", "dev", "kube-ipvs0");
    stdin(
        List.of("ipvsadm", "-R"),
        "-A -t "
            + CLUSTER_IP
            + ":80 -s rr\n-a -t "
            + CLUSTER_IP
            + ":80 -r "
            + nginx.ip()
            + ":80 -m -w 1\n-A -t "
            + EIP
            + ":80 -s rr\n-a -t "
            + EIP
            + ":80 -r "
            + nginx.ip()
            + ":80 -m -w 1\n");
    stdin(
        List.of("ipset", "restore"),
        "create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536\n"
            + "add KUBE-CLUSTER-IP "
            + CLUSTER_IP
            + ",tcp:80\n"
            + "create KUBE-EXTERNAL-IP hash:ip,port family inet hashsize 1024 maxelem 65536\n"
            + "add KUBE-EXTERNAL-IP "
            + EIP
            + ",tcp:80\n"
            + "create KUBE-LOOP-BACK hash:ip,port,ip family inet hashsize 1024 maxelem 65536\n"
            + CalicoFelixRules.ipsets(
                lab.nodes().stream().map(Lab.Node::ip).toList(),
                List.of(node1.ip(), node1.bridgeIp(), "127.0.0.1")));
    // kube-proxy's IPVS nat rules (masquerade-all for ClusterIPs, external IPs masqueraded) and
    // flannel's masquerade for pods leaving the cluster network.
    stdin(
        List.of("iptables-restore", "--noflush"),
        "*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-POSTROUTING - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n"
            + "-A PREROUTING -j KUBE-SERVICES\n-A OUTPUT -j KUBE-SERVICES\n"
            + "-A POSTROUTING -j KUBE-POSTROUTING\n"
            + "-A POSTROUTING -s "
            + Lab.CLUSTER_CIDR
            + " ! -d "
            + Lab.CLUSTER_CIDR
            + " -j MASQUERADE\n"
            + "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000\n"
            + "-A KUBE-POSTROUTING -m mark --mark 0x4000/0x4000 -j MASQUERADE\n"
            + "-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ\n"
            + "-A KUBE-SERVICES -m set --match-set KUBE-EXTERNAL-IP dst,dst -j KUBE-MARK-MASQ\n"
            + "COMMIT\n");
  }

  @AfterAll
  void tearDown() {
    if (lab != null) {
      lab.close();
    }
  }

  // --- Calico host endpoint ----------------------------------------------------------------------

  @Test
  void calicoHostEndpointDefaultDeny_externalClientDropped_named_clearedByServicePolicy()
      throws Exception {
    // Felix without its kube-proxy IPVS support (it found no kube-ipvs0 at start), a host
    // endpoint on eth0 whose only policy allows ssh: the external IP's clients arrive on eth0.
    CalicoFelixRules broken =
        CalicoFelixRules.of("eth0", false, List.of(CalicoFelixRules.ALLOW_SSH));
    filter(broken.body());
    assertThat(dropped(clb.netns(), EIP).outcome()).isEqualTo(Connection.Outcome.TIMED_OUT);
    // Pods are workloads, not the host endpoint: the same Service answers them.
    assertThat(connect(client.netns(), EIP).backend()).isEqualTo("nginx");

    String drop = broken.rule("cali-fh-eth0", "Drop if no policies passed packet");
    LiveAndBundle.Named n =
        LiveAndBundle.on(node, Optional.empty()).named(ID, tmp.resolve("calico"));
    for (Finding f : n.both()) {
      assertThat(f.summary())
          .contains("(filter cali-fh-eth0 rule 8) drops")
          .contains("on eth0 to TCP " + EIP + ":80")
          .doesNotContain("pod traffic");
      assertThat(f.evidence().get(0).text()).isEqualTo(drop);
      assertThat(f.fix()).contains("GlobalNetworkPolicy").contains("restarting calico-node");
    }
    // The bundle cites the rule where the capture put it, re-read from the file.
    Evidence cited = n.bundle().evidence().get(0);
    assertThat(cited.where()).startsWith("iptables-save.txt:");
    assertThat(n.citedLine(cited)).isEqualTo(drop);
    assertThat(n.bundle().evidence())
        .extracting(Evidence::text)
        .anyMatch(t -> t.contains("reached by INPUT rule 1 -> cali-INPUT rule 6"));

    // The fix the finding gives: a policy allowing the Service addresses, as felix renders it
    // into the endpoint's chain before the deny.
    filter(
        CalicoFelixRules.of(
                "eth0",
                false,
                List.of(
                    CalicoFelixRules.ALLOW_SSH,
                    CalicoFelixRules.allowServices(SERVICE_CIDR, EIP + "/32")))
            .body());
    node.run("conntrack", "-F");
    assertThat(LiveAndBundle.on(node, Optional.empty()).live(ID)).isEmpty();
    Connection fixed = connect(clb.netns(), EIP);
    assertThat(fixed.backend()).as("%s", fixed).isEqualTo("nginx");
  }

  @Test
  void calicoWithKubeProxyIpvsSupport_vipTrafficNotPolicedInInput_notNamed() {
    // The other way out: calico-node restarted after kube-ipvs0 appeared. cali-forward-check
    // marks VIP traffic with its endpoint and cali-INPUT returns it; INPUT's policy accepts it.
    filter(CalicoFelixRules.of("eth0", true, List.of(CalicoFelixRules.ALLOW_SSH)).body());
    node.run("conntrack", "-F");
    Connection c = connect(clb.netns(), EIP);
    assertThat(c.backend()).as("%s", c).isEqualTo("nginx");
    assertThat(LiveAndBundle.on(node, Optional.empty()).live(ID)).isEmpty();
  }

  // --- INPUT rules written by hand ---------------------------------------------------------------

  @Test
  void customDropOfServiceCidr_podToClusterIpDropped_named_clearedByAcceptingClusterIps() {
    String rule = "-A INPUT -d " + SERVICE_CIDR + " -j DROP";
    filter(rule + "\n");
    assertThat(dropped(client.netns(), CLUSTER_IP).outcome())
        .isEqualTo(Connection.Outcome.TIMED_OUT);

    LiveAndBundle.Named n = LiveAndBundle.on(node, Optional.empty()).named(ID, tmp.resolve("drop"));
    for (Finding f : n.both()) {
      assertThat(f.summary())
          .contains("(filter INPUT rule 1) drops")
          .contains("pod traffic to TCP " + CLUSTER_IP + ":80");
      assertThat(f.evidence().get(0).text()).isEqualTo(rule);
    }
    assertThat(n.citedLine(n.bundle().evidence().get(0))).isEqualTo(rule);

    // The fix the finding gives first: accept kube-proxy's ClusterIP set before the drop.
    String accept = "iptables -I INPUT -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT";
    assertThat(n.live().fix()).contains(accept);
    node.run(Arrays.asList(accept.split(" "))).orThrow();
    assertThat(LiveAndBundle.on(node, Optional.empty()).live(ID)).isEmpty();
    Connection c = connect(client.netns(), CLUSTER_IP);
    assertThat(c.backend()).as("%s", c).isEqualTo("nginx");
  }

  @Test
  void customRejectOfServiceCidr_podRefused_named_clearedByDeletingTheRule() {
    String rule = "-A INPUT -d " + SERVICE_CIDR + " -p tcp -j REJECT --reject-with tcp-reset";
    filter(rule + "\n");
    assertThat(connect(client.netns(), CLUSTER_IP).outcome()).isEqualTo(Connection.Outcome.REFUSED);

    LiveAndBundle.Named n =
        LiveAndBundle.on(node, Optional.empty()).named(ID, tmp.resolve("reject"));
    for (Finding f : n.both()) {
      assertThat(f.summary()).contains("(filter INPUT rule 1) rejects");
      assertThat(f.evidence().get(0).text()).isEqualTo(rule);
    }
    assertThat(n.citedLine(n.bundle().evidence().get(0))).isEqualTo(rule);

    // The other fix it gives: delete the rule, with the command it names.
    Matcher m = Pattern.compile("\\((iptables -D [^)]*)\\)").matcher(n.live().fix());
    assertThat(m.find()).as(n.live().fix()).isTrue();
    List<String> argv = new ArrayList<>(Arrays.asList(m.group(1).split(" ")));
    node.run(argv).orThrow();
    assertThat(LiveAndBundle.on(node, Optional.empty()).live(ID)).isEmpty();
    Connection c = connect(client.netns(), CLUSTER_IP);
    assertThat(c.backend()).as("%s", c).isEqualTo("nginx");
  }

  // --- helpers -----------------------------------------------------------------------------------

  /** node1's filter table: flushed, then {@code body} (chain declarations and rules). */
  private void filter(String body) {
    node.run("iptables", "-F").orThrow();
    node.run("iptables", "-X").orThrow();
    stdin(List.of("iptables-restore", "--noflush"), "*filter\n" + body + "COMMIT\n");
    node.run("conntrack", "-F");
  }

  private void stdin(List<String> argv, String in) {
    node.run(argv, in, TimeScale.scale(Duration.ofSeconds(20))).orThrow();
  }

  /** A connection expected to time out: not scaled, a dropped SYN gets no answer however long. */
  private Connection dropped(String netns, String ip) {
    return lab.connect(netns, ip, 80, Duration.ofSeconds(4));
  }

  private Connection connect(String netns, String ip) {
    return lab.connect(netns, ip, 80, TimeScale.scale(Duration.ofSeconds(3)));
  }
}
