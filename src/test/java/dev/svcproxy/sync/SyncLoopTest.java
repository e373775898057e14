package dev.svcproxy.sync;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.IptablesKernel;
import dev.svcproxy.kernel.RecordingCommandRunner;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.render.iptables.IptablesConfig;
import dev.svcproxy.testutil.States;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

class SyncLoopTest {
  private static final String SVC =
      """
      apiVersion: v1
      kind: Service
      metadata: {namespace: ns, name: %s}
      spec: {clusterIP: %s, ports: [{name: p, port: 80}]}
      ---
      apiVersion: discovery.k8s.io/v1
      kind: EndpointSlice
      metadata: {namespace: ns, name: %s-1, labels: {kubernetes.io/service-name: %s}}
      addressType: IPv4
      ports: [{name: p, port: 80}]
      endpoints: [{addresses: [%s]}]
      ---
      """;

  private static ProxyState state(String aEndpoint) {
    return States.fromYaml(
        SVC.formatted("a", "172.30.0.1", "a", "a", aEndpoint)
            + SVC.formatted("b", "172.30.0.2", "b", "b", "10.0.2.1"));
  }

  private final AtomicBoolean failRestore = new AtomicBoolean();
  private final AtomicBoolean canaryGone = new AtomicBoolean();
  private final RecordingCommandRunner runner =
      new RecordingCommandRunner(
          c -> {
            String l = c.line();
            if (l.contains(" -C ")) {
              return new CommandResult(c.argv(), 1, "", "iptables: Bad rule");
            }
            if (l.startsWith("iptables-restore") && failRestore.get()) {
              return new CommandResult(c.argv(), 1, "", "iptables-restore: line 7 failed");
            }
            if (l.contains("-S KUBE-PROXY-CANARY") && canaryGone.get()) {
              return new CommandResult(c.argv(), 1, "", "No chain/target/match by that name.");
            }
            return new CommandResult(c.argv(), 0, "", "");
          });

  private IptablesProxier proxier() {
    return new IptablesProxier(
        new IptablesKernel(runner),
        IptablesConfig.defaults(
            "n1", "192.168.0.2", dev.svcproxy.model.LocalTrafficDetector.none()));
  }

  private List<String> restores() {
    return runner.calls().stream()
        .filter(c -> c.argv().get(0).equals("iptables-restore"))
        .map(RecordingCommandRunner.Call::stdin)
        .toList();
  }

  private static SyncLoop.Timing fast() {
    return new SyncLoop.Timing(Duration.ofMillis(20), Duration.ofMillis(200), Duration.ofHours(1));
  }

  @Test
  void firstSync_isFull_ensuresJumpsAndCanariesThenOneRestore() throws Exception {
    try (SyncLoop loop = new SyncLoop(proxier(), fast())) {
      loop.update(state("10.0.1.1"));
      loop.start();
      assertThat(loop.awaitApplied(state("10.0.1.1"), Duration.ofSeconds(5))).isTrue();
    }
    List<String> lines = runner.calls().stream().map(RecordingCommandRunner.Call::line).toList();
    assertThat(lines)
        .contains(
            "iptables -w 5 -W 100000 -t nat -I PREROUTING -m comment --comment kubernetes service portals -j KUBE-SERVICES",
            "iptables -w 5 -W 100000 -t filter -I INPUT -j KUBE-FIREWALL",
            "iptables -w 5 -W 100000 -t mangle -N KUBE-PROXY-CANARY");
    assertThat(runner.calls().stream().filter(c -> c.argv().get(0).equals("iptables-restore")))
        .singleElement()
        .satisfies(
            c ->
                assertThat(c.line())
                    .isEqualTo("iptables-restore -w 5 -W 100000 --noflush --counters"));
    assertThat(restores().get(0)).contains("KUBE-SVC-", "172.30.0.1", "172.30.0.2");
  }

  @Test
  void endpointChange_partialSyncWritesOnlyThatService() throws Exception {
    try (SyncLoop loop = new SyncLoop(proxier(), fast())) {
      loop.update(state("10.0.1.1"));
      loop.start();
      assertThat(loop.awaitApplied(state("10.0.1.1"), Duration.ofSeconds(5))).isTrue();
      runner.clear();
      loop.update(state("10.0.1.9"));
      assertThat(loop.awaitApplied(state("10.0.1.9"), Duration.ofSeconds(5))).isTrue();
    }
    String partial = restores().getLast();
    assertThat(partial).contains("10.0.1.9:80").doesNotContain("10.0.2.1:80");
    assertThat(partial).contains("ns/b:p cluster IP"); // top-level KUBE-SERVICES rules stay whole
    assertThat(runner.calls()).noneMatch(c -> c.line().contains(" -I "));
  }

  @Test
  void failedRestore_keepsRetryingWithFullSyncUntilItSucceeds() throws Exception {
    try (SyncLoop loop = new SyncLoop(proxier(), fast())) {
      failRestore.set(true);
      loop.update(state("10.0.1.1"));
      loop.start();
      assertThat(loop.awaitApplied(state("10.0.1.1"), Duration.ofMillis(300))).isFalse();
      // It keeps retrying (with backoff) while the kernel refuses.
      long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
      while (restores().size() < 2 && System.nanoTime() < deadline) {
        Thread.sleep(10);
      }
      assertThat(restores().size()).isGreaterThanOrEqualTo(2);
      assertThat(loop.lastError()).contains("line 7 failed");
      runner.clear();
      failRestore.set(false);
      assertThat(loop.awaitApplied(state("10.0.1.1"), Duration.ofSeconds(5))).isTrue();
      assertThat(loop.lastError()).isNull();
    }
    // The retry after a failure is a full sync: every service's chains are written.
    assertThat(restores().getLast()).contains("10.0.1.1:80", "10.0.2.1:80");
  }

  @Test
  void vanishedCanary_triggersFullResync() throws Exception {
    try (SyncLoop loop = new SyncLoop(proxier(), fast())) {
      loop.update(state("10.0.1.1"));
      loop.start();
      assertThat(loop.awaitApplied(state("10.0.1.1"), Duration.ofSeconds(5))).isTrue();
      runner.clear();
      int before = loop.successes();
      canaryGone.set(true);
      assertThat(loop.awaitSuccesses(before + 1, Duration.ofSeconds(5))).isTrue();
    }
    assertThat(runner.calls()).anyMatch(c -> c.line().contains(" -I PREROUTING "));
    assertThat(restores().getLast()).contains("10.0.1.1:80", "10.0.2.1:80");
  }

  @Test
  void changedServices_detectsEndpointAndServiceChangesOnly() {
    assertThat(SyncLoop.changedServices(state("10.0.1.1"), state("10.0.1.2")))
        .containsExactly("ns/a");
    assertThat(SyncLoop.changedServices(state("10.0.1.1"), state("10.0.1.1"))).isEmpty();
    assertThat(SyncLoop.changedServices(ProxyState.empty(), state("10.0.1.1")))
        .containsExactlyInAnyOrder("ns/a", "ns/b");
  }
}
