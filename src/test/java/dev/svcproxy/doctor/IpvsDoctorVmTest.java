package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.lab.Connection;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.testutil.KernelTests;
import dev.svcproxy.testutil.LiveAndBundle;
import dev.svcproxy.testutil.vm.TimeScale;
import java.nio.file.Files;
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
 * The IPVS findings on a real IPVS kernel, one lab for all: node1 runs kube-proxy's IPVS layout by
 * hand (kube-ipvs0, the KUBE-* ipsets, virtual servers, the nat rules of the version in question),
 * node2 holds the apiserver on its host network and an nginx pod, a "clb" client on the fabric is
 * the cloud load balancer. Each test builds a broken node as a seed's author had it, shows a real
 * connection failing, has the doctor name it live and on a captured bundle, applies the fix the
 * finding gives and shows the finding gone and the connection working.
 */
@Tag("vm")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class IpvsDoctorVmTest {
  private static final String VIP = "10.96.0.1";
  private static final String LB_IP = "192.168.1.200";
  private static final int API_PORT = 6443;
  private static final int HOST_PORT = 2222;

  private Lab lab;
  private Lab.Node node1;
  private Lab.Node node2;
  private Lab.Pod client;
  private Lab.Pod nginx;
  private CommandRunner node;
  @TempDir Path tmp;

  @BeforeAll
  void buildLab() {
    KernelTests.requireIpvs("IPVS doctor reproductions");
    lab = Lab.create(new ProcessCommandRunner(), 2);
    node1 = lab.node("node1");
    node2 = lab.node("node2");
    node = lab.runner().inNetns(node1.netns());
    client = lab.addPod("node1", "client");
    nginx = lab.addPod("node2", "nginx");
    lab.startBackend(nginx, 80);
    lab.startBackend(new Lab.Pod("apiserver", node2.netns(), node2.ip(), node2), API_PORT);
    // A listener of the node itself on its own address (say, an agent of the host).
    lab.startBackend(new Lab.Pod("node1-host", node1.netns(), node1.ip(), node1), HOST_PORT);
    Lab.Client clb = lab.addClient("clb");
    lab.in(clb.netns(), "ip", "addr", "add", LB_IP + "/32", "dev", "eth0");
    lab.startBackend(new Lab.Pod("clb-443", clb.netns(), LB_IP, null), 443);
    for (Lab.Node n : lab.nodes()) {
      lab.route(n.netns(), LB_IP, clb.ip());
    }
    lab.in(node1.netns(), "ip", "link", "add", "kube-ipvs0", "type", "dummy");
    lab.in(node1.netns(), "sysctl", "-q", "-w", "net.ipv4.vs.conntrack=1");
  }

  @AfterAll
  void tearDown() {
    if (lab != null) {
      lab.close();
    }
  }

  // --- seed 000 ----------------------------------------------------------------------------------

  @Test
  void seed000_noClusterCidr_missingClusterCidrAndVipAsSource_clearedByClusterCidrRule()
      throws Exception {
    // kube-proxy 1.9 without --cluster-cidr: only the NodePort rule marks anything.
    load(
        List.of(VIP),
        "-A -t "
            + VIP
            + ":443 -s rr -p 10800\n-a -t "
            + VIP
            + ":443 -r "
            + node2.ip()
            + ":"
            + API_PORT
            + " -m -w 1\n",
        "create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536\n"
            + "add KUBE-CLUSTER-IP "
            + VIP
            + ",tcp:443\n"
            + "create KUBE-NODE-PORT-TCP bitmap:port range 0-65535\n",
        "-A KUBE-SERVICES -p tcp -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ\n",
        "");
    assertThatOutcome(lab.connect(node1.netns(), VIP, 443, Duration.ofSeconds(4)))
        .isEqualTo(Connection.Outcome.TIMED_OUT);

    LiveAndBundle lb = LiveAndBundle.on(node, Optional.empty());
    LiveAndBundle.Named cidrNamed = lb.named("missing-cluster-cidr", tmp.resolve("seed000"));
    LiveAndBundle.Named vipNamed = lb.named("vip-as-source", tmp.resolve("seed000-vip"));
    Finding vip = vipNamed.live();
    assertThat(vip.evidence())
        .anySatisfy(e -> assertThat(e.text()).isEqualTo("kube-ipvs0: inet " + VIP + "/32"))
        .anySatisfy(
            e ->
                assertThat(e.text())
                    .startsWith(
                        "from the node: leaves " + VIP + " -> " + node2.ip() + ":" + API_PORT)
                    .contains("not masqueraded")
                    .contains("REPLY_NOT_ROUTED_BACK"));

    Path dir = cidrNamed.dir();
    Finding cidr = cidrNamed.bundle();
    assertThat(cidr.summary()).contains("without --cluster-cidr");
    // The cited NodePort rule is where the bundle says, counted here from the file itself.
    assertCitedLines(dir, cidr, "KUBE-NODE-PORT-TCP");

    // The fix: what kube-proxy writes with --cluster-cidr=<pod CIDR> (no kube-proxy runs in this
    // lab: the rule it renders from the flag, written by hand). It clears vip-as-source too.
    lb.clearedBy(
        cidrNamed,
        () -> {
          lab.runner()
              .inNetns(node1.netns())
              .run(
                  "iptables",
                  "-t",
                  "nat",
                  "-I",
                  "KUBE-SERVICES",
                  "!",
                  "-s",
                  Lab.CLUSTER_CIDR,
                  "-m",
                  "set",
                  "--match-set",
                  "KUBE-CLUSTER-IP",
                  "dst,dst",
                  "-j",
                  "KUBE-MARK-MASQ")
              .orThrow();
          node.run("conntrack", "-F");
        },
        "--cluster-cidr=");
    lb.clearedBy(vipNamed, () -> {}, "--cluster-cidr=");
    Connection c = lab.connect(node1.netns(), VIP, 443, TimeScale.scale(Duration.ofSeconds(3)));
    assertThat(c.outcome()).as("%s", c).isEqualTo(Connection.Outcome.REPLIED);
    assertThat(c.peer()).isEqualTo(node1.ip());
  }

  // --- seed 001 ----------------------------------------------------------------------------------

  @Test
  void seed001_lbIpBound_port443Refused_lbIpBoundLocally_clearedByNotBinding() throws Exception {
    String lbVs =
        "-A -t " + LB_IP + ":80 -s rr\n-a -t " + LB_IP + ":80 -r " + nginx.ip() + ":80 -m -w 1\n";
    String sets =
        "create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536\n"
            + "create KUBE-LOAD-BALANCER hash:ip,port family inet hashsize 1024 maxelem 65536\n"
            + "add KUBE-LOAD-BALANCER "
            + LB_IP
            + ",tcp:80\n"
            + "create KUBE-IPVS-IPS hash:ip family inet hashsize 1024 maxelem 65536\n"
            + "add KUBE-IPVS-IPS "
            + LB_IP
            + "\n";
    String filter =
        "-A KUBE-IPVS-FILTER -m set --match-set KUBE-LOAD-BALANCER dst,dst -j RETURN\n"
            + "-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst"
            + " -j REJECT\n";
    load(List.of(LB_IP), lbVs, sets, MASQ_ALL_CLUSTER_IPS, filter);
    assertThat(lab.connect(client.netns(), LB_IP, 80, scaled()).backend()).isEqualTo("nginx");
    assertThatOutcome(lab.connect(client.netns(), LB_IP, 443, scaled()))
        .isEqualTo(Connection.Outcome.REFUSED);

    LiveAndBundle lb = LiveAndBundle.on(node, Optional.empty());
    LiveAndBundle.Named named = lb.named("lb-ip-bound-locally", tmp.resolve("seed001"));
    Finding live = named.live();
    assertThat(live.summary())
        .contains("LoadBalancer IP " + LB_IP)
        .contains("port 443 is rejected by filter KUBE-IPVS-FILTER rule 2");
    Path dir = named.dir();
    Finding fromBundle = named.bundle();
    assertThat(fromBundle.evidence())
        .extracting(Evidence::where)
        .anyMatch(w -> w.startsWith("ipset-save.txt:"))
        .anyMatch(w -> w.startsWith("ipvsadm-save.txt:"));
    assertCitedLines(dir, fromBundle, "add KUBE-LOAD-BALANCER " + LB_IP);

    // The fix (ipMode: Proxy, or the hostname annotation): kube-proxy binds nothing for the LB.
    lb.clearedBy(
        named,
        () ->
            load(
                List.of(),
                "",
                sets.replace("add KUBE-LOAD-BALANCER " + LB_IP + ",tcp:80\n", "")
                    .replace("add KUBE-IPVS-IPS " + LB_IP + "\n", ""),
                MASQ_ALL_CLUSTER_IPS,
                filter),
        "ipMode: Proxy");
    Connection c = lab.connect(client.netns(), LB_IP, 443, scaled());
    assertThat(c.outcome()).as("%s", c).isEqualTo(Connection.Outcome.REPLIED);
    assertThat(c.backend()).isEqualTo("clb-443");
  }

  // --- externalip-is-node-ip ---------------------------------------------------------------------

  @Test
  void externalIpIsNodeIp_hostListenerHijacked_named_clearedByRemovingIt() throws Exception {
    Connection before = lab.connect(node1.netns(), node1.ip(), HOST_PORT, scaled());
    assertThat(before.backend()).as("%s", before).isEqualTo("node1-host");
    String eip = node1.ip();
    load(
        List.of(eip),
        "-A -t "
            + eip
            + ":"
            + HOST_PORT
            + " -s rr\n-a -t "
            + eip
            + ":"
            + HOST_PORT
            + " -r "
            + nginx.ip()
            + ":80 -m -w 1\n",
        "create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536\n"
            + "create KUBE-EXTERNAL-IP hash:ip,port family inet hashsize 1024 maxelem 65536\n"
            + "add KUBE-EXTERNAL-IP "
            + eip
            + ",tcp:"
            + HOST_PORT
            + "\n",
        MASQ_ALL_CLUSTER_IPS
            + "-A KUBE-SERVICES -m set --match-set KUBE-EXTERNAL-IP dst,dst"
            + " -j KUBE-MARK-MASQ\n",
        "");
    // The node's own listener on its own address is gone: IPVS hands the connection to nginx.
    Connection hijacked = lab.connect(node1.netns(), eip, HOST_PORT, scaled());
    assertThat(hijacked.backend()).as("%s", hijacked).isEqualTo("nginx");

    LiveAndBundle lb = LiveAndBundle.on(node, Optional.empty());
    LiveAndBundle.Named named = lb.named("externalip-is-node-ip", tmp.resolve("eip"));
    Finding live = named.live();
    assertThat(live.summary()).contains(eip).contains("TCP " + eip + ":" + HOST_PORT);
    assertThat(live.evidence())
        .extracting(Evidence::text)
        .contains("kube-ipvs0: inet " + eip + "/32", "eth0: inet " + eip + "/24");
    assertCitedLines(named.dir(), named.bundle(), "add KUBE-EXTERNAL-IP " + eip);

    // The fix: the external IP removed from the Service; kube-proxy unbinds it and drops the VS.
    lb.clearedBy(
        named,
        () -> {
          node.run("ipvsadm", "-C").orThrow();
          node.run("ip", "addr", "del", eip + "/32", "dev", "kube-ipvs0").orThrow();
        },
        "Remove the node's address from the Service's spec.externalIPs",
        "ip addr del " + eip);
    Connection after = lab.connect(node1.netns(), eip, HOST_PORT, scaled());
    assertThat(after.backend()).as("%s", after).isEqualTo("node1-host");
  }

  // --- host-firewall-rejects-vip -----------------------------------------------------------------

  @Test
  void firewalldRejectsInInput_podToClusterIpFails_named_clearedByAcceptingClusterIps()
      throws Exception {
    // firewalld's INPUT as it ends, on a node in IPVS mode.
    load(
        List.of(VIP),
        "-A -t " + VIP + ":80 -s rr\n-a -t " + VIP + ":80 -r " + nginx.ip() + ":80 -m -w 1\n",
        "create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536\n"
            + "add KUBE-CLUSTER-IP "
            + VIP
            + ",tcp:80\n",
        MASQ_ALL_CLUSTER_IPS,
        "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
            + "-A INPUT -i lo -j ACCEPT\n"
            + "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n"
            + "-A INPUT -j REJECT --reject-with icmp-host-prohibited\n");
    Connection broken = lab.connect(client.netns(), VIP, 80, scaled());
    assertThat(broken.outcome()).as("%s", broken).isNotEqualTo(Connection.Outcome.REPLIED);
    assertThat(broken.detail()).contains("No route to host");

    LiveAndBundle lb = LiveAndBundle.on(node, Optional.empty());
    LiveAndBundle.Named named = lb.named("host-firewall-rejects-vip", tmp.resolve("firewall"));
    Finding live = named.live();
    assertThat(live.summary()).contains("TCP " + VIP + ":80");
    assertThat(live.evidence())
        .extracting(Evidence::text)
        .contains("-A INPUT -j REJECT --reject-with icmp-host-prohibited");
    assertCitedLines(named.dir(), named.bundle(), "icmp-host-prohibited");

    // The fix the finding gives: accept Service traffic before the firewall's reject.
    lb.clearedBy(
        named,
        () ->
            node.run(
                    "iptables",
                    "-I",
                    "INPUT",
                    "-m",
                    "set",
                    "--match-set",
                    "KUBE-CLUSTER-IP",
                    "dst,dst",
                    "-j",
                    "ACCEPT")
                .orThrow(),
        "iptables -I INPUT -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT");
    assertThat(lab.connect(client.netns(), VIP, 80, scaled()).backend()).isEqualTo("nginx");
  }

  // --- etp-local-empty-virtual-server, etp-local-no-snat-remote-endpoints ------------------------

  @Test
  void etpLocal_before124EmptyVirtualServer_then124NodeSourceNotMasqueraded_namedAndFixed()
      throws Exception {
    String sets =
        "create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536\n"
            + "create KUBE-LOAD-BALANCER hash:ip,port family inet hashsize 1024 maxelem 65536\n"
            + "add KUBE-LOAD-BALANCER "
            + LB_IP
            + ",tcp:80\n"
            + "create KUBE-LOAD-BALANCER-LOCAL hash:ip,port family inet hashsize 1024 maxelem"
            + " 65536\n"
            + "add KUBE-LOAD-BALANCER-LOCAL "
            + LB_IP
            + ",tcp:80\n";
    String lbRules =
        MASQ_ALL_CLUSTER_IPS
            + "-A KUBE-SERVICES -m set --match-set KUBE-LOAD-BALANCER dst,dst -j KUBE-LOAD-BALANCER\n"
            + "-A KUBE-LOAD-BALANCER -m set --match-set KUBE-LOAD-BALANCER-LOCAL dst,dst -j RETURN\n"
            + "-A KUBE-LOAD-BALANCER -j KUBE-MARK-MASQ\n";
    // kube-proxy 1.22 on a node without nginx: the eTP=Local virtual server is empty.
    load(List.of(LB_IP), "-A -t " + LB_IP + ":80 -s rr\n", sets, lbRules, "");
    assertThatOutcome(lab.connect(client.netns(), LB_IP, 80, scaled()))
        .isEqualTo(Connection.Outcome.REFUSED);
    LiveAndBundle lb = LiveAndBundle.on(node, Optional.empty());
    LiveAndBundle.Named emptyNamed =
        lb.named("etp-local-empty-virtual-server", tmp.resolve("etp-empty"));
    assertThat(emptyNamed.live().summary()).contains("TCP " + LB_IP + ":80");
    assertCitedLines(
        emptyNamed.dir(), emptyNamed.bundle(), "add KUBE-LOAD-BALANCER-LOCAL " + LB_IP);

    // The fix: kube-proxy 1.24+ (PR #97081) gives in-cluster traffic every endpoint.
    lb.clearedBy(
        emptyNamed,
        () ->
            stdin(
                List.of("ipvsadm", "-R"),
                "-a -t " + LB_IP + ":80 -r " + nginx.ip() + ":80 -m -w 1\n"),
        "Upgrade kube-proxy to 1.24 or later");
    assertThat(lab.connect(client.netns(), LB_IP, 80, scaled()).backend()).isEqualTo("nginx");
    DoctorReport after = live();
    assertThat(ids(after)).doesNotContain("vip-as-source");

    // ... where the node's own connection leaves as the LB IP, unmasqueraded, and hangs.
    assertThatOutcome(lab.connect(node1.netns(), LB_IP, 80, Duration.ofSeconds(4)))
        .isEqualTo(Connection.Outcome.TIMED_OUT);
    LiveAndBundle.Named noSnatNamed =
        lb.named("etp-local-no-snat-remote-endpoints", tmp.resolve("etp-nosnat"));
    assertThat(noSnatNamed.live().evidence())
        .extracting(Evidence::text)
        .anyMatch(
            t -> t.startsWith("from the node: leaves " + LB_IP + " -> " + nginx.ip() + ":80"));
    assertCitedLines(noSnatNamed.dir(), noSnatNamed.bundle(), "-A -t " + LB_IP + ":80");

    // The fix given for when the client address is not needed: externalTrafficPolicy: Cluster
    // (kube-proxy takes the address out of the -LOCAL set).
    lb.clearedBy(
        noSnatNamed,
        () -> {
          node.run("ipset", "del", "KUBE-LOAD-BALANCER-LOCAL", LB_IP + ",tcp:80").orThrow();
          node.run("conntrack", "-F");
        },
        "externalTrafficPolicy: Cluster");
    assertThat(lab.connect(node1.netns(), LB_IP, 80, scaled()).backend()).isEqualTo("nginx");
  }

  // --- ipset-missing -----------------------------------------------------------------------------

  @Test
  void ipsetsMissing_virtualServersOnly_nodeToVipHangs_named_clearedBySetsAndRules()
      throws Exception {
    String vs =
        "-A -t "
            + VIP
            + ":443 -s rr\n-a -t "
            + VIP
            + ":443 -r "
            + node2.ip()
            + ":"
            + API_PORT
            + " -m -w 1\n";
    // kube-proxy could not create its sets: virtual servers and kube-ipvs0, no set-based rules.
    load(List.of(VIP), vs, "", "", "");
    assertThatOutcome(lab.connect(node1.netns(), VIP, 443, Duration.ofSeconds(4)))
        .isEqualTo(Connection.Outcome.TIMED_OUT);
    LiveAndBundle lb = LiveAndBundle.on(node, Optional.empty());
    LiveAndBundle.Named named = lb.named("ipset-missing", tmp.resolve("ipsets"));
    assertThat(named.live().summary()).contains("KUBE-CLUSTER-IP, KUBE-LOOP-BACK");
    assertCitedLines(named.dir(), named.bundle(), "-A -t " + VIP + ":443");

    // The fix: ipset working, kube-proxy restarted: its sets and the rules that use them.
    lb.clearedBy(
        named,
        () ->
            load(
                List.of(VIP),
                vs,
                "create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536\n"
                    + "add KUBE-CLUSTER-IP "
                    + VIP
                    + ",tcp:443\n"
                    + "create KUBE-LOOP-BACK hash:ip,port,ip family inet hashsize 1024 maxelem"
                    + " 65536\n",
                MASQ_ALL_CLUSTER_IPS,
                ""),
        "restart kube-proxy");
    assertThatOutcome(lab.connect(node1.netns(), VIP, 443, scaled()))
        .isEqualTo(Connection.Outcome.REPLIED);
  }

  // --- localhost-nodeport-unsupported ------------------------------------------------------------

  @Test
  void nodePort_localhostRefusedNodeIpServed_namedLocalhostNodePortUnsupported() throws Exception {
    int nodePort = 30080;
    load(
        List.of(),
        "-A -t "
            + node1.ip()
            + ":"
            + nodePort
            + " -s rr\n-a -t "
            + node1.ip()
            + ":"
            + nodePort
            + " -r "
            + nginx.ip()
            + ":80 -m -w 1\n",
        "create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536\n"
            + "create KUBE-LOOP-BACK hash:ip,port,ip family inet hashsize 1024 maxelem 65536\n"
            + "create KUBE-NODE-PORT-TCP bitmap:port range 0-65535\n"
            + "add KUBE-NODE-PORT-TCP "
            + nodePort
            + "\n",
        MASQ_ALL_CLUSTER_IPS
            + "-A KUBE-SERVICES -p tcp -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ\n",
        "");
    assertThatOutcome(lab.connect(node1.netns(), "127.0.0.1", nodePort, scaled()))
        .isEqualTo(Connection.Outcome.REFUSED);

    LiveAndBundle.Named named =
        LiveAndBundle.on(node, Optional.empty())
            .named("localhost-nodeport-unsupported", tmp.resolve("localhost"));
    Finding live = named.live();
    assertThat(live.severity()).isEqualTo(Severity.INFO);
    assertThat(live.summary()).contains("localhost:" + nodePort);
    assertCitedLines(named.dir(), named.bundle(), "-A -t " + node1.ip() + ":" + nodePort);
    // A limit of the mode: nothing clears it; the finding's workaround is what the test does.
    assertThat(live.fix()).contains("Connect to the node's own address");
    // What the finding advises instead: the node's own address serves the NodePort.
    assertThat(lab.connect(node1.netns(), node1.ip(), nodePort, scaled()).backend())
        .isEqualTo("nginx");
  }

  // --- helpers -----------------------------------------------------------------------------------

  /**
   * A working ClusterIP masquerade rule (masquerade-all), so only the case under test is broken.
   */
  private static final String MASQ_ALL_CLUSTER_IPS =
      "-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ\n";

  /**
   * node1 as kube-proxy's IPVS mode leaves it: {@code bound} on kube-ipvs0, {@code ipvs} virtual
   * servers, {@code sets}, and the nat table with {@code servicesRules} in KUBE-SERVICES and the
   * filter table with {@code filterRules} in KUBE-IPVS-FILTER.
   */
  private void load(
      List<String> bound, String ipvs, String sets, String servicesRules, String filterRules) {
    node.run("ip", "addr", "flush", "dev", "kube-ipvs0");
    node.run("ipvsadm", "-C");
    node.run("conntrack", "-F");
    for (String t : List.of("nat", "filter")) {
      node.run("iptables", "-t", t, "-F");
      node.run("iptables", "-t", t, "-X");
    }
    node.run("ipset", "destroy");
    for (String ip : bound) {
      lab.in(node1.netns(), "ip", "addr", "add", ip + "/32", "dev", "kube-ipvs0");
    }
    if (!ipvs.isEmpty()) {
      stdin(List.of("ipvsadm", "-R"), ipvs);
    }
    if (!sets.isEmpty()) {
      stdin(List.of("ipset", "restore"), sets);
    }
    stdin(
        List.of("iptables-restore", "--noflush"),
        "*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-POSTROUTING - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n"
            + ":KUBE-LOAD-BALANCER - [0:0]\n"
            + "-A PREROUTING -j KUBE-SERVICES\n-A OUTPUT -j KUBE-SERVICES\n"
            + "-A POSTROUTING -j KUBE-POSTROUTING\n"
            // The CNI's own rule (flannel's): pods reach off-cluster addresses from the node's IP.
            + "-A POSTROUTING -s "
            + Lab.CLUSTER_CIDR
            + " ! -d "
            + Lab.CLUSTER_CIDR
            + " -j MASQUERADE\n"
            + "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000\n"
            + "-A KUBE-POSTROUTING -m mark --mark 0x4000/0x4000 -j MASQUERADE\n"
            + servicesRules
            + "COMMIT\n*filter\n:KUBE-IPVS-FILTER - [0:0]\n-A INPUT -j KUBE-IPVS-FILTER\n"
            + filterRules
            + "COMMIT\n");
  }

  private void stdin(List<String> argv, String in) {
    node.run(argv, in, TimeScale.scale(Duration.ofSeconds(20))).orThrow();
  }

  private DoctorReport live() {
    DoctorReport r = Doctor.standard().examine(DoctorInputs.live(node, Optional.empty()));
    System.out.println(DoctorFormatter.text(r));
    return r;
  }

  private static List<String> ids(DoctorReport r) {
    return r.findings().stream().map(Finding::id).toList();
  }

  /**
   * The evidence naming {@code file:N} and containing {@code mark} cites line N of the bundle as it
   * is on disk.
   */
  private static void assertCitedLines(Path dir, Finding f, String mark) throws Exception {
    Evidence e =
        f.evidence().stream()
            .filter(x -> x.text().contains(mark) && x.where().matches("[^:]+:\\d+"))
            .findFirst()
            .orElseThrow(() -> new AssertionError("no line evidence with " + mark + ": " + f));
    String[] w = e.where().split(":");
    List<String> lines = Files.readAllLines(dir.resolve(w[0]));
    assertThat(lines.get(Integer.parseInt(w[1]) - 1).strip()).endsWith(e.text());
  }

  private static Duration scaled() {
    return TimeScale.scale(Duration.ofSeconds(3));
  }

  private static org.assertj.core.api.AbstractComparableAssert<?, Connection.Outcome>
      assertThatOutcome(Connection c) {
    return assertThat(c.outcome()).as("%s", c);
  }
}
