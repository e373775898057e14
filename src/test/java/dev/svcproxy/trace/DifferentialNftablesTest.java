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

  @Test
  void tracer_agreesWithTheKernel_inNftablesMode() throws Exception {
    KernelTests.require("lab tests");
    List<Differential.Result> results = new ArrayList<>();
    List<String> log = new ArrayList<>();
    List<String> sticky;
    try (DemoCluster cluster = DemoCluster.start(new ProcessCommandRunner(), "nftables")) {
      Differential d = new Differential(cluster);
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
      cluster.proxy(1).awaitLog("partial sync", 1, Duration.ofSeconds(10));
      cluster.proxy(2).awaitLog("partial sync", 1, Duration.ofSeconds(10));
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
