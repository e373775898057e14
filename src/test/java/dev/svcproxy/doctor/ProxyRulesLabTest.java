package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.Spawned;
import dev.svcproxy.lab.Connection;
import dev.svcproxy.lab.DemoCluster;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.lab.ProxyProcess;
import dev.svcproxy.testutil.DemoClusterExtension;
import dev.svcproxy.testutil.LiveAndBundle;
import dev.svcproxy.trace.PacketSpec;
import dev.svcproxy.trace.ReasonCode;
import dev.svcproxy.trace.bundle.BundleCapture;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * kube-proxy rule state broken on a lab node (svcproxy in iptables mode, the DemoCluster), shown
 * broken by real connections, named by the doctor live and on a captured bundle with evidence
 * checked against the files independently, and cleared by the fix the finding gives.
 */
class ProxyRulesLabTest {
  @RegisterExtension static final DemoClusterExtension demo = DemoClusterExtension.iptables();
  private final DemoCluster cluster = demo.cluster();
  private final Lab lab = demo.lab();
  @TempDir Path tmp;

  private CommandRunner node(String name) {
    return lab.runner().inNetns(lab.node(name).netns());
  }

  private Optional<Path> objects() {
    return Optional.of(cluster.manifests());
  }

  private static List<Finding> findings(DoctorInput in, String id) {
    return Doctor.standard().examine(in).findings().stream()
        .filter(f -> f.id().equals(id))
        .toList();
  }

  private DoctorInput bundle(String node, String name) {
    Path dir = tmp.resolve(name);
    BundleCapture.captureInto(node(node), dir);
    return DoctorInputs.bundle(dir, objects());
  }

  /** The line a bundle evidence cites, read from the file itself (a rule without its counters). */
  private String citedLine(Path dir, Evidence e) throws IOException {
    String[] w = e.where().split(":");
    return dev.svcproxy.netfilter.Rule.withoutCounters(
        Files.readAllLines(dir.resolve(w[0])).get(Integer.parseInt(w[1]) - 1).strip());
  }

  /** Writes the Services and waits until both proxies synced them. */
  private void writeServices(String text) {
    int a = cluster.proxy(1).count("synced iptables");
    int b = cluster.proxy(2).count("synced iptables");
    cluster.writeManifest("services.yaml", text);
    cluster.proxy(1).awaitLog("synced iptables", a + 1, java.time.Duration.ofSeconds(30));
    cluster.proxy(2).awaitLog("synced iptables", b + 1, java.time.Duration.ofSeconds(30));
  }

