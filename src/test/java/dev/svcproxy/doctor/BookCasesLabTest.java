package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.lab.Connection;
import dev.svcproxy.lab.DemoCluster;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.testutil.DemoClusterExtension;
import dev.svcproxy.testutil.LiveAndBundle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The book's cases of tools beside kube-proxy (Docker, flannel/Calico, NodeLocal DNSCache, a
 * leftover CNI config), each built on a lab node with the rules the tool installs, shown broken by
 * a real connection, named by the doctor live and on a captured bundle, and cleared by its fix.
 */
class BookCasesLabTest {
  @RegisterExtension static final DemoClusterExtension demo = DemoClusterExtension.iptables();
  private final DemoCluster cluster = demo.cluster();
  private final Lab lab = demo.lab();
  @TempDir Path tmp;

  private CommandRunner node(String name) {
    return lab.runner().inNetns(lab.node(name).netns());
  }

  private static List<Finding> findings(DoctorInput in, String id) {
    DoctorReport r = Doctor.standard().examine(in);
    // A check that threw shows up as a warning: fail on it rather than on a missing finding.
    assertThat(r.warnings()).as(DoctorFormatter.text(r)).noneMatch(w -> w.startsWith("check "));
    return r.findings().stream().filter(f -> f.id().equals(id)).toList();
  }

  private List<Finding> live(String nodeName, String id) {
    return findings(DoctorInputs.live(node(nodeName), Optional.of(cluster.manifests())), id);
  }

  /** The doctor on node1 live and on bundles captured from it, with the cluster's objects. */
  private LiveAndBundle node1() {
    return LiveAndBundle.on(node("node1"), Optional.of(cluster.manifests()));
  }

  /** {@code id} named on node1 live and on a bundle captured into tmp/{@code dir}. */
  private LiveAndBundle.Named named(String id, String dir) {
    return node1().named(id, tmp.resolve(dir));
  }

  /**
   * The line a bundle evidence names, read back from the file independently (a rule without the
   * counters the capture saves).
   */
  private static String line(Path dir, Evidence e) throws Exception {
    String[] parts = e.where().split(":");
    assertThat(parts).hasSize(2);
    return dev.svcproxy.netfilter.Rule.withoutCounters(
        Files.readAllLines(dir.resolve(parts[0])).get(Integer.parseInt(parts[1]) - 1).strip());
  }

  private void restore(String netns, String rules) {
    lab.runner()
        .inNetns(netns)
        .run(List.of("iptables-restore", "--noflush"), rules, java.time.Duration.ofSeconds(30))
        .orThrow();
  }

