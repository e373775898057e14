package dev.svcproxy.bench;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.testutil.KernelTests;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** bench sync end to end at 20 services x 3 endpoints: every figure present, the kernel right. */
class SyncBenchmarkTest {
  @ParameterizedTest
  @EnumSource(SyncBenchmark.Backend.class)
  void run_twentyServicesThreeEndpoints_reportsEveryFigureAndTheKernelHeldTheChanges(
      SyncBenchmark.Backend backend) {
    KernelTests.require("bench sync");
    SyncBenchmark.Options opt =
        new SyncBenchmark.Options(
            20, 3, backend, 2, 1, 7, true, Duration.ofMinutes(2), Duration.ofMinutes(2));

    SyncBenchmark.Report r = SyncBenchmark.run(new ProcessCommandRunner(), opt, s -> {});

    // What the kernel held, read back by the benchmark: 20 services, 3 endpoint chains each; the
    // measured service's chain went from 3 jumps to 4 and back.
    assertThat(r.serviceChainsInKernel()).isEqualTo(20);
    assertThat(r.endpointChainsInKernel()).isEqualTo(60);
    assertThat(r.victimChain())
        .startsWith(backend == SyncBenchmark.Backend.NFTABLES ? "service-" : "KUBE-SVC-");
    assertThat(r.victimEndpointsAtStart()).isEqualTo(3);
    assertThat(r.victimEndpointsAfterAdd()).isEqualTo(4);
    assertThat(r.victimEndpointsAfterRemove()).isEqualTo(3);
    assertThat(r.toolVersion())
        .contains(
            switch (backend) {
              case NFT -> "nf_tables";
              case LEGACY -> "legacy";
              case NFTABLES -> "nftables v";
            });
    // 20 services at 7 per batch: iptables, 3 batches of own chains and the switch; nftables, the
    // render's lines cut at 7/20 of them (every object declared before use), so 3 loads.
    assertThat(r.batches()).isEqualTo(backend == SyncBenchmark.Backend.NFTABLES ? 3 : 4);
    assertThat(r.renderLines()).isPositive();
    List<Long> times = new ArrayList<>();
    times.addAll(
        List.of(
            r.bareRestoreMs(),
            r.batchedRestoreMs(),
            r.firstSyncMs(),
            r.restartMs(),
            r.firstSyncLoggedMs(),
            r.restartLoggedMs()));
    assertThat(times).allMatch(t -> t >= 0);
    assertThat(r.firstSyncMs()).isPositive();
    assertThat(r.restartMs()).isPositive();
    assertThat(r.addMs()).hasSize(2).allMatch(t -> t > 0);
    assertThat(r.removeMs()).hasSize(2).allMatch(t -> t > 0);
    assertThat(r.addLoggedMs()).hasSize(2).allMatch(t -> t >= 0);
    assertThat(r.removeLoggedMs()).hasSize(2).allMatch(t -> t >= 0);
    assertThat(r.changeFloorMs()).hasSize(4).allMatch(t -> t > 0);
    assertThat(r.idleCpuPercent()).isBetween(0.0, 200.0);
    assertThat(r.rssKiB()).isPositive();
    assertThat(r.rssAfterChangesKiB()).isPositive();
    assertThat(r.peakRssKiB()).isGreaterThanOrEqualTo(r.rssKiB());

    List<String> printed = new ArrayList<>();
    SyncBenchmark.print(r, printed::add);
    assertThat(String.join("\n", printed))
        .contains(
            "(a) first full sync", "(b) restart", "(c) endpoint added", "(c) endpoint removed")
        .contains("(d) idle CPU", "(e) RSS")
        .contains("3 endpoints at start, 4 after the add, 3 after the remove");
  }
}
