package dev.svcproxy.trace;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.lab.DemoCluster;
import dev.svcproxy.lab.Differential;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.testutil.KernelTests;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The tracer against the kernel with svcproxy in nftables mode: the same packets, the same verdicts
 * and rewrites, through upstream's kube-proxy table and the third-party iptables rules beside it.
 */
class DifferentialNftablesTest {
  private static final Duration REPLY_WAIT = Duration.ofSeconds(20);

  /**
   * Waits until {@code node}'s kube-proxy table sends Service web to {@code kept} and no longer to
   * {@code gone}: every service chain of web (service-HASH-default/web/tcp/PORT) names the endpoint
   * chains (...__IP/PORT) its numgen map goes to.
   */
  private static void awaitWebEndpoints(Lab lab, Lab.Node node, String kept, String gone)
      throws InterruptedException {
    long end = System.nanoTime() + Duration.ofMinutes(2).toNanos();
    String table = "";
    while (System.nanoTime() < end) {
      table = lab.in(node.netns(), "nft", "list", "table", "ip", "kube-proxy").stdout();
      List<String> web = serviceChains(table, "default/web/tcp/");
      if (!web.isEmpty()
          && web.stream().allMatch(c -> c.contains("__" + kept + "/"))
          && web.stream().noneMatch(c -> c.contains("__" + gone + "/"))) {
        return;
      }
      Thread.sleep(100);
    }
    throw new AssertionError(
        node.name() + " still sends web to " + gone + " or not to " + kept + ":\n" + table);
  }

  /** The bodies of the chains "service-HASH-" + {@code name} + PORT in `nft list table` text. */
  static List<String> serviceChains(String table, String name) {
    List<String> out = new ArrayList<>();
    StringBuilder cur = null;
    for (String line : table.split("\n")) {
      String t = line.strip();
      if (t.startsWith("chain service-") && t.contains("-" + name) && t.endsWith("{")) {
        cur = new StringBuilder();
      } else if (cur != null && t.equals("}")) {
        out.add(cur.toString());
        cur = null;
      } else if (cur != null) {
        cur.append(t).append('\n');
      }
    }
    return out;
  }

  @Test
  void tracer_agreesWithTheKernel_inNftablesMode() throws Exception {
    KernelTests.require("lab tests");
    List<Differential.Result> results = new ArrayList<>();
    List<String> log = new ArrayList<>();
    List<String> sticky;
    try (DemoCluster cluster = DemoCluster.start(new ProcessCommandRunner(), "nftables")) {
      // A connection the trace says is answered ends at the backend's line, so waiting longer
      // for it costs nothing when it comes: on a loaded machine the backend's fork of `echo`
      // took longer than the 1 s that a refused or dropped one keeps.
      Differential d = new Differential(cluster.lab(), REPLY_WAIT);
      d.installThirdPartyRules();
      Map<String, NodeState> bundles = d.bundles();
      // The bundles carry the kernel's nft ruleset (nft-ruleset.json): upstream's table is traced.
      for (NodeState n : bundles.values()) {
        assertThat(n.nftables().tables()).anyMatch(t -> t.name().equals("kube-proxy"));
      }
      results.addAll(d.run(d.cases(), bundles, log::add));
      // Later rounds send only to the Services' ClusterIPs and web's NodePorts, the destinations
      // their changes concern, to keep the test within its time: the others mostly time out, at a
      // second each, and were checked in the first round.
      Lab lab = cluster.lab();
      List<Differential.Dst> services =
          List.of(
              new Differential.Dst(DemoCluster.WEB, 80, true),
              new Differential.Dst(DemoCluster.WEB, 81, true),
              new Differential.Dst(DemoCluster.WEB_LOCAL, 80, true),
              new Differential.Dst(DemoCluster.EMPTY, 80, true),
              new Differential.Dst("10.96.0.13", 80, true),
              new Differential.Dst(DemoCluster.STICKY, 80, true),
              new Differential.Dst(DemoCluster.SELF, 80, true),
              new Differential.Dst(lab.node("node1").ip(), DemoCluster.WEB_NODEPORT, false),
              new Differential.Dst(lab.node("node2").ip(), DemoCluster.WEB_NODEPORT, false));
      List<String> sources = List.of("client", "web-a", "web-b", "node1", "node2", "ext", "ext2");
      // Second round on changed rules: web loses web-b, so its chains and branches change.
      cluster.writeManifest("endpoints.yaml", cluster.endpointSlices(false));
      // Wait for the kernel, not the log: a "partial sync" line can come from a sync that read
      // the state before the change, and 10 s was too little under load.
      for (Lab.Node n : lab.nodes()) {
        awaitWebEndpoints(lab, n, lab.pod("web-a").ip(), lab.pod("web-b").ip());
      }
      List<Differential.Result> second = d.run(d.cases(sources, services), d.bundles(), log::add);
      results.addAll(second);
      // Every client connected to web-sticky in the first round, less than the affinity set's
      // timeout (10800 s) ago: upstream's service chain sends each straight to its endpoint
      // (ip saddr @affinity-... goto endpoint-...), so the kernel has no choice, and the trace of
      // the second round's bundles must say so (the single outcome is compared as any other).
      sticky =
          second.stream()
              .filter(r -> r.c().dst().equals(DemoCluster.STICKY))
              .map(r -> r.c().name() + ": " + r.outcomes() + " traced outcome(s)")
              .toList();
      // Third round on another configuration: every ClusterIP connection masqueraded.
      // web gets web-b back, so its random branches are checked masqueraded too.
      cluster.writeManifest("endpoints.yaml", cluster.endpointSlices(true));
      cluster.restartProxies(List.of("--masquerade-all"));
      results.addAll(d.run(d.cases(sources, services), d.bundles(), log::add));
    }
    System.err.println(Differential.summaryLine(results));
    log.forEach(System.err::println);
    List<String> disagreements = log.stream().filter(l -> l.startsWith("DISAGREE")).toList();
    assertThat(disagreements).isEmpty();
    assertThat(sticky).hasSize(5).allMatch(s -> s.endsWith(": 1 traced outcome(s)"));
    assertThat(results.size()).isGreaterThanOrEqualTo(200);
    assertThat(results.stream().filter(Differential.Result::branched).count())
        .isGreaterThanOrEqualTo(40);
  }
}