  @Test
  void forwardPolicyDrop_dockerOnNode_namedLiveAndOnBundle_clearedByFix() throws Exception {
    Lab.Node n1 = lab.node("node1");
    String client = lab.pod("client").netns();
    // web-local's only endpoint is web-b on node2: the client pod's connection is forwarded.
    assertThat(lab.connect(client, DemoCluster.WEB_LOCAL, 80).outcome())
        .isEqualTo(Connection.Outcome.REPLIED);
    lab.in(n1.netns(), "ip", "link", "add", "docker0", "type", "bridge");
    lab.in(n1.netns(), "ip", "addr", "add", "172.17.0.1/16", "dev", "docker0");
    lab.in(n1.netns(), "ip", "link", "set", "docker0", "up");
    restore(n1.netns(), BookRules.docker());
    try {
      assertThat(lab.connect(client, DemoCluster.WEB_LOCAL, 80).outcome())
          .isEqualTo(Connection.Outcome.TIMED_OUT);
      // From outside the NodePort still works: KUBE-FORWARD accepts the masqueraded packets.
      assertThat(
              lab.connect(lab.client("ext").netns(), n1.ip(), DemoCluster.WEB_NODEPORT).outcome())
          .isEqualTo(Connection.Outcome.REPLIED);

      LiveAndBundle.Named named = named("forward-policy-drop", "fwd");
      Finding f = named.live();
      assertThat(f.severity()).isEqualTo(Severity.ERROR);
      assertThat(f.evidence().get(0).where()).startsWith("$ iptables-save (line ");
      assertThat(f.evidence().get(0).text()).startsWith(":FORWARD DROP");
      assertThat(f.evidence())
          .extracting(Evidence::text)
          .contains("-A FORWARD -j DOCKER-USER")
          .anyMatch(t -> t.contains(DemoCluster.WEB_LOCAL + ":80") && t.contains("policy DROP"));

      Path dir = named.dir();
      List<Finding> fromBundle = List.of(named.bundle());
      Evidence policy = fromBundle.get(0).evidence().get(0);
      assertThat(policy.where()).startsWith("iptables-save.txt:");
      assertThat(line(dir, policy)).startsWith(":FORWARD DROP");
      // The node itself is not affected: node2 has no finding.
      assertThat(live("node2", "forward-policy-drop")).isEmpty();

      // The fix the finding gives: accept the pod network in FORWARD. The doctor learns the
      // cluster's pod network from the running proxy's --cluster-cidr (the lab starts it so).
      String cidr = Lab.CLUSTER_CIDR;
      node1()
          .clearedBy(
              named,
              () -> {
                lab.in(n1.netns(), "iptables", "-A", "FORWARD", "-s", cidr, "-j", "ACCEPT");
                lab.in(n1.netns(), "iptables", "-A", "FORWARD", "-d", cidr, "-j", "ACCEPT");
              },
              "iptables -A FORWARD -s " + cidr + " -j ACCEPT",
              "iptables -A FORWARD -d " + cidr + " -j ACCEPT");
      assertThat(lab.connect(client, DemoCluster.WEB_LOCAL, 80).outcome())
          .isEqualTo(Connection.Outcome.REPLIED);
    } finally {
      lab.runner()
          .inNetns(n1.netns())
          .run("iptables", "-D", "FORWARD", "-s", Lab.CLUSTER_CIDR, "-j", "ACCEPT");
      lab.runner()
          .inNetns(n1.netns())
          .run("iptables", "-D", "FORWARD", "-d", Lab.CLUSTER_CIDR, "-j", "ACCEPT");
      lab.in(n1.netns(), "iptables", "-P", "FORWARD", "ACCEPT");
      undo(n1.netns(), BookRules.docker());
      lab.in(n1.netns(), "ip", "link", "del", "docker0");
    }
  }

  private static final String KUBE_DNS = "10.96.0.20";
  private static final String LOCAL_DNS = "169.254.20.10";

  /** kube-dns as a Service on 53 (TCP and UDP) whose endpoints are the lab's web backends. */
  private void addKubeDns() {
    cluster.writeManifest(
        "kube-dns.yaml",
        """
        apiVersion: v1
        kind: Service
        metadata: {namespace: kube-system, name: kube-dns}
        spec:
          type: ClusterIP
          clusterIP: %s
          ports:
          - {name: dns-tcp, port: 53, protocol: TCP, targetPort: %d}
          - {name: dns, port: 53, protocol: UDP, targetPort: %d}
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata:
          namespace: kube-system
          name: kube-dns-1
          labels: {kubernetes.io/service-name: kube-dns}
        addressType: IPv4
        ports:
        - {name: dns-tcp, port: %d, protocol: TCP}
        - {name: dns, port: %d, protocol: UDP}
        endpoints:
        - addresses: [%s]
          nodeName: node1
        - addresses: [%s]
          nodeName: node2
        """
            .formatted(
                KUBE_DNS,
                DemoCluster.BACKEND_PORT,
                DemoCluster.BACKEND_PORT,
                DemoCluster.BACKEND_PORT,
                DemoCluster.BACKEND_PORT,
                lab.pod("web-a").ip(),
                lab.pod("web-b").ip()));
  }

