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
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * hairpin-not-masqueraded, IPVS variant, on a real IPVS kernel: node1 holds kube-proxy's IPVS
 * layout by hand (no proxy runs, so no resync puts the entry back): ClusterIP 10.96.0.20:80 on
 * kube-ipvs0 with pod web-a (node1's cni0) as its only real server, KUBE-CLUSTER-IP, KUBE-LOOP-BACK
 * with web-a's {@code IP,tcp:8080,IP}, and upstream's nat rules with --cluster-cidr (so nothing but
 * KUBE-LOOP-BACK masquerades web-a's own traffic). Deleting the entry breaks web-a's connections to
 * its own Service; the doctor names it live and on a bundle; adding the entry back, as the finding
 * says, clears it.
 *
 * <p>Oracle (Debian 6.1 kernel in the VM, 2026-11-27): with the entry, web-a reached itself and saw
 * cni0's address 10.244.1.1 (masqueraded). Without it, the connection timed out; node1's conntrack
 * held {@code SYN_SENT src=<web-a> dst=10.96.0.20 sport=40123 dport=80 [UNREPLIED] src=<web-a>
 * dst=<web-a> sport=8080 dport=40123}: IPVS sent the SYN to web-a with web-a's own address as
 * source, and no answer came back through the node. The client pod on the same bridge still reached
 * the Service, seen with its own address.
 */
@Tag("vm")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class IpvsLoopBackVmTest {
  private static final String VIP = "10.96.0.20";
  private static final int SPORT = 40123;

  private Lab lab;
  private Lab.Node node1;
  private Lab.Pod webA;
  private Lab.Pod client;
  private CommandRunner node;
  private String member;
  @TempDir Path tmp;

  @BeforeAll
  void buildLab() {
    KernelTests.requireIpvs("IPVS hairpin reproduction");
    lab = Lab.create(new ProcessCommandRunner(), 1);
    node1 = lab.node("node1");
    node = lab.runner().inNetns(node1.netns());
    webA = lab.addPod("node1", "web-a");
    client = lab.addPod("node1", "client");
    lab.startBackend(webA, 8080);
    member = webA.ip() + ",tcp:8080," + webA.ip();
    lab.in(node1.netns(), "ip", "link", "add", "kube-ipvs0", "type", "dummy");
    lab.in(node1.netns(), "ip", "addr", "add", VIP + "/32", "dev", "kube-ipvs0");
    // kube-proxy sets it in IPVS mode: without it IPVS connections skip conntrack and iptables'
    // MASQUERADE never sees them.
    lab.in(node1.netns(), "sysctl", "-q", "-w", "net.ipv4.vs.conntrack=1");
    stdin(
        List.of("ipvsadm", "-R"),
        "-A -t " + VIP + ":80 -s rr\n-a -t " + VIP + ":80 -r " + webA.ip() + ":8080 -m -w 1\n");
    stdin(
        List.of("ipset", "restore"),
        "create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536\n"
            + "add KUBE-CLUSTER-IP "
            + VIP
            + ",tcp:80\n"
            + "create KUBE-LOOP-BACK hash:ip,port,ip family inet hashsize 1024 maxelem 65536\n"
            + "add KUBE-LOOP-BACK "
            + member
            + "\n");
    // Upstream's IPVS-mode nat rules for this node (kube-proxy --cluster-cidr=10.244.0.0/16).
    stdin(
        List.of("iptables-restore", "--noflush"),
        "*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-POSTROUTING - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n"
            + "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
            + "-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
            + "-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j"
            + " KUBE-POSTROUTING\n"
            + "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000\n"
            + "-A KUBE-POSTROUTING -m comment --comment \"Kubernetes endpoints dst ip:port, source"
            + " ip for solving hairpin purpose\" -m set --match-set KUBE-LOOP-BACK dst,dst,src -j"
            + " MASQUERADE\n"
            + "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n"
            + "-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0\n"
            + "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring"
            + " SNAT\" -j MASQUERADE --random-fully\n"
            + "-A KUBE-SERVICES ! -s "
            + Lab.CLUSTER_CIDR
            + " -m comment --comment \"Kubernetes service cluster ip + port for masquerade"
            + " purpose\" -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ\n"
            + "-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT\n"
            + "COMMIT\n");
  }

  @AfterAll
  void tearDown() {
    if (lab != null) {
      lab.close();
    }
  }

  @Test
  void loopBackEntryDeleted_podToOwnClusterIp_fails_namedLiveAndOnBundle_clearedByAddingIt()
      throws Exception {
    // Working: web-a reaches itself through the ClusterIP, seen as cni0's address (masqueraded).
    Connection ok = lab.connect(webA.netns(), VIP, 80, scaled());
    assertThat(ok.outcome()).as("%s", ok).isEqualTo(Connection.Outcome.REPLIED);
    assertThat(ok.peer()).isEqualTo(node1.bridgeIp());
    assertThat(live()).isEmpty();

    node.run("ipset", "del", "KUBE-LOOP-BACK", member).orThrow();
    node.run("conntrack", "-F");
    try {
      Connection broken = lab.connect(webA.netns(), VIP, 80, SPORT, Duration.ofSeconds(6));
      System.out.println(
          "IpvsLoopBackVmTest: web-a -> " + VIP + ":80 without the entry: " + broken);
      System.out.println(node.run("conntrack", "-L").stdout());
      System.out.println(node.run("iptables-save", "-c", "-t", "nat").stdout());
      // The kernel's own record of the flow: DNATed by IPVS to web-a, its reply expected from
      // web-a to web-a itself, i.e. not masqueraded.
      assertThat(node.run("conntrack", "-L").stdout().lines())
          .anySatisfy(
              l ->
                  assertThat(l)
                      .contains("src=" + webA.ip() + " dst=" + VIP + " sport=" + SPORT)
                      .contains(
                          "src=" + webA.ip() + " dst=" + webA.ip() + " sport=8080 dport=" + SPORT));
      assertThat(broken.outcome()).as("%s", broken).isEqualTo(Connection.Outcome.TIMED_OUT);
      // Another pod on the same bridge still reaches the Service: only the hairpin is broken.
      Connection other = lab.connect(client.netns(), VIP, 80, scaled());
      assertThat(other.outcome()).as("%s", other).isEqualTo(Connection.Outcome.REPLIED);
      assertThat(other.peer()).isEqualTo(client.ip());

      LiveAndBundle.Named named =
          LiveAndBundle.on(node, Optional.empty())
              .named("hairpin-not-masqueraded", tmp.resolve("loopback"));
      for (Finding f : named.both()) {
        System.out.println(f);
        assertThat(f.severity()).isEqualTo(Severity.ERROR);
        assertThat(f.summary())
            .startsWith("1 local endpoint(s) of a ClusterIP missing from KUBE-LOOP-BACK");
        assertThat(f.fix()).contains("`ipset add KUBE-LOOP-BACK " + member + "`");
      }
      Evidence rs = named.bundle().evidence().get(0);
      assertThat(rs.where()).startsWith("ipvsadm-save.txt:");
      assertThat(named.citedLine(rs)).startsWith("-a -t " + VIP + ":80 -r " + webA.ip() + ":8080 ");
      assertThat(named.bundle().evidence())
          .extracting(Evidence::text)
          .anyMatch(t -> t.startsWith("create KUBE-LOOP-BACK hash:ip,port,ip"))
          .anyMatch(t -> t.contains("--match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE"));
    } finally {
      node.run("ipset", "-exist", "add", "KUBE-LOOP-BACK", member);
    }
    // The fix the finding gives (the entry back): the finding is gone, the hairpin works again.
    node.run("conntrack", "-F");
    assertThat(live()).isEmpty();
    Connection fixed = lab.connect(webA.netns(), VIP, 80, scaled());
    assertThat(fixed.outcome()).as("%s", fixed).isEqualTo(Connection.Outcome.REPLIED);
    assertThat(fixed.peer()).isEqualTo(node1.bridgeIp());

    // The bridge port's hairpin flag off, the entry in place. Oracle (Debian 6.1 kernel in the
    // VM, 2026-11-27): web-a's connection to its own ClusterIP times out as well, so IPVS mode
    // needs the hairpin flag like iptables mode; the doctor names the port, from the real server.
    String port = "veth" + webA.ip().substring(webA.ip().lastIndexOf('.') + 1);
    System.out.println(
        "IpvsLoopBackVmTest: "
            + node.run("sysctl", "net.bridge.bridge-nf-call-iptables").stdout().strip());
    lab.in(node1.netns(), "ip", "link", "set", port, "type", "bridge_slave", "hairpin", "off");
    try {
      Connection noHairpinFlag = lab.connect(webA.netns(), VIP, 80, Duration.ofSeconds(6));
      System.out.println("IpvsLoopBackVmTest: hairpin flag off, entry present: " + noHairpinFlag);
      assertThat(noHairpinFlag.outcome())
          .as("%s", noHairpinFlag)
          .isEqualTo(Connection.Outcome.TIMED_OUT);
      LiveAndBundle.Named flag =
          LiveAndBundle.on(node, Optional.empty())
              .named("hairpin-not-masqueraded", tmp.resolve("flag"));
      assertThat(flag.live().evidence())
          .containsExactly(
              Evidence.command(
                  "bridge -d link show dev " + port, port + " master cni0 hairpin off"));
    } finally {
      lab.in(node1.netns(), "ip", "link", "set", port, "type", "bridge_slave", "hairpin", "on");
    }
    assertThat(live()).isEmpty();
    Connection again = lab.connect(webA.netns(), VIP, 80, scaled());
    assertThat(again.outcome()).as("%s", again).isEqualTo(Connection.Outcome.REPLIED);
  }

  private List<Finding> live() {
    return LiveAndBundle.on(node, Optional.empty()).live("hairpin-not-masqueraded");
  }

  private void stdin(List<String> argv, String in) {
    node.run(argv, in, TimeScale.scale(Duration.ofSeconds(20))).orThrow();
  }

  private static Duration scaled() {
    return TimeScale.scale(Duration.ofSeconds(3));
  }
}
