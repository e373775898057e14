package dev.svcproxy.sync.ipvs;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.ipvs.IpvsService;
import dev.svcproxy.ipvs.IpvsTable;
import dev.svcproxy.ipvs.RealServer;
import dev.svcproxy.ipvs.VirtualServer;
import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.IptablesKernel;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.kernel.Spawned;
import dev.svcproxy.kernel.ipvs.IpvsKernel;
import dev.svcproxy.lab.Connection;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.netfilter.IpsetCodec;
import dev.svcproxy.netfilter.IptablesCodec;
import dev.svcproxy.netfilter.TableRule;
import dev.svcproxy.render.ipvs.IpvsOptions;
import dev.svcproxy.render.ipvs.IpvsState;
import dev.svcproxy.testutil.KernelTests;
import dev.svcproxy.testutil.vm.TimeScale;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The IPVS proxier on a real IPVS kernel (the VM): a hand-built IpvsState applied in a lab node's
 * network namespace serves real connections to a ClusterIP and a NodePort; an endpoint change is
 * applied as a diff; a full resync of an unchanged state writes nothing (so what the tools print
 * reads back equal to what was written); cleanup leaves nothing behind.
 */
@Tag("vm")
class IpvsProxierVmTest {
  private static final String VIP = "10.96.0.10";
  private static final int PORT = 8080;
  private static final int NODE_PORT = 30080;

  /** Records the argv of every command it runs, then runs it. */
  private static final class Recording implements CommandRunner {
    final CommandRunner inner;
    final List<String> lines = new ArrayList<>();

    Recording(CommandRunner inner) {
      this.inner = inner;
    }

    @Override
    public synchronized CommandResult run(List<String> argv, String stdin, Duration timeout) {
      // The runner is inside `ip netns exec NS`: record the command itself.
      lines.add(String.join(" ", argv));
      return inner.run(argv, stdin, timeout);
    }

    @Override
    public Spawned spawn(List<String> argv, Path log) {
      return inner.spawn(argv, log);
    }

    synchronized List<String> writes() {
      return lines.stream()
          .filter(
              l ->
                  l.equals("ipvsadm -R")
                      || l.equals("ipset restore")
                      || l.startsWith("ip -force -batch")
                      || l.startsWith("sysctl -w"))
          .toList();
    }
  }

  private static IpvsState state(String nodeIp, Lab.Pod... pods) {
    List<RealServer> reals = new ArrayList<>();
    for (Lab.Pod p : pods) {
      reals.add(RealServer.masq(p.ip(), PORT, 1));
    }
    IpvsTable services =
        new IpvsTable(
            List.of(
                new IpvsService(VirtualServer.of(VirtualServer.Kind.TCP, VIP, 80, "rr"), reals),
                new IpvsService(
                    VirtualServer.of(VirtualServer.Kind.TCP, nodeIp, NODE_PORT, "rr"), reals)));
    List<IpsetCodec.Option> hash =
        List.of(
            new IpsetCodec.Option("family", "inet"),
            new IpsetCodec.Option("hashsize", "1024"),
            new IpsetCodec.Option("maxelem", "65536"));
    List<IpsetCodec.IpSet> sets =
        List.of(
            new IpsetCodec.IpSet(
                "KUBE-CLUSTER-IP",
                "hash:ip,port",
                hash,
                List.of(new IpsetCodec.Entry(VIP + ",tcp:80", List.of()))),
            new IpsetCodec.IpSet(
                "KUBE-NODE-PORT-TCP",
                "bitmap:port",
                List.of(new IpsetCodec.Option("range", "0-65535")),
                List.of(new IpsetCodec.Entry(Integer.toString(NODE_PORT), List.of()))),
            new IpsetCodec.IpSet(
                "KUBE-IPVS-IPS", "hash:ip", hash, List.of(new IpsetCodec.Entry(VIP, List.of()))));
    // A few of upstream's IPVS-mode rules: they only count and accept, so the test's assertions
    // about the packets' addresses stay those of IPVS itself.
    String rules =
        """
        *nat
        :KUBE-SERVICES - [0:0]
        :KUBE-NODE-PORT - [0:0]
        :KUBE-POSTROUTING - [0:0]
        :KUBE-MARK-MASQ - [0:0]
        -A KUBE-SERVICES -s 127.0.0.0/8 -j RETURN
        -A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT
        -A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT
        -A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
        COMMIT
        *filter
        :KUBE-IPVS-FILTER - [0:0]
        -A KUBE-IPVS-FILTER -m set --match-set KUBE-CLUSTER-IP dst,dst -j RETURN
        -A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst -j REJECT
        COMMIT
        """;
    List<TableRule> jumps =
        List.of(
            new TableRule(
                "nat",
                IptablesCodec.parseRule(
                    "-A PREROUTING -m comment --comment \"kubernetes service portals\""
                        + " -j KUBE-SERVICES")),
            new TableRule(
                "nat",
                IptablesCodec.parseRule(
                    "-A OUTPUT -m comment --comment \"kubernetes service portals\""
                        + " -j KUBE-SERVICES")),
            new TableRule(
                "filter",
                IptablesCodec.parseRule(
                    "-A INPUT -m comment --comment \"kubernetes ipvs access filter\""
                        + " -j KUBE-IPVS-FILTER")));
    return new IpvsState(
        List.of(VIP),
        sets,
        services,
        IptablesCodec.parseStrict(rules, "test"),
        jumps,
        List.of(
            new IpvsState.Sysctl("net/ipv4/vs/conntrack", "1"),
            new IpvsState.Sysctl("net/ipv4/vs/expire_nodest_conn", "1")));
  }

