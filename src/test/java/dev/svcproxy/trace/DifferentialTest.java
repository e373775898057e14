package dev.svcproxy.trace;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.lab.DemoCluster;
import dev.svcproxy.lab.Differential;
import dev.svcproxy.testutil.KernelTests;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The tracer against the kernel: the same packets, the same verdicts and rewrites. */
class DifferentialTest {

  @Test
  void tracer_agreesWithTheKernel_onEveryCase() throws Exception {
    KernelTests.require("lab tests");
    List<Differential.Result> results = new ArrayList<>();
    List<String> log = new ArrayList<>();
    try (DemoCluster cluster = DemoCluster.start(new ProcessCommandRunner())) {
      Differential d = new Differential(cluster);
      d.installThirdPartyRules();
      results.addAll(d.run(d.cases(), d.bundles(), log::add));
      // Second round on changed rules: web loses web-b, so its chains and branches change.
      cluster.writeManifest("endpoints.yaml", cluster.endpointSlices(false));
      cluster.proxy(1).awaitLog("partial sync", 1, java.time.Duration.ofSeconds(10));
      cluster.proxy(2).awaitLog("partial sync", 1, java.time.Duration.ofSeconds(10));
      results.addAll(d.run(d.cases(), d.bundles(), log::add));
      // Third round on another configuration: every ClusterIP connection masqueraded.
      cluster.restartProxies(List.of("--masquerade-all"));
      results.addAll(d.run(d.cases(), d.bundles(), log::add));
    }
    System.err.println(Differential.summaryLine(results));
    log.forEach(System.err::println);
    List<String> disagreements = log.stream().filter(l -> l.startsWith("DISAGREE")).toList();
    assertThat(results.size()).isGreaterThanOrEqualTo(200);
    // The lab's Services with two endpoints make the kernel choose: the run must keep testing that.
    assertThat(results.stream().filter(Differential.Result::branched).count())
        .isGreaterThanOrEqualTo(40);
    assertThat(disagreements).isEmpty();
  }
}