  private Connection awaitReply(String netns, String ip, int port) {
    Connection c = lab.connect(netns, ip, port);
    for (int i = 0; i < 40 && c.outcome() != Connection.Outcome.REPLIED; i++) {
      sleep(250);
      c = lab.connect(netns, ip, port);
    }
    return c;
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  @Test
  void nodeLocalDns_cacheRunning_isInfo_leftoverRules_namedLiveAndOnBundle_clearedByFix()
      throws Exception {
    Lab.Node n1 = lab.node("node1");
    String client = lab.pod("client").netns();
    addKubeDns();
    assertThat(awaitReply(client, KUBE_DNS, 53).backend()).startsWith("web-");
    List<List<String>> rules = BookRules.nodeLocalDns(KUBE_DNS, "53", "8080");
    // node-cache's setup: a dummy interface with its link-local address and the kube-dns ClusterIP,
    // the rules for both addresses, and the cache listening on them (a hostNetwork pod).
    // node-cache makes a dummy device; this kernel may lack the dummy module, and a bridge without
    // ports holds local addresses the same way.
    lab.in(n1.netns(), "ip", "link", "add", "nodelocaldns", "type", "bridge");
    lab.in(n1.netns(), "ip", "link", "set", "nodelocaldns", "up");
    lab.in(n1.netns(), "ip", "addr", "add", LOCAL_DNS + "/32", "dev", "nodelocaldns");
    lab.in(n1.netns(), "ip", "addr", "add", KUBE_DNS + "/32", "dev", "nodelocaldns");
    for (List<String> r : rules) {
      lab.in(n1.netns(), concat("iptables", r));
    }
    for (List<String> r : BookRules.nodeLocalDns(LOCAL_DNS, "53", "8080")) {
      lab.in(n1.netns(), concat("iptables", r));
    }
    var cache =
        lab.spawn(
            n1.netns(),
            List.of(
                "socat",
                "TCP-LISTEN:53,bind=" + KUBE_DNS + ",fork,reuseaddr",
                "SYSTEM:echo nodelocaldns $SOCAT_PEERADDR"),
            tmp.resolve("cache.log"));
    try {
      assertThat(awaitReply(client, KUBE_DNS, 53).backend()).isEqualTo("nodelocaldns");
      List<Finding> info = live("node1", "nodelocaldns-notrack");
      assertThat(info).isNotEmpty().allMatch(f -> f.severity() == Severity.INFO);
      assertThat(info.get(0).summary()).contains(KUBE_DNS + ":53").contains("nodelocaldns");
      assertThat(live("node1", "nodelocaldns-leftover-notrack")).isEmpty();

      // The cache goes without tearing down its rules (killed, or its saved rules restored at
      // boot): its listener and interface are gone, the NOTRACK rules stay.
      cache.close();
      lab.in(n1.netns(), "ip", "link", "del", "nodelocaldns");
      assertThat(lab.connect(client, KUBE_DNS, 53).outcome())
          .isEqualTo(Connection.Outcome.TIMED_OUT);

      assertThat(live("node1", "nodelocaldns-leftover-notrack")).isNotEmpty();
      LiveAndBundle tcpOnly = node1().which(f -> f.summary().contains(KUBE_DNS + ":53/tcp"));
      LiveAndBundle.Named named =
          tcpOnly.named("nodelocaldns-leftover-notrack", tmp.resolve("nodelocaldns"));
      Finding tcp = named.live();
      assertThat(tcp.severity()).isEqualTo(Severity.ERROR);
      assertThat(tcp.evidence().get(0).text())
          .isEqualTo("-A PREROUTING -d " + KUBE_DNS + "/32 -p tcp -m tcp --dport 53 -j NOTRACK");
      assertThat(live("node1", "nodelocaldns-notrack")).isEmpty();

      Path dir = named.dir();
      Finding b = named.bundle();
      assertThat(b.evidence().get(0).where()).startsWith("iptables-save.txt:");
      assertThat(line(dir, b.evidence().get(0)))
          .isEqualTo("-A PREROUTING -d " + KUBE_DNS + "/32 -p tcp -m tcp --dport 53 -j NOTRACK");

      // The fix: delete the leftover rules; kube-proxy's DNAT applies again.
      tcpOnly.clearedBy(
          named,
          () -> {
            for (List<String> r : rules) {
              lab.in(n1.netns(), concat("iptables", deleting(r)));
            }
          },
          "iptables -t raw -D PREROUTING -d "
              + KUBE_DNS
              + "/32 -p tcp -m tcp --dport 53 -j NOTRACK");
      assertThat(live("node1", "nodelocaldns-leftover-notrack")).isEmpty();
      assertThat(lab.connect(client, KUBE_DNS, 53).backend()).startsWith("web-");
    } finally {
      cache.close();
      lab.runner().inNetns(n1.netns()).run("ip", "link", "del", "nodelocaldns");
      for (List<String> r : rules) {
        lab.runner().inNetns(n1.netns()).run(concat("iptables", deleting(r)));
      }
      for (List<String> r : BookRules.nodeLocalDns(LOCAL_DNS, "53", "8080")) {
        lab.runner().inNetns(n1.netns()).run(concat("iptables", deleting(r)));
      }
    }
  }

  /** A host-network server on the external client (the book's master at 192.168.21.11:6443). */
  private void serveOn(String netns, int port, String name) {
    lab.spawn(
        netns,
        List.of(
            "socat",
            "TCP-LISTEN:" + port + ",fork,reuseaddr",
            "SYSTEM:echo " + name + " $SOCAT_PEERADDR"),
        tmp.resolve(name + "-" + port + ".log"));
    for (int i = 0; i < 40; i++) {
      if (!lab.runner().inNetns(netns).run("ss", "-Hltn", "sport = :" + port).stdout().isBlank()) {
        return;
      }
      sleep(100);
    }
    throw new IllegalStateException("not listening: " + name);
  }

  /** A Calico-style pod on node1: a cali veth without address, a /32 route, proxy ARP. */
  private String calicoPod(String ip) {
    Lab.Node n1 = lab.node("node1");
    String ns = lab.prefix() + "-calipod";
    lab.runner().run("ip", "netns", "add", ns).orThrow();
    lab.in(ns, "ip", "link", "set", "lo", "up");
    lab.in(
        n1.netns(), "ip", "link", "add", CALI, "type", "veth", "peer", "name", "eth0", "netns", ns);
    lab.in(n1.netns(), "ip", "link", "set", CALI, "up");
    lab.in(n1.netns(), "sysctl", "-q", "-w", "net.ipv4.conf." + CALI + ".proxy_arp=1");
    lab.in(n1.netns(), "sysctl", "-q", "-w", "net.ipv4.neigh." + CALI + ".proxy_delay=0");
    lab.in(ns, "ip", "link", "set", "eth0", "up");
    calicoAddress(ns, null, ip);
    return ns;
  }

  private void calicoAddress(String ns, String old, String ip) {
    Lab.Node n1 = lab.node("node1");
    if (old != null) {
      lab.in(ns, "ip", "addr", "del", old + "/32", "dev", "eth0");
      lab.in(n1.netns(), "ip", "route", "del", old + "/32", "dev", CALI);
    }
    lab.in(ns, "ip", "addr", "add", ip + "/32", "dev", "eth0");
    lab.runner()
        .inNetns(ns)
        .run("ip", "route", "replace", "169.254.1.1", "dev", "eth0", "scope", "link")
        .orThrow();
    lab.runner()
        .inNetns(ns)
        .run("ip", "route", "replace", "default", "via", "169.254.1.1", "dev", "eth0")
        .orThrow();
    lab.in(n1.netns(), "ip", "route", "add", ip + "/32", "dev", CALI, "scope", "link");
  }

  private void calicoPools(String pool) {
    String n1 = lab.node("node1").netns();
    for (String set : List.of("cali40all-ipam-pools", "cali40masq-ipam-pools")) {
      lab.in(n1, "ipset", "create", "-exist", set, "hash:net");
      lab.in(n1, "ipset", "flush", set);
      lab.in(n1, "ipset", "add", set, pool);
    }
  }

  private static final String CALI = "cali1a2b3c4d5e6";

  @Test
  void podCidrOverlapsNodeNetwork_calicoPoolOverHostNetwork_namedLiveAndOnBundle_clearedByFix()
      throws Exception {
    Lab.Node n1 = lab.node("node1");
    Lab.Client master = lab.client("ext");
    serveOn(master.netns(), 6443, "apiserver");
    // Calico's default pool 192.168.0.0/16 covers the node network 192.168.77.0/24.
    calicoPools("192.168.0.0/16");
    restore(n1.netns(), BookRules.calicoNat());
    String pod = calicoPod("192.168.236.10");
    try {
      // The book's check: the node itself reaches the master, the pod does not.
      assertThat(lab.connect(n1.netns(), master.ip(), 6443).outcome())
          .isEqualTo(Connection.Outcome.REPLIED);
      assertThat(lab.connect(pod, master.ip(), 6443).outcome())
          .isEqualTo(Connection.Outcome.TIMED_OUT);

      LiveAndBundle.Named named = named("pod-cidr-overlaps-node-network", "calico");
      Finding f = named.live();
      assertThat(f.severity()).isEqualTo(Severity.ERROR);
      assertThat(f.summary()).contains("192.168.0.0/16").contains("192.168.77.0/24");
      assertThat(f.evidence())
          .extracting(Evidence::text)
          .contains("add cali40all-ipam-pools 192.168.0.0/16")
          .contains("eth0: inet " + n1.ip() + "/24")
          .anyMatch(t -> t.contains("cali-nat-outgoing") && t.contains("MASQUERADE"))
          .anyMatch(t -> t.contains("with source 192.168.236.10, not masqueraded"));

      Path dir = named.dir();
      List<Finding> fromBundle = List.of(named.bundle());
      Evidence pool = fromBundle.get(0).evidence().get(0);
      assertThat(pool.where()).startsWith("ipset-save.txt:");
      assertThat(line(dir, pool)).isEqualTo("add cali40all-ipam-pools 192.168.0.0/16");

      // The fix: a pool off the host network, and the pod recreated with an address from it.
      assertThat(f.fix()).contains("192.168.77.0/24");
      node1()
          .clearedBy(
              named,
              () -> {
                calicoPools("10.200.0.0/16");
                calicoAddress(pod, "192.168.236.10", "10.200.0.10");
              },
              "ippool",
              "recreate");
      Connection c = lab.connect(pod, master.ip(), 6443);
      assertThat(c.outcome()).isEqualTo(Connection.Outcome.REPLIED);
      assertThat(c.peer()).isEqualTo(n1.ip());
    } finally {
      lab.runner().run("ip", "netns", "del", pod);
      lab.runner()
          .inNetns(n1.netns())
          .run(
              "iptables",
              "-t",
              "nat",
              "-D",
              "POSTROUTING",
              "-m",
              "comment",
              "--comment",
              "cali:O3lYWMrLQYEMJtB5",
              "-j",
              "cali-POSTROUTING");
    }
  }

  @Test
  void cniConfigWrongSubnet_podmanBridgeLeftover_namedLiveAndOnBundle_clearedByFix()
      throws Exception {
    Lab.Node n1 = lab.node("node1");
    String from = lab.pod("web-b").netns();
    // podman's bridge config picked for one pod: cni-podman0 with 10.88.0.0/16, and the bridge
    // plugin's ipMasq chain for it.
    lab.in(n1.netns(), "ip", "link", "add", "cni-podman0", "type", "bridge");
    lab.in(n1.netns(), "ip", "addr", "add", "10.88.0.1/16", "dev", "cni-podman0");
    lab.in(n1.netns(), "ip", "link", "set", "cni-podman0", "up");
    String ns = lab.prefix() + "-podmanpod";
    lab.runner().run("ip", "netns", "add", ns).orThrow();
    String chain = "CNI-3c5f8e2a1b9d4c6e7f0a1b2c";
    try {
      lab.in(ns, "ip", "link", "set", "lo", "up");
      lab.in(
          n1.netns(),
          "ip",
          "link",
          "add",
          "vethpodman0",
          "type",
          "veth",
          "peer",
          "name",
          "eth0",
          "netns",
          ns);
      lab.in(n1.netns(), "ip", "link", "set", "vethpodman0", "master", "cni-podman0");
      lab.in(n1.netns(), "ip", "link", "set", "vethpodman0", "up");
      lab.in(ns, "ip", "addr", "add", "10.88.0.2/16", "dev", "eth0");
      lab.in(ns, "ip", "link", "set", "eth0", "up");
      lab.in(ns, "ip", "route", "add", "default", "via", "10.88.0.1");
      restore(
          n1.netns(), BookRules.bridgeIpMasq(chain, "10.88.0.2", "10.88.0.0/16", "3c5f8e2a1b9d"));
      serveOn(ns, DemoCluster.BACKEND_PORT, "podman-pod");
      // A pod of node2 reaches node1's properly addressed pod, not the one with the wrong subnet.
      assertThat(lab.connect(from, lab.pod("web-a").ip(), DemoCluster.BACKEND_PORT).outcome())
          .isEqualTo(Connection.Outcome.REPLIED);
      assertThat(lab.connect(from, "10.88.0.2", DemoCluster.BACKEND_PORT).outcome())
          .isEqualTo(Connection.Outcome.TIMED_OUT);

      LiveAndBundle.Named named = named("cni-config-wrong-subnet", "podman");
      Finding f = named.live();
      assertThat(f.severity()).isEqualTo(Severity.ERROR);
      assertThat(f.summary())
          .contains("cni-podman0")
          .contains("10.88.0.0/16")
          .contains("10.244.0.0/16");
      assertThat(f.evidence())
          .extracting(Evidence::text)
          .contains("cni-podman0: inet 10.88.0.1/16", "ports of cni-podman0: vethpodman0")
          // The pod network, from the proxy's flags (live) or its masquerade rule (bundle).
          .anyMatch(
              t ->
                  t.contains("10.244.0.0/16")
                      && (t.contains("KUBE-MARK-MASQ") || t.startsWith("--cluster-cidr")));
      assertThat(live("node2", "cni-config-wrong-subnet")).isEmpty();

      Path dir = named.dir();
      // The capture records the proxy's flags: the pod network from them, as live, cited on the
      // proxy's line of proxy-process.txt (live: the command that shows its arguments).
      assertThat(named.live().evidence())
          .anySatisfy(
              e -> {
                assertThat(e.where()).matches("\\$ cat /proc/\\d+/cmdline");
                assertThat(e.text()).isEqualTo("--cluster-cidr " + Lab.CLUSTER_CIDR);
              });
      assertThat(named.bundle().evidence())
          .anySatisfy(
              e -> {
                assertThat(e.where()).startsWith("proxy-process.txt:");
                assertThat(e.text()).isEqualTo("--cluster-cidr " + Lab.CLUSTER_CIDR);
                assertThat(named.citedLine(e)).contains(" --cluster-cidr " + Lab.CLUSTER_CIDR);
              });
      // Without that record (an older capture, a bundle built by hand): from the masquerade rule.
      Files.delete(dir.resolve("proxy-process.txt"));
      List<Finding> fromBundle =
          findings(
              DoctorInputs.bundle(dir, Optional.of(cluster.manifests())),
              "cni-config-wrong-subnet");
      assertThat(fromBundle).singleElement();
      Evidence range =
          fromBundle.get(0).evidence().stream()
              .filter(e -> e.text().contains("KUBE-MARK-MASQ"))
              .findFirst()
              .orElseThrow();
      assertThat(range.where()).startsWith("iptables-save.txt:");
      assertThat(line(dir, range)).contains("! -s 10.244.0.0/16").contains("-j KUBE-MARK-MASQ");

      // The fix: the leftover config gone, the pod recreated by the cluster's CNI, the bridge
      // deleted.
      Lab.Pod[] again = {null};
      node1()
          .clearedBy(
              named,
              () -> {
                lab.runner().run("ip", "netns", "del", ns);
                lab.in(n1.netns(), "ip", "link", "del", "cni-podman0");
                again[0] = lab.addPod("node1", "podman-pod");
                lab.startBackend(again[0], DemoCluster.BACKEND_PORT);
              },
              "/etc/cni/net.d",
              "ip link del cni-podman0");
      assertThat(lab.connect(from, again[0].ip(), DemoCluster.BACKEND_PORT).backend())
          .isEqualTo("podman-pod");
    } finally {
      lab.runner().run("ip", "netns", "del", ns);
      lab.runner().inNetns(n1.netns()).run("ip", "link", "del", "cni-podman0");
    }
  }

  private void undo(String netns, String restore) {
    for (List<String> argv : BookRules.undo(restore)) {
      lab.runner().inNetns(netns).run(concat("iptables", argv));
    }
  }

  @Test
  void dockerMasqueradeCoversPods_bipInPodNetwork_namedLiveAndOnBundle_clearedByFix()
      throws Exception {
    Lab.Node n1 = lab.node("node1");
    Lab.Pod client = lab.pod("client");
    Lab.Pod webB = lab.pod("web-b");
    assertThat(lab.connect(client.netns(), webB.ip(), DemoCluster.BACKEND_PORT).peer())
        .isEqualTo(client.ip());
    // An old flannel setup: docker0 given the pods' range ("bip"), Docker masquerading it, and
    // flannel accepting its network in FORWARD (Docker's DROP policy does not bite).
    String docker = BookRules.docker("10.244.0.0/16");
    String flannel = BookRules.flannelForward(Lab.CLUSTER_CIDR);
    lab.in(n1.netns(), "ip", "link", "add", "docker0", "type", "bridge");
    lab.in(n1.netns(), "ip", "addr", "add", "10.244.0.1/16", "dev", "docker0");
    lab.in(n1.netns(), "ip", "link", "set", "docker0", "up");
    restore(n1.netns(), docker);
    restore(n1.netns(), flannel);
    try {
      // Pod to pod across nodes: the far pod sees node1's address, not the client's.
      assertThat(lab.connect(client.netns(), webB.ip(), DemoCluster.BACKEND_PORT).peer())
          .isEqualTo(n1.ip());

      LiveAndBundle.Named named = named("docker-masquerade-covers-pods", "docker-masq");
      Finding f = named.live();
      assertThat(f.severity()).isEqualTo(Severity.WARNING);
      assertThat(f.evidence().get(0).text())
          .isEqualTo("-A POSTROUTING -s 10.244.0.0/16 ! -o docker0 -j MASQUERADE");
      assertThat(f.evidence())
          .extracting(Evidence::text)
          .contains("docker0: inet 10.244.0.1/16")
          .anyMatch(
              t -> t.contains("masqueraded by nat POSTROUTING") && t.contains("from " + n1.ip()));
      assertThat(live("node1", "forward-policy-drop")).isEmpty();

      Path dir = named.dir();
      List<Finding> fromBundle = List.of(named.bundle());
      assertThat(line(dir, fromBundle.get(0).evidence().get(0)))
          .isEqualTo("-A POSTROUTING -s 10.244.0.0/16 ! -o docker0 -j MASQUERADE");

      // The fix: docker0 back on a subnet of its own, the old rule deleted.
      String[] rules = {docker};
      node1()
          .clearedBy(
              named,
              () -> {
                undo(n1.netns(), rules[0]);
                lab.in(n1.netns(), "ip", "addr", "flush", "dev", "docker0");
                lab.in(n1.netns(), "ip", "addr", "add", "172.17.0.1/16", "dev", "docker0");
                rules[0] = BookRules.docker("172.17.0.0/16");
                restore(n1.netns(), rules[0]);
              },
              "bip",
              "iptables -t nat -D POSTROUTING -s 10.244.0.0/16 ! -o docker0 -j MASQUERADE");
      docker = rules[0];
      assertThat(lab.connect(client.netns(), webB.ip(), DemoCluster.BACKEND_PORT).peer())
          .isEqualTo(client.ip());
    } finally {
      undo(n1.netns(), docker);
      undo(n1.netns(), flannel);
      lab.runner().inNetns(n1.netns()).run("iptables", "-P", "FORWARD", "ACCEPT");
      lab.runner().inNetns(n1.netns()).run("ip", "link", "del", "docker0");
    }
  }

  @Test
  void dockerLocalhostPort_servedByDockerProxyOnly_namedLiveAndOnBundle_proxyRestartFixesIt()
      throws Exception {
    Lab.Node n1 = lab.node("node1");
    String ext = lab.client("ext").netns();
    String docker = BookRules.docker();
    String publish = BookRules.dockerPublish("172.17.0.2", 80);
    lab.in(n1.netns(), "ip", "link", "add", "docker0", "type", "bridge");
    lab.in(n1.netns(), "ip", "addr", "add", "172.17.0.1/16", "dev", "docker0");
    lab.in(n1.netns(), "ip", "link", "set", "docker0", "up");
    String ctr = lab.prefix() + "-ctr";
    lab.runner().run("ip", "netns", "add", ctr).orThrow();
    try {
      lab.in(ctr, "ip", "link", "set", "lo", "up");
      lab.in(
          n1.netns(),
          "ip",
          "link",
          "add",
          "vethctr",
          "type",
          "veth",
          "peer",
          "name",
          "eth0",
          "netns",
          ctr);
      lab.in(n1.netns(), "ip", "link", "set", "vethctr", "master", "docker0");
      lab.in(n1.netns(), "ip", "link", "set", "vethctr", "up");
      lab.in(ctr, "ip", "addr", "add", "172.17.0.2/16", "dev", "eth0");
      lab.in(ctr, "ip", "link", "set", "eth0", "up");
      lab.in(ctr, "ip", "route", "add", "default", "via", "172.17.0.1");
      serveOn(ctr, 80, "nginx");
      restore(n1.netns(), docker);
      restore(n1.netns(), publish);
      // docker-proxy: a userland relay on the node's port 80 to the container.
      List<String> proxyArgv =
          List.of("socat", "TCP-LISTEN:80,fork,reuseaddr", "TCP:172.17.0.2:80");
      var proxy = lab.spawn(n1.netns(), proxyArgv, tmp.resolve("docker-proxy.log"));
      assertThat(awaitReply(n1.netns(), "127.0.0.1", 80).backend()).isEqualTo("nginx");
      assertThat(lab.connect(ext, n1.ip(), 80).backend()).isEqualTo("nginx");

      LiveAndBundle.Named named = named("docker-localhost-port-via-proxy", "docker-proxy");
      Finding f = named.live();
      assertThat(f.severity()).isEqualTo(Severity.INFO);
      assertThat(f.summary()).contains("127.0.0.1:80/tcp").contains("172.17.0.2:80");
      assertThat(f.evidence())
          .extracting(Evidence::text)
          .contains(
              "-A DOCKER ! -i docker0 -p tcp -m tcp --dport 80 -j DNAT --to-destination 172.17.0.2:80",
              "-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER")
          .anyMatch(t -> t.contains(n1.ip() + ":80: DNAT to 172.17.0.2:80"));

      Path dir = named.dir();
      List<Finding> fromBundle = List.of(named.bundle());
      assertThat(line(dir, fromBundle.get(0).evidence().get(0)))
          .isEqualTo(
              "-A DOCKER ! -i docker0 -p tcp -m tcp --dport 80 -j DNAT --to-destination 172.17.0.2:80");

      // The book's experiment: without docker-proxy, localhost fails, the node's address works.
      proxy.close();
      assertThat(lab.connect(n1.netns(), "127.0.0.1", 80).outcome())
          .isEqualTo(Connection.Outcome.REFUSED);
      assertThat(lab.connect(ext, n1.ip(), 80).backend()).isEqualTo("nginx");
      assertThat(lab.connect(n1.netns(), n1.ip(), 80).backend()).isEqualTo("nginx");
      // The fix it names: docker-proxy started again.
      assertThat(f.fix()).contains("docker-proxy");
      proxy = lab.spawn(n1.netns(), proxyArgv, tmp.resolve("docker-proxy2.log"));
      assertThat(awaitReply(n1.netns(), "127.0.0.1", 80).backend()).isEqualTo("nginx");
      proxy.close();
    } finally {
      undo(n1.netns(), publish);
      undo(n1.netns(), docker);
      lab.runner().inNetns(n1.netns()).run("iptables", "-P", "FORWARD", "ACCEPT");
      lab.runner().run("ip", "netns", "del", ctr);
      lab.runner().inNetns(n1.netns()).run("ip", "link", "del", "docker0");
    }
  }

  private static String[] concat(String cmd, List<String> args) {
    List<String> out = new java.util.ArrayList<>();
    out.add(cmd);
    out.addAll(args);
    return out.toArray(String[]::new);
  }

  private static List<String> deleting(List<String> insert) {
    return insert.stream().map(a -> a.equals("-I") ? "-D" : a).toList();
  }
}