  @Test
  void ipvsProxier_realKernel_servesAppliesDiffsResyncsAndCleansUp() throws Exception {
    KernelTests.requireIpvs("IPVS proxier kernel test");
    try (Lab lab = Lab.create(new ProcessCommandRunner(), 1)) {
      Lab.Node node = lab.node("node1");
      Lab.Pod a = lab.addPod("node1", "be1");
      Lab.Pod b = lab.addPod("node1", "be2");
      Lab.Client client = lab.addClient("client");
      lab.route(client.netns(), VIP, node.ip());
      lab.startBackend(a, PORT);
      lab.startBackend(b, PORT);
      Recording rec = new Recording(lab.runner().inNetns(node.netns()));
      AtomicReference<IpvsState> desired = new AtomicReference<>(state(node.ip(), a));
      IpvsProxier proxier =
          new IpvsProxier(
              new IpvsKernel(rec),
              new IptablesKernel(rec),
              s -> desired.get(),
              IpvsOptions.defaults(),
              Duration.ofHours(1),
              System::nanoTime);
      Duration timeout = TimeScale.scale(Duration.ofSeconds(1));

      proxier.sync(ProxyState.empty(), true, Set.of());

      String ns = node.netns();
      assertThat(lab.in(ns, "ip", "-o", "link", "show", "dev", "kube-ipvs0").stdout())
          .contains("state DOWN");
      assertThat(lab.in(ns, "cat", "/proc/sys/net/ipv4/vs/conntrack").stdout().strip())
          .isEqualTo("1");
      assertThat(proxier.missing()).isEmpty();
      for (String[] to : List.of(new String[] {VIP, "80"}, new String[] {node.ip(), "30080"})) {
        Connection c = lab.connect(client.netns(), to[0], Integer.parseInt(to[1]), timeout);
        assertThat(c.outcome())
            .as("%s:%s %s", to[0], to[1], c)
            .isEqualTo(Connection.Outcome.REPLIED);
        assertThat(c.backend()).isEqualTo("be1");
        // Masquerade forwarding rewrites only the destination: the pod sees the client itself.
        assertThat(c.peer()).isEqualTo(client.ip());
      }

      // The endpoint moves from be1 to be2: a partial sync sends only the IPVS lines.
      desired.set(state(node.ip(), b));
      rec.lines.clear();
      proxier.sync(ProxyState.empty(), false, Set.of("ns/svc"));
      assertThat(rec.writes()).containsExactly("ipvsadm -R");
      String save = lab.in(ns, "ipvsadm", "-S", "-n").stdout();
      assertThat(save).contains("-a -t " + VIP + ":80 -r " + b.ip() + ":" + PORT + " -m -w 1");
      // be1 served a connection a moment ago: its TIME_WAIT entry counts as InActConn, so
      // upstream's
      // graceful termination keeps it at weight 0 until the entry expires.
      assertThat(save).contains("-a -t " + VIP + ":80 -r " + a.ip() + ":" + PORT + " -m -w 0");
      assertThat(proxier.draining()).contains("TCP " + VIP + ":80/" + a.ip() + ":" + PORT);
      for (int i = 0; i < 2; i++) {
        Connection c = lab.connect(client.netns(), VIP, 80, timeout);
        assertThat(c.outcome()).as("after the change: %s", c).isEqualTo(Connection.Outcome.REPLIED);
        assertThat(c.backend()).isEqualTo("be2");
      }

      // A full resync of the same state reads everything back and finds nothing to write.
      rec.lines.clear();
      proxier.sync(ProxyState.empty(), true, Set.of());
      assertThat(rec.writes()).isEmpty();

      // A flushed nat table is noticed.
      lab.in(ns, "iptables", "-t", "nat", "-F", "PREROUTING");
      assertThat(proxier.missing()).hasSize(1).allMatch(m -> m.contains("PREROUTING"));

      proxier.cleanup();
      assertThat(lab.in(ns, "ipvsadm", "-S", "-n").stdout()).isEmpty();
      assertThat(lab.runner().inNetns(ns).run("ip", "-o", "link", "show", "dev", "kube-ipvs0").ok())
          .isFalse();
      assertThat(lab.in(ns, "ipset", "list", "-n").stdout()).doesNotContain("KUBE-");
      String tables =
          lab.in(ns, "iptables-save", "-t", "nat").stdout()
              + lab.in(ns, "iptables-save", "-t", "filter").stdout();
      assertThat(tables).doesNotContain("KUBE-");
    }
  }

