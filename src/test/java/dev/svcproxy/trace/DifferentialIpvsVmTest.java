package dev.svcproxy.trace;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.lab.Differential;
import dev.svcproxy.lab.DifferentialIpvsLab;
import dev.svcproxy.testutil.KernelTests;
import dev.svcproxy.testutil.vm.TimeScale;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The tracer against the kernel in IPVS mode (runs in the VM phase): the demo's two-node lab
 * programmed by svcproxy's IPVS renderer and proxier, real connections from pods, nodes and
 * external clients, each compared with the trace of a bundle captured from the node it enters, by
 * the differential's rules (outcome, backend reached, the source the backend saw against the
 * trace's rewrite, conntrack's NAT, every real server of share >= 1/4 observed and rr's exact
 * turns, persistence).
 */
@Tag("vm")
class DifferentialIpvsVmTest {

  @Test
  void tracer_agreesWithIpvsKernel_onEveryCase() {
    KernelTests.requireIpvs("IPVS differential");
    long start = System.nanoTime();
    List<Differential.Result> results = new ArrayList<>();
    List<String> log = new ArrayList<>();
    try (DifferentialIpvsLab l = DifferentialIpvsLab.start(new ProcessCommandRunner())) {
      long built = System.nanoTime();
      Differential d =
          new Differential(l.lab(), TimeScale.scale(Duration.ofSeconds(1))).verbose(true);
      log.add("round 1: as deployed");
      results.addAll(d.run(l.cases(d), d.bundles(), log::add));
      // Second round: web loses web-b; its real server stays at weight 0 while the first round's
      // connections drain, and the first round left persistence templates for web-sticky.
      l.setWebB(false);
      log.add("round 2: web without web-b");
      results.addAll(d.run(l.laterCases(d), d.bundles(), log::add));
      log.add(
          String.format(
              "lab built in %.1f s (of which IPVS full syncs %.1f s), rounds in %.1f s",
              (built - start) / 1e9,
              l.syncTime().toMillis() / 1e3,
              (System.nanoTime() - built) / 1e9));
    }
    log.forEach(System.out::println);
    System.out.println(Differential.summaryLine(results));
    assertThat(log.stream().filter(line -> line.startsWith("DISAGREE"))).isEmpty();
    assertThat(results).hasSizeGreaterThanOrEqualTo(35);
    // rr over two endpoints makes the kernel choose: the run must keep testing that.
    assertThat(results.stream().filter(Differential.Result::branched).count())
        .isGreaterThanOrEqualTo(15);
  }
}
