package dev.svcproxy.trace;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.lab.DemoCluster;
import dev.svcproxy.lab.Differential;
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
    try (DemoCluster cluster = DemoCluster.start(new ProcessCommandRunner(), "nftables")) {
      Differential d = new Differential(cluster);
      d.installThirdPartyRules();
      Map<String, NodeState> bundles = d.bundles();
      // The bundles carry the kernel's nft ruleset (nft-ruleset.json): upstream's table is traced.
      for (NodeState n : bundles.values()) {
        assertThat(n.nftables().tables()).anyMatch(t -> t.name().equals("kube-proxy"));
      }
      results.addAll(d.run(d.cases(), bundles, log::add));
      // Second round on changed rules: web loses web-b, so its chains and branches change.
      cluster.writeManifest("endpoints.yaml", cluster.endpointSlices(false));
      cluster.proxy(1).awaitLog("partial sync", 1, Duration.ofSeconds(10));
      cluster.proxy(2).awaitLog("partial sync", 1, Duration.ofSeconds(10));
      results.addAll(d.run(d.cases(), d.bundles(), log::add));
      // Third round on another configuration: every ClusterIP connection masqueraded.
      cluster.restartProxies(List.of("--masquerade-all"));
      results.addAll(d.run(d.cases(), d.bundles(), log::add));
    }
    System.err.println(Differential.summaryLine(results));
    log.forEach(System.err::println);
    List<String> disagreements = log.stream().filter(l -> l.startsWith("DISAGREE")).toList();
    assertThat(disagreements).isEmpty();
    assertThat(results.size()).isGreaterThanOrEqualTo(200);
    assertThat(results.stream().filter(Differential.Result::branched).count())
        .isGreaterThanOrEqualTo(40);
  }
}