  private static String webService(String... podIps) {
    return """
        apiVersion: v1
        kind: Service
        metadata: {namespace: ns, name: web}
        spec:
          type: NodePort
          clusterIP: %s
          ports: [{name: p, port: 80, targetPort: %d, nodePort: %d}]
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {namespace: ns, name: web-1, labels: {kubernetes.io/service-name: web}}
        addressType: IPv4
        ports: [{name: p, port: %d}]
        endpoints: [%s]
        """
        .formatted(
            VIP,
            PORT,
            NODE_PORT,
            PORT,
            String.join(
                ", ",
                java.util.Arrays.stream(podIps)
                    .map(ip -> "{addresses: [" + ip + "], nodeName: node1}")
                    .toList()));
  }

  @Test
  void syncLoop_realRendererAfterIptablesMode_servesFollowsEndpointsAndHandsBack()
      throws Exception {
    KernelTests.requireIpvs("IPVS proxier kernel test");
    try (Lab lab = Lab.create(new ProcessCommandRunner(), 1)) {
      Lab.Node node = lab.node("node1");
      Lab.Pod a = lab.addPod("node1", "be1");
      Lab.Pod b = lab.addPod("node1", "be2");
      Lab.Client client = lab.addClient("client");
      lab.route(client.netns(), VIP, node.ip());
      lab.startBackend(a, PORT);
      lab.startBackend(b, PORT);
      Recording rec = new Recording(lab.runner().inNetns(node.netns()));
      dev.svcproxy.model.ProxyConfig cfg =
          dev.svcproxy.model.ProxyConfig.defaults(
              "node1", node.ip(), dev.svcproxy.model.LocalTrafficDetector.none());
      dev.svcproxy.render.ipvs.IpvsRenderer renderer =
          new dev.svcproxy.render.ipvs.IpvsRenderer(
              cfg,
              IpvsOptions.defaults(),
              dev.svcproxy.kernel.KernelCapabilities.none(),
              "6.1.0-56-amd64");
      IpvsProxier proxier =
          new IpvsProxier(
              new IpvsKernel(rec),
              new IptablesKernel(rec),
              st -> renderer.render(st, List.of(node.ip())),
              IpvsOptions.defaults(),
              Duration.ofHours(1),
              System::nanoTime);
      Duration timeout = TimeScale.scale(Duration.ofSeconds(1));
      ProxyState first = dev.svcproxy.testutil.States.fromYaml(webService(a.ip()));
      // The node ran iptables mode before: IPVS mode's first sync removes what that left.
      dev.svcproxy.sync.iptables.IptablesProxier iptablesMode =
          new dev.svcproxy.sync.iptables.IptablesProxier(
              new IptablesKernel(rec),
              cfg,
              dev.svcproxy.render.iptables.IptablesOptions.defaults());
      iptablesMode.sync(first, true, Set.of());
      assertThat(lab.in(node.netns(), "iptables-save", "-t", "nat").stdout()).contains("KUBE-SVC-");
      try (dev.svcproxy.sync.SyncLoop loop =
          new dev.svcproxy.sync.SyncLoop(
              proxier,
              new dev.svcproxy.sync.SyncLoop.Timing(
                  Duration.ZERO, TimeScale.scale(Duration.ofSeconds(30)), Duration.ofHours(1)))) {
        loop.update(first);
        loop.start();
        assertThat(loop.awaitApplied(first, TimeScale.scale(Duration.ofSeconds(10))))
            .as("first sync: %s", loop.lastError())
            .isTrue();
        String nat = lab.in(node.netns(), "iptables-save", "-t", "nat").stdout();
        String filter = lab.in(node.netns(), "iptables-save", "-t", "filter").stdout();
        assertThat(nat).doesNotContain("KUBE-SVC-").doesNotContain("KUBE-SEP-");
        assertThat(nat).doesNotContain("KUBE-NODEPORTS").doesNotContain("KUBE-PROXY-CANARY");
        assertThat(filter)
            .doesNotContain("KUBE-EXTERNAL-SERVICES")
            .doesNotContain("KUBE-NODEPORTS");
        // Each built-in chain enters KUBE-SERVICES once: iptables mode's jump is gone.
        assertThat(
                nat.lines()
                    .filter(l -> l.startsWith("-A OUTPUT") && l.endsWith("-j KUBE-SERVICES")))
            .hasSize(1);
        for (String[] to : List.of(new String[] {VIP, "80"}, new String[] {node.ip(), "30080"})) {
          Connection c = lab.connect(client.netns(), to[0], Integer.parseInt(to[1]), timeout);
          assertThat(c.outcome())
              .as("%s:%s %s", to[0], to[1], c)
              .isEqualTo(Connection.Outcome.REPLIED);
          assertThat(c.backend()).isEqualTo("be1");
        }

        // What the renderer asked for reads back from the tools as written: nothing to redo.
        rec.lines.clear();
        proxier.sync(first, true, Set.of());
        assertThat(rec.writes()).isEmpty();

        ProxyState second = dev.svcproxy.testutil.States.fromYaml(webService(b.ip()));
        loop.update(second);
        assertThat(loop.awaitApplied(second, TimeScale.scale(Duration.ofSeconds(10))))
            .as("second sync: %s", loop.lastError())
            .isTrue();
        Connection c = lab.connect(client.netns(), VIP, 80, timeout);
        assertThat(c.outcome()).as("after the change: %s", c).isEqualTo(Connection.Outcome.REPLIED);
        assertThat(c.backend()).isEqualTo("be2");
      }
      // Back to iptables mode: its start removes IPVS mode's state, then it serves alone.
      assertThat(
              IpvsProxier.removeLeftoversForOtherMode(new IpvsKernel(rec), new IptablesKernel(rec)))
          .isTrue();
      assertThat(lab.in(node.netns(), "ipvsadm", "-S", "-n").stdout()).isEmpty();
      assertThat(lab.in(node.netns(), "ipset", "list", "-n").stdout()).doesNotContain("KUBE-");
      ProxyState second = dev.svcproxy.testutil.States.fromYaml(webService(b.ip()));
      new dev.svcproxy.sync.iptables.IptablesProxier(
              new IptablesKernel(rec), cfg, dev.svcproxy.render.iptables.IptablesOptions.defaults())
          .sync(second, true, Set.of());
      Connection c = lab.connect(client.netns(), VIP, 80, timeout);
      assertThat(c.outcome())
          .as("iptables mode again: %s", c)
          .isEqualTo(Connection.Outcome.REPLIED);
      assertThat(c.backend()).isEqualTo("be2");
    }
  }
}
