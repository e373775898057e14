package dev.svcproxy.trace;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.lab.Binomial;
import dev.svcproxy.lab.DemoCluster;
import dev.svcproxy.lab.Differential;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.lab.SpreadLab;
import dev.svcproxy.testutil.KernelTests;
import dev.svcproxy.trace.engine.Tracer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
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
    assertThat(disagreements).isEmpty();
    assertThat(results.size()).isGreaterThanOrEqualTo(200);
    // The lab's Services with two endpoints make the kernel choose: the run must keep testing that.
    assertThat(results.stream().filter(Differential.Result::branched).count())
        .isGreaterThanOrEqualTo(40);
  }

  /**
   * Three endpoints on the kernel: svcproxy writes --probability 0.3333333333 and then 0.5000000000
   * (upstream's "%0.10f" of 1/3 and 1/2); iptables hands the kernel round(p * 2^31), and the kernel
   * matches when a 31-bit random number is below it. So the first endpoint (be1, whose address
   * sorts first) gets round(715827882.596) / 2^31 = 715827883 / 2^31, and the other two half of the
   * rest each: a third each, to 1e-9.
   */
  @Test
  void kernel_threeEndpointService_spreadsAThirdEach_asTraced() {
    KernelTests.require("lab tests");
    double first = 715827883 / 2147483648.0;
    double rest = (1 - first) / 2;
    int n = 300;
    try (SpreadLab lab = SpreadLab.start(new ProcessCommandRunner(), 3)) {
      List<Lab.Pod> be = lab.backends();
      Map<String, Double> expected =
          Map.of(be.get(0).ip(), first, be.get(1).ip(), rest, be.get(2).ip(), rest);
      TraceResult t =
          new Tracer(lab.bundle())
              .trace(
                  new PacketSpec(
                      lab.client().ip(), 29999, SpreadLab.VIP, SpreadLab.PORT, "tcp", null));
      Map<String, Double> traced = new TreeMap<>();
      for (Outcome o : t.outcomes()) {
        assertThat(o.verdict()).isEqualTo(Verdict.ACCEPT);
        traced.merge(o.finalDestination().split(":")[0], o.probability(), Double::sum);
      }
      assertThat(traced).containsOnlyKeys(expected.keySet());
      expected.forEach((ip, p) -> assertThat(traced.get(ip)).as(ip).isCloseTo(p, within(1e-12)));

      Map<String, Integer> seen = lab.connect(n, 30000);
      System.err.println("three endpoints, " + n + " connections: " + seen);
      assertThat(seen).containsOnlyKeys("be1", "be2", "be3");
      for (int i = 0; i < 3; i++) {
        int k = seen.get("be" + (i + 1));
        double p = expected.get(be.get(i).ip());
        assertThat(Binomial.tail(n, p, k))
            .as("be%d answered %d of %d connections, traced p=%.6f", i + 1, k, n, p)
            .isGreaterThanOrEqualTo(Differential.TAIL);
      }
    }
  }
}