  /** Writes the slices and waits until both proxies synced them. */
  private void writeSlices(String text) {
    // The same slices again change nothing, and the proxies do not sync: nothing to wait for (the
    // cleanup after a test whose fix already restored them).
    try {
      java.nio.file.Path file = cluster.manifests().resolve("endpoints.yaml");
      if (java.nio.file.Files.exists(file) && java.nio.file.Files.readString(file).equals(text)) {
        return;
      }
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    int a = cluster.proxy(1).count("synced iptables");
    int b = cluster.proxy(2).count("synced iptables");
    cluster.writeManifest("endpoints.yaml", text);
    cluster.proxy(1).awaitLog("synced iptables", a + 1, java.time.Duration.ofSeconds(30));
    cluster.proxy(2).awaitLog("synced iptables", b + 1, java.time.Duration.ofSeconds(30));
  }

  @Test
  void noEndpoints_podsNotReady_namedLiveAndOnBundle_clearedByFix() throws Exception {
    String client = lab.pod("client").netns();
    assertThat(lab.connect(client, DemoCluster.WEB, 80).outcome())
        .isEqualTo(Connection.Outcome.REPLIED);
    String[] slices = cluster.endpointSlices(true).split("---\n");
    // web's slice (the first) with both pods failing readiness.
    slices[0] =
        slices[0].replace(
            "  nodeName:", "  conditions: {ready: false, serving: false}\n  nodeName:");
    writeSlices(String.join("---\n", slices));
    try {
      assertThat(lab.connect(client, DemoCluster.WEB, 80).outcome())
          .isEqualTo(Connection.Outcome.REFUSED);

      LiveAndBundle lb =
          LiveAndBundle.on(node("node1"), objects())
              .which(f -> f.summary().startsWith("default/web:http "));
      LiveAndBundle.Named named = lb.named("no-endpoints", tmp.resolve("no-endpoints"));
      Finding live = named.live();
      assertThat(live.severity()).isEqualTo(Severity.WARNING);
      assertThat(live.evidence())
          .anySatisfy(
              e -> {
                assertThat(e.where()).startsWith("$ iptables-save");
                assertThat(e.text())
                    .contains("-d " + DemoCluster.WEB + "/32")
                    .contains("-j REJECT");
              })
          .anySatisfy(
              e ->
                  assertThat(e.text())
                      .contains(lab.pod("web-a").ip() + ":8080 (node node1, not ready)")
                      .contains(lab.pod("web-b").ip() + ":8080 (node node2, not ready)"));

      DoctorInput b = named.bundleInput();
      Evidence rule = named.bundle().evidence().get(0);
      assertThat(rule.where()).startsWith("iptables-save.txt:");
      String line = named.citedLine(rule);
      assertThat(line)
          .startsWith("-A KUBE-SERVICES -d " + DemoCluster.WEB + "/32")
          .contains("REJECT");

      // Asked about the very connection, it is the failure at hand.
      PacketSpec p =
          new PacketSpec(lab.pod("client").ip(), 40000, DemoCluster.WEB, 80, "tcp", null);
      DoctorReport traced = Doctor.standard().examine(b.withPacket(p));
      assertThat(traced.trace().outcomes())
          .allSatisfy(o -> assertThat(o.reasonCode()).isEqualTo(ReasonCode.NO_ENDPOINTS));
      assertThat(traced.findings())
          .filteredOn(x -> x.id().equals("no-endpoints") && x.summary().startsWith("default/web:"))
          .singleElement()
          .satisfies(x -> assertThat(x.severity()).isEqualTo(Severity.ERROR));
      // Explained by no-endpoints: no second, generic finding.
      assertThat(traced.findings()).noneMatch(x -> x.id().equals("packet-not-delivered"));

      // The fix: the pods pass readiness (the slice's endpoints ready again).
      lb.clearedBy(
          named,
          () -> writeSlices(cluster.endpointSlices(true)),
          "the pods pass readiness",
          "kubernetes.io/service-name=web");
    } finally {
      writeSlices(cluster.endpointSlices(true));
    }
    assertThat(lab.connect(client, DemoCluster.WEB, 80).outcome())
        .isEqualTo(Connection.Outcome.REPLIED);
  }

  @Test
  void etpLocal_seed002_node1WithoutEndpointNamesNode2() throws Exception {
    String ext = lab.client("ext").netns();
    Lab.Node n1 = lab.node("node1");
    Lab.Node n2 = lab.node("node2");
    // Seed 002 as its author saw it: the node without the endpoint drops, the one with it answers,
    // and the node itself reaches its own NodePort through the cluster policy.
    assertThat(lab.connect(ext, n1.ip(), DemoCluster.WEB_LOCAL_NODEPORT).outcome())
        .isEqualTo(Connection.Outcome.TIMED_OUT);
    assertThat(lab.connect(ext, n2.ip(), DemoCluster.WEB_LOCAL_NODEPORT).outcome())
        .isEqualTo(Connection.Outcome.REPLIED);
    assertThat(lab.connect(n1.netns(), n1.ip(), DemoCluster.WEB_LOCAL_NODEPORT).backend())
        .isEqualTo("web-b");

    // Named on the live node and on its captured bundle alike.
    LiveAndBundle lb = LiveAndBundle.on(node("node1"), objects());
    LiveAndBundle.Named named =
        lb.named("etp-local-no-local-endpoints", tmp.resolve("seed002-node1"));
    assertThat(named.live().summary()).isEqualTo(named.bundle().summary());
    DoctorInput b1 = named.bundleInput();
    Finding f = named.bundle();
    assertThat(f.severity()).isEqualTo(Severity.INFO);
    assertThat(f.summary())
        .startsWith("default/web-local:http ")
        .contains("NodePort " + DemoCluster.WEB_LOCAL_NODEPORT)
        .endsWith("its endpoints are on node2");
    String line = citedLine(tmp.resolve("seed002-node1"), f.evidence().get(0));
    assertThat(line)
        .startsWith("-A KUBE-EXTERNAL-SERVICES")
        .contains("--dport " + DemoCluster.WEB_LOCAL_NODEPORT)
        .endsWith("-j DROP");
    assertThat(findings(b1, "etp-local-node-name-mismatch")).isEmpty();
    assertThat(findings(bundle("node2", "seed002-node2"), "etp-local-no-local-endpoints"))
        .isEmpty();

    // The external packet's drop is explained by that finding, not by a generic one.
    DoctorReport traced =
        Doctor.standard()
            .examine(
                b1.withPacket(
                    new PacketSpec(
                        lab.client("ext").ip(),
                        40000,
                        n1.ip(),
                        DemoCluster.WEB_LOCAL_NODEPORT,
                        "tcp",
                        null)));
    assertThat(traced.trace().outcomes())
        .allSatisfy(o -> assertThat(o.reasonCode()).isEqualTo(ReasonCode.NO_ENDPOINTS));
    assertThat(traced.findings()).noneMatch(x -> x.id().equals("packet-not-delivered"));

    // The fix the finding points at when the drop is not wanted: eTP=Cluster (the client's
    // address is then masqueraded). The finding goes and node1 forwards to node2's endpoint.
    Path services = cluster.manifests().resolve("services.yaml");
    String before = Files.readString(services);
    assertThat(before).contains("externalTrafficPolicy: Local");
    try {
      lb.clearedBy(
          named,
          () ->
              writeServices(
                  before.replace("externalTrafficPolicy: Local", "externalTrafficPolicy: Cluster")),
          "externalTrafficPolicy: Cluster");
      assertThat(lab.connect(ext, n1.ip(), DemoCluster.WEB_LOCAL_NODEPORT).outcome())
          .isEqualTo(Connection.Outcome.REPLIED);
    } finally {
      writeServices(before);
    }
  }

  @Test
  void etpLocalNodeNameMismatch_renamedProxy_namedLiveAndOnBundle_clearedByFix() throws Exception {
    String ext = lab.client("ext").netns();
    Lab.Node n2 = lab.node("node2");
    assertThat(lab.connect(ext, n2.ip(), DemoCluster.WEB_LOCAL_NODEPORT).outcome())
        .isEqualTo(Connection.Outcome.REPLIED);
    cluster.proxy(2).stop();
    // The proxy runs under a name that is not the Node's (a --hostname-override gone wrong).
    List<String> argv = new ArrayList<>(ProxyProcess.javaCommand());
    argv.addAll(
        List.of(
            "run",
            "--mode",
            "iptables",
            "--manifests",
            cluster.manifests().toString(),
            "--node-name",
            "node2-renamed",
            "--node-ip",
            n2.ip(),
            "--cluster-cidr",
            Lab.CLUSTER_CIDR,
            "--lock-dir",
            lab.workDir().toString()));
    Path log = lab.workDir().resolve("renamed.log");
    Spawned renamed = lab.spawn(n2.netns(), argv, log);
    boolean[] restarted = {false};
    try {
      long end = System.nanoTime() + 60_000_000_000L;
      while (!(Files.exists(log) && Files.readString(log).contains("synced iptables"))) {
        assertThat(System.nanoTime()).as("renamed proxy synced").isLessThan(end);
        Thread.sleep(100);
      }
      assertThat(lab.connect(ext, n2.ip(), DemoCluster.WEB_LOCAL_NODEPORT).outcome())
          .isEqualTo(Connection.Outcome.TIMED_OUT);

      LiveAndBundle lb = LiveAndBundle.on(node("node2"), objects());
      LiveAndBundle.Named named = lb.named("etp-local-node-name-mismatch", tmp.resolve("renamed"));
      Finding f = named.live();
      assertThat(f.severity()).isEqualTo(Severity.ERROR);
      assertThat(f.summary())
          .startsWith("default/web-local:http ")
          .contains("nodeName is node2 while the proxy runs as node \"node2-renamed\"");
      assertThat(f.evidence())
          .anySatisfy(
              e -> {
                assertThat(e.where()).matches("\\$ cat /proc/\\d+/cmdline");
                assertThat(e.text()).isEqualTo("--node-name node2-renamed");
              })
          .anySatisfy(e -> assertThat(e.text()).startsWith(n2.podCidr() + " dev cni0"));
      // Not also reported as the expected eTP=Local drop.
      assertThat(
              findings(DoctorInputs.live(node("node2"), objects()), "etp-local-no-local-endpoints"))
          .isEmpty();

      assertThat(named.citedLine(named.bundle().evidence().get(0)))
          .startsWith("-A KUBE-EXTERNAL-SERVICES")
          .endsWith("-j DROP");
      // On the bundle the flag is cited on the proxy's line of proxy-process.txt.
      assertThat(named.bundle().evidence())
          .anySatisfy(
              e -> {
                assertThat(e.where()).startsWith("proxy-process.txt:");
                assertThat(e.text()).isEqualTo("--node-name node2-renamed");
                assertThat(named.citedLine(e)).contains(" --node-name node2-renamed ");
              });

      // The fix: the proxy run under the Node's name (svcproxy's --node-name, the lab's own).
      lb.clearedBy(
          named,
          () -> {
            renamed.close();
            cluster.restartProxies(List.of());
            restarted[0] = true;
          },
          "equal to this node's Node name (node2)");
    } finally {
      renamed.close();
      if (!restarted[0]) {
        cluster.restartProxies(List.of());
      }
    }
    assertThat(lab.connect(ext, n2.ip(), DemoCluster.WEB_LOCAL_NODEPORT).outcome())
        .isEqualTo(Connection.Outcome.REPLIED);
  }

  @Test
  void hairpinOff_podToOwnService_namedLiveAndOnBundle_clearedByFix() throws Exception {
    Lab.Pod webA = lab.pod("web-a");
    String port = "veth" + webA.ip().substring(webA.ip().lastIndexOf('.') + 1);
    String n1 = lab.node("node1").netns();
    // "self" has web-a as its only endpoint: web-a reaching it is a hairpin.
    assertThat(lab.connect(webA.netns(), DemoCluster.SELF, 80).outcome())
        .isEqualTo(Connection.Outcome.REPLIED);
    lab.in(n1, "ip", "link", "set", port, "type", "bridge_slave", "hairpin", "off");
    try {
      assertThat(lab.connect(webA.netns(), DemoCluster.SELF, 80).outcome())
          .isEqualTo(Connection.Outcome.TIMED_OUT);
      // Another pod still reaches the Service: only the hairpin is broken.
      assertThat(lab.connect(lab.pod("client").netns(), DemoCluster.SELF, 80).outcome())
          .isEqualTo(Connection.Outcome.REPLIED);

      LiveAndBundle lb = LiveAndBundle.on(node("node1"), objects());
      LiveAndBundle.Named named = lb.named("hairpin-not-masqueraded", tmp.resolve("hairpin"));
      assertThat(named.live().evidence())
          .containsExactly(
              Evidence.command(
                  "bridge -d link show dev " + port, port + " master cni0 hairpin off"));
      assertThat(named.bundle().evidence())
          .containsExactly(new Evidence("bridge-link.json", port + " master cni0 hairpin off"));
      assertThat(named.bundle().summary()).contains("1 port(s) of cni0");
      lb.clearedBy(
          named,
          () -> lab.in(n1, "ip", "link", "set", port, "type", "bridge_slave", "hairpin", "on"),
          "`ip link set " + port + " type bridge_slave hairpin on`");
    } finally {
      lab.in(n1, "ip", "link", "set", port, "type", "bridge_slave", "hairpin", "on");
    }
    assertThat(lab.connect(webA.netns(), DemoCluster.SELF, 80).outcome())
        .isEqualTo(Connection.Outcome.REPLIED);
  }

  @Test
  void proxyNotRunning_deadProxyAndFlushedNat_namedLiveAndOnBundle_clearedByRestart()
      throws Exception {
    String client = lab.pod("client").netns();
    String n1 = lab.node("node1").netns();
    assertThat(lab.connect(client, DemoCluster.WEB, 80).outcome())
        .isEqualTo(Connection.Outcome.REPLIED);
    cluster.proxy(1).stop();
    // A firewall reload flushes the nat table; no proxy is left to write it again.
    lab.in(n1, "iptables", "-t", "nat", "-F");
    lab.in(n1, "iptables", "-t", "nat", "-X");
    boolean[] restarted = {false};
    try {
      assertThat(lab.connect(client, DemoCluster.WEB, 80).outcome())
          .isIn(Connection.Outcome.TIMED_OUT, Connection.Outcome.REFUSED);

      LiveAndBundle lb = LiveAndBundle.on(node("node1"), objects());
      LiveAndBundle.Named named = lb.named("kube-proxy-not-running", tmp.resolve("dead"));
      assertThat(named.live().severity()).isEqualTo(Severity.ERROR);
      assertThat(named.live().evidence().get(0))
          .isEqualTo(
              Evidence.command(
                  "ps -e -o pid,netns,args",
                  "no kube-proxy or svcproxy run process in this network namespace"));

      // The capture records the proxy processes it found (none), as the live doctor does.
      assertThat(named.dir().resolve("proxy-process.txt")).isEmptyFile();
      assertThat(named.bundle().summary()).startsWith("No proxy process runs");
      // Without that record (an older capture, a bundle built by hand) the rules tell it.
      Files.delete(named.dir().resolve("proxy-process.txt"));
      List<Finding> fromBundle =
          findings(DoctorInputs.bundle(named.dir(), objects()), "kube-proxy-not-running");
      assertThat(fromBundle).singleElement();
      assertThat(fromBundle.get(0).summary()).contains("canary chain is gone from nat");
      // The canaries that are left, cited where the file declares them.
      Evidence mangle = fromBundle.get(0).evidence().get(0);
      assertThat(named.citedLine(mangle)).startsWith(":KUBE-PROXY-CANARY - ");

      // The fix: the proxy started; its first sync writes the chains again.
      lb.clearedBy(
          named,
          tmp.resolve("restarted"),
          () -> {
            cluster.restartProxies(List.of());
            restarted[0] = true;
          },
          "svcproxy run");
    } finally {
      if (!restarted[0]) {
        cluster.restartProxies(List.of());
      }
    }
    assertThat(lab.connect(client, DemoCluster.WEB, 80).outcome())
        .isEqualTo(Connection.Outcome.REPLIED);
  }

  @Test
  void mixedBackends_legacyForwardDrop_namedLiveAndOnBundle_clearedByFix() throws Exception {
    String ext = lab.client("ext").netns();
    Lab.Node n1 = lab.node("node1");
    assertThat(lab.connect(ext, n1.ip(), DemoCluster.WEB_NODEPORT).outcome())
        .isEqualTo(Connection.Outcome.REPLIED);
    // Docker on iptables-legacy beside kube-proxy on iptables-nft: its FORWARD DROP policy
    // applies to packets kube-proxy's KUBE-FORWARD accepted in the other backend.
    lab.in(n1.netns(), "iptables-legacy", "-A", "FORWARD", "-o", "docker0", "-j", "ACCEPT");
    lab.in(n1.netns(), "iptables-legacy", "-P", "FORWARD", "DROP");
    try {
      assertThat(lab.connect(ext, n1.ip(), DemoCluster.WEB_NODEPORT).outcome())
          .isEqualTo(Connection.Outcome.TIMED_OUT);

      LiveAndBundle lb = LiveAndBundle.on(node("node1"), objects());
      LiveAndBundle.Named named = lb.named("mixed-iptables-backends", tmp.resolve("mixed"));
      assertThat(named.live().severity()).isEqualTo(Severity.ERROR);
      assertThat(named.live().evidence())
          .anySatisfy(e -> assertThat(e.text()).startsWith(":FORWARD DROP"));
      assertThat(named.bundle().summary()).contains("kube-proxy's chains are in iptables-nft");
      Evidence policy =
          named.bundle().evidence().stream()
              .filter(e -> e.where().startsWith("iptables-legacy-save.txt:"))
              .filter(e -> e.text().startsWith(":FORWARD"))
              .findFirst()
              .orElseThrow();
      assertThat(named.citedLine(policy)).startsWith(":FORWARD DROP");

      // The fix: the other backend's rules removed and its DROP policy set back.
      lb.clearedBy(
          named,
          () -> {
            lab.in(n1.netns(), "iptables-legacy", "-t", "filter", "-P", "FORWARD", "ACCEPT");
            lab.in(n1.netns(), "iptables-legacy", "-t", "filter", "-F", "FORWARD");
          },
          "remove the other backend's rules",
          "`iptables-legacy -t filter -P FORWARD ACCEPT`");
    } finally {
      lab.in(n1.netns(), "iptables-legacy", "-P", "FORWARD", "ACCEPT");
      lab.in(n1.netns(), "iptables-legacy", "-F", "FORWARD");
    }
    assertThat(lab.connect(ext, n1.ip(), DemoCluster.WEB_NODEPORT).outcome())
        .isEqualTo(Connection.Outcome.REPLIED);
  }

  @Test
  void packetNotDelivered_hostRuleDropsForwardedNodePort_explainedLiveAndOnBundle_clearedByFix()
      throws Exception {
    String ext = lab.client("ext").netns();
    Lab.Node n1 = lab.node("node1");
    String extIp = lab.client("ext").ip();
    assertThat(lab.connect(ext, n1.ip(), DemoCluster.WEB_NODEPORT).outcome())
        .isEqualTo(Connection.Outcome.REPLIED);
    // A hand-made firewall rule ahead of kube-proxy's, outside every catalogue entry's state.
    List<String> rule =
        List.of(
            "FORWARD",
            "-s",
            extIp + "/32",
            "-p",
            "tcp",
            "-m",
            "tcp",
            "--dport",
            "8080",
            "-j",
            "DROP");
    List<String> insert = new ArrayList<>(List.of("iptables", "-I"));
    insert.add(rule.get(0));
    insert.add("1");
    insert.addAll(rule.subList(1, rule.size()));
    lab.in(n1.netns(), insert.toArray(String[]::new));
    PacketSpec p = new PacketSpec(extIp, 40000, n1.ip(), DemoCluster.WEB_NODEPORT, "tcp", null);
    String printed = "-A " + String.join(" ", rule);
    try {
      assertThat(lab.connect(ext, n1.ip(), DemoCluster.WEB_NODEPORT).outcome())
          .isEqualTo(Connection.Outcome.TIMED_OUT);

      LiveAndBundle lb = LiveAndBundle.on(node("node1"), objects()).with(in -> in.withPacket(p));
      LiveAndBundle.Named named = lb.named("packet-not-delivered", tmp.resolve("host-rule"));
      assertThat(named.live())
          .satisfies(
              f -> {
                assertThat(f.summary()).contains("dropped-by-rule").contains("filter FORWARD");
                assertThat(f.evidence().get(0).where()).startsWith("$ iptables-save (line ");
                assertThat(f.evidence().get(0).text()).isEqualTo(printed);
              });
      assertThat(named.citedLine(named.bundle().evidence().get(0))).endsWith(printed);
      // Without the packet there is nothing to explain.
      assertThat(findings(DoctorInputs.bundle(named.dir(), objects()), "packet-not-delivered"))
          .isEmpty();

      // The fix: the rule cited removed.
      List<String> delete = new ArrayList<>(List.of("iptables", "-D"));
      delete.addAll(rule);
      lb.clearedBy(
          named,
          () -> lab.in(n1.netns(), delete.toArray(String[]::new)),
          "remove the rule cited (filter FORWARD rule 1)");
    } finally {
      List<String> delete = new ArrayList<>(List.of("iptables", "-D"));
      delete.addAll(rule);
      // Gone already when the test got to its fix.
      lab.runner().inNetns(n1.netns()).run(delete.toArray(String[]::new));
    }
    DoctorReport after =
        Doctor.standard().examine(DoctorInputs.live(node("node1"), objects()).withPacket(p));
    assertThat(after.findings()).noneMatch(f -> f.id().equals("packet-not-delivered"));
    assertThat(lab.connect(ext, n1.ip(), DemoCluster.WEB_NODEPORT).outcome())
        .isEqualTo(Connection.Outcome.REPLIED);
  }

  @Test
  void duplicateRules_jumpAppendedTwice_namedLiveAndOnBundle_clearedByDeletingTheCopy()
      throws Exception {
    String n1 = lab.node("node1").netns();
    // A setup script that appends kube-proxy's jump again instead of checking for it first.
    String jump =
        lab.in(n1, "iptables", "-t", "nat", "-S", "PREROUTING")
            .stdout()
            .lines()
            .filter(l -> l.endsWith("-j KUBE-SERVICES"))
            .findFirst()
            .orElseThrow();
    List<String> args =
        new ArrayList<>(
            List.of(
                jump.replaceFirst("^-A PREROUTING ", "")
                    .split(" (?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)")));
    args.replaceAll(a -> a.replace("\"", ""));
    List<String> append = new ArrayList<>(List.of("iptables", "-t", "nat", "-A", "PREROUTING"));
    append.addAll(args);
    lab.in(n1, append.toArray(String[]::new));
    // Deleting the copy twice would delete kube-proxy's own jump.
    boolean[] copyDeleted = {false};
    try {
      // Not broken, only grown: the copy never matches anything the first did not.
      assertThat(
              lab.connect(
                      lab.client("ext").netns(), lab.node("node1").ip(), DemoCluster.WEB_NODEPORT)
                  .outcome())
          .isEqualTo(Connection.Outcome.REPLIED);
      LiveAndBundle lb = LiveAndBundle.on(node("node1"), objects());
      LiveAndBundle.Named named = lb.named("duplicate-rules", tmp.resolve("dup"));
      assertThat(named.live().evidence())
          .hasSize(2)
          .allSatisfy(e -> assertThat(e.text()).isEqualTo(jump));
      for (Evidence e : named.bundle().evidence()) {
        assertThat(named.citedLine(e)).endsWith(jump);
      }
      assertThat(named.bundle().evidence().get(0).where())
          .isNotEqualTo(named.bundle().evidence().get(1).where());

      // The fix: the delete the finding spells out, run once for the one copy.
      List<String> delete = new ArrayList<>(List.of("iptables", "-t", "nat", "-D", "PREROUTING"));
      delete.addAll(args);
      lb.clearedBy(
          named,
          () -> {
            lab.in(n1, delete.toArray(String[]::new));
            copyDeleted[0] = true;
          },
          "`iptables -t nat " + jump.replaceFirst("^-A ", "-D ") + "`");
    } finally {
      if (!copyDeleted[0]) {
        List<String> delete = new ArrayList<>(List.of("iptables", "-t", "nat", "-D", "PREROUTING"));
        delete.addAll(args);
        lab.in(n1, delete.toArray(String[]::new));
      }
    }
    assertThat(lab.in(n1, "iptables", "-t", "nat", "-S", "PREROUTING").stdout())
        .contains("-j KUBE-SERVICES");
  }
}
