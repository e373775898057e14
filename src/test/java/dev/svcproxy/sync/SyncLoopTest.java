package dev.svcproxy.sync;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.IptablesKernel;
import dev.svcproxy.kernel.RecordingCommandRunner;
import dev.svcproxy.model.ProxyConfig;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.render.iptables.IptablesOptions;
import dev.svcproxy.sync.iptables.IptablesProxier;
import dev.svcproxy.testutil.States;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class SyncLoopTest {
  private static ProxyState state(String aEndpoint) {
    return States.fromYaml(
        States.oneEndpointService("a", "172.30.0.1", aEndpoint)
            + States.oneEndpointService("b", "172.30.0.2", "10.0.2.1"));
  }

  private final AtomicBoolean failRestore = new AtomicBoolean();

  /**
   * The fake node's chains ("table chain") and the rules of its built-in chains ("table -A ..."),
   * kept as iptables -N, -I, -C and -S would: enough for the flush check to look at.
   */
  private final Set<String> chains = ConcurrentHashMap.newKeySet();

  private final Set<String> builtinRules = ConcurrentHashMap.newKeySet();

  private final RecordingCommandRunner runner = new RecordingCommandRunner(this::answer);

  private CommandResult answer(RecordingCommandRunner.Call c) {
    List<String> a = c.argv();
    String l = c.line();
    if (l.startsWith("iptables-restore")) {
      return failRestore.get()
          ? new CommandResult(a, 1, "", "iptables-restore: line 7 failed")
          : new CommandResult(a, 0, "", "");
    }
    if (!a.get(0).equals("iptables")) {
      return new CommandResult(a, 0, "", "");
    }
    int t = a.indexOf("-t");
    String table = a.get(t + 1);
    String op = a.get(t + 2);
    String chain = a.get(t + 3);
    String rule = table + " -A " + chain + rest(a.subList(t + 4, a.size()));
    return switch (op) {
      case "-N" -> {
        chains.add(table + " " + chain);
        yield new CommandResult(a, 0, "", "");
      }
      case "-C" ->
          builtinRules.contains(rule)
              ? new CommandResult(a, 0, "", "")
              : new CommandResult(a, 1, "", "iptables: Bad rule");
      case "-I" -> {
        builtinRules.add(rule);
        yield new CommandResult(a, 0, "", "");
      }
      case "-S" -> {
        String prefix = table + " -A " + chain + " ";
        List<String> out =
            builtinRules.stream()
                .filter(r -> r.startsWith(prefix))
                .map(r -> r.substring(table.length() + 1))
                .toList();
        boolean exists = chain.toUpperCase(Locale.ROOT).equals(chain) && !chain.startsWith("KUBE-");
        yield exists || chains.contains(table + " " + chain)
            ? new CommandResult(a, 0, String.join("\n", out) + "\n", "")
            : new CommandResult(a, 1, "", "iptables: No chain/target/match by that name.");
      }
      default -> new CommandResult(a, 0, "", "");
    };
  }

  /** The args as iptables -S prints them, quoting the ones with spaces. */
  private static String rest(List<String> args) {
    StringBuilder b = new StringBuilder();
    for (String x : args) {
      b.append(' ').append(x.contains(" ") ? "\"" + x + "\"" : x);
    }
    return b.toString();
  }

  /** What `iptables -t table -F` does to the fake node: every rule goes, the chains stay. */
  private void flush(String table) {
    builtinRules.removeIf(r -> r.startsWith(table + " "));
  }

  private IptablesProxier proxier() {
    return new IptablesProxier(
        new IptablesKernel(runner),
        ProxyConfig.defaults("n1", "192.168.0.2", dev.svcproxy.model.LocalTrafficDetector.none()),
        IptablesOptions.defaults());
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
    // a's KUBE-SERVICES rule still jumps to the same chain: the shared chains are left alone.
    assertThat(partial).doesNotContain("ns/b:p cluster IP", ":KUBE-SERVICES");
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
      chains.remove("mangle KUBE-PROXY-CANARY");
      assertThat(loop.awaitSuccesses(before + 1, Duration.ofSeconds(5))).isTrue();
    }
    assertThat(runner.calls()).anyMatch(c -> c.line().contains(" -t mangle -N KUBE-PROXY-CANARY"));
    assertThat(restores().getLast()).contains("10.0.1.1:80", "10.0.2.1:80");
  }

  @ParameterizedTest
  @ValueSource(strings = {"nat", "filter"})
  void vanishedCanaryInNatOrFilter_triggersFullResync(String table) throws Exception {
    try (SyncLoop loop = new SyncLoop(proxier(), fast())) {
      loop.update(state("10.0.1.1"));
      loop.start();
      assertThat(loop.awaitApplied(state("10.0.1.1"), Duration.ofSeconds(5))).isTrue();
      runner.clear();
      int before = loop.successes();
      // iptables -t T -X alone deletes the chains no rule jumps to: the canary, not the jumps.
      chains.remove(table + " KUBE-PROXY-CANARY");
      assertThat(loop.awaitSuccesses(before + 1, Duration.ofSeconds(5))).isTrue();
    }
    assertThat(runner.calls())
        .anyMatch(c -> c.line().endsWith("-t " + table + " -N KUBE-PROXY-CANARY"));
    assertThat(restores().getLast()).contains("10.0.1.1:80", "10.0.2.1:80");
  }

  @Test
  void flushedNatWithCanaryLeft_missingJumpTriggersFullResync() throws Exception {
    try (SyncLoop loop = new SyncLoop(proxier(), fast())) {
      loop.update(state("10.0.1.1"));
      loop.start();
      assertThat(loop.awaitApplied(state("10.0.1.1"), Duration.ofSeconds(5))).isTrue();
      runner.clear();
      int before = loop.successes();
      // iptables -t nat -F alone: every chain, the canary too, is still there.
      flush("nat");
      assertThat(loop.awaitSuccesses(before + 1, Duration.ofSeconds(5))).isTrue();
    }
    assertThat(runner.calls())
        .anyMatch(c -> c.line().contains(" -t nat -I PREROUTING "))
        .anyMatch(c -> c.line().contains(" -t nat -I POSTROUTING "));
    assertThat(restores().getLast()).contains("10.0.1.1:80", "10.0.2.1:80");
  }

  @Test
  void intactRules_noResyncAfterManyChecks() throws Exception {
    try (SyncLoop loop = new SyncLoop(proxier(), fast())) {
      loop.update(state("10.0.1.1"));
      loop.start();
      assertThat(loop.awaitApplied(state("10.0.1.1"), Duration.ofSeconds(5))).isTrue();
      int before = loop.successes();
      runner.clear();
      // Wait for three checks of the flush watch, counted by the mangle canary probes.
      long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
      while (System.nanoTime() < deadline
          && runner.calls().stream()
                  .filter(c -> c.line().endsWith("-t mangle -S KUBE-PROXY-CANARY"))
                  .count()
              < 3) {
        Thread.sleep(10);
      }
      assertThat(loop.successes()).isEqualTo(before);
    }
    assertThat(restores()).isEmpty();
  }

  @Test
  void changedServices_detectsEndpointAndServiceChangesOnly() {
    assertThat(SyncLoop.changedServices(state("10.0.1.1"), state("10.0.1.2")))
        .containsExactly("ns/a");
    assertThat(SyncLoop.changedServices(state("10.0.1.1"), state("10.0.1.1"))).isEmpty();
    assertThat(SyncLoop.changedServices(ProxyState.empty(), state("10.0.1.1")))
        .containsExactlyInAnyOrder("ns/a", "ns/b");
  }

  /** A proxier of no particular mode: records what the loop asks of it. */
  private static final class FakeProxier implements Proxier {
    record Call(ProxyState state, boolean full, Set<String> changed) {}

    final List<Call> calls = new java.util.concurrent.CopyOnWriteArrayList<>();
    final java.util.concurrent.atomic.AtomicInteger failures =
        new java.util.concurrent.atomic.AtomicInteger();
    volatile List<String> missing = List.of();

    @Override
    public String name() {
      return "fake";
    }

    @Override
    public SyncResult sync(ProxyState state, boolean full, Set<String> changed) {
      calls.add(new Call(state, full, Set.copyOf(changed)));
      if (failures.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
        throw new SyncException("fake kernel refused");
      }
      return () -> "nothing";
    }

    @Override
    public List<String> missing() {
      return missing;
    }

    @Override
    public void cleanup() {}

    @Override
    public java.util.Map<dev.svcproxy.model.ServicePortName, Exclusion> excluded() {
      return java.util.Map.of();
    }
  }

  @Test
  void loop_anyProxier_fullAtStartThenPartialWithTheChangedServices() throws Exception {
    FakeProxier fake = new FakeProxier();
    try (SyncLoop loop = new SyncLoop(fake, fast())) {
      loop.update(state("10.0.1.1"));
      loop.start();
      assertThat(loop.awaitApplied(state("10.0.1.1"), Duration.ofSeconds(5))).isTrue();
      loop.update(state("10.0.1.9"));
      assertThat(loop.awaitApplied(state("10.0.1.9"), Duration.ofSeconds(5))).isTrue();
    }
    assertThat(fake.calls).hasSize(2);
    assertThat(fake.calls.get(0).full()).isTrue();
    assertThat(fake.calls.get(0).state()).isEqualTo(state("10.0.1.1"));
    assertThat(fake.calls.get(1).full()).isFalse();
    assertThat(fake.calls.get(1).changed()).containsExactly("ns/a");
    assertThat(fake.calls.get(1).state()).isEqualTo(state("10.0.1.9"));
  }

  @Test
  void loop_anyProxierFails_retriesInFull() throws Exception {
    FakeProxier fake = new FakeProxier();
    try (SyncLoop loop = new SyncLoop(fake, fast())) {
      loop.update(state("10.0.1.1"));
      loop.start();
      assertThat(loop.awaitApplied(state("10.0.1.1"), Duration.ofSeconds(5))).isTrue();
      fake.failures.set(1);
      loop.update(state("10.0.1.9"));
      assertThat(loop.awaitApplied(state("10.0.1.9"), Duration.ofSeconds(5))).isTrue();
      assertThat(loop.lastError()).isNull();
    }
    assertThat(fake.calls).extracting(FakeProxier.Call::full).containsExactly(true, false, true);
    assertThat(fake.calls.get(1).changed()).containsExactly("ns/a");
    assertThat(fake.calls.get(2).state()).isEqualTo(state("10.0.1.9"));
  }

  @Test
  void loop_anyProxierReportsSomethingMissing_fullResync() throws Exception {
    FakeProxier fake = new FakeProxier();
    try (SyncLoop loop = new SyncLoop(fake, fast())) {
      loop.update(state("10.0.1.1"));
      loop.start();
      assertThat(loop.awaitApplied(state("10.0.1.1"), Duration.ofSeconds(5))).isTrue();
      fake.missing = List.of("canary");
      assertThat(loop.awaitSuccesses(2, Duration.ofSeconds(5))).isTrue();
      fake.missing = List.of();
    }
    assertThat(fake.calls.get(1).full()).isTrue();
    assertThat(fake.calls.get(1).changed()).isEmpty();
    assertThat(fake.calls.get(1).state()).isEqualTo(state("10.0.1.1"));
  }

  /** Records what the loop tells its observers. */
  private static final class RecordingObserver implements SyncObserver {
    final List<Queued> queued = new java.util.concurrent.CopyOnWriteArrayList<>();
    final List<Synced> synced = new java.util.concurrent.CopyOnWriteArrayList<>();

    @Override
    public void queued(Queued q) {
      queued.add(q);
    }

    @Override
    public void synced(Synced s) {
      synced.add(s);
    }
  }

  @Test
  void observer_endpointOnlyChange_queuedAsEndpointChangeNotServiceChange() throws Exception {
    FakeProxier fake = new FakeProxier();
    RecordingObserver obs = new RecordingObserver();
    try (SyncLoop loop = new SyncLoop(fake, fast(), List.of(obs))) {
      loop.update(state("10.0.1.1"));
      loop.start();
      assertThat(loop.awaitApplied(state("10.0.1.1"), Duration.ofSeconds(5))).isTrue();
      loop.update(state("10.0.1.9"));
      assertThat(loop.awaitApplied(state("10.0.1.9"), Duration.ofSeconds(5))).isTrue();
      // An update equal to what is queued or applied is no change: nothing queued.
      loop.update(state("10.0.1.9"));
    }
    // First update: both Services are new, with their endpoints.
    assertThat(obs.queued.get(0).services()).containsExactlyInAnyOrder("ns/a", "ns/b");
    assertThat(obs.queued.get(0).endpoints()).containsExactlyInAnyOrder("ns/a", "ns/b");
    // Second: only a's endpoint moved; the ports are as they were, and the pending sets were
    // cleared by the first sync.
    assertThat(obs.queued).hasSize(2);
    assertThat(obs.queued.get(1).services()).isEmpty();
    assertThat(obs.queued.get(1).endpoints()).containsExactly("ns/a");
    assertThat(obs.queued.get(1).pendingServices()).isEmpty();
    assertThat(obs.queued.get(1).pendingEndpoints()).containsExactly("ns/a");
  }

  @Test
  void observer_syncFailsThenSucceeds_toldBothWithPreviousState() throws Exception {
    FakeProxier fake = new FakeProxier();
    RecordingObserver obs = new RecordingObserver();
    try (SyncLoop loop = new SyncLoop(fake, fast(), List.of(obs))) {
      loop.update(state("10.0.1.1"));
      loop.start();
      assertThat(loop.awaitApplied(state("10.0.1.1"), Duration.ofSeconds(5))).isTrue();
      fake.failures.set(1);
      loop.update(state("10.0.1.9"));
      assertThat(loop.awaitApplied(state("10.0.1.9"), Duration.ofSeconds(5))).isTrue();
    }
    assertThat(obs.synced).extracting(SyncObserver.Synced::ok).containsExactly(true, false, true);
    assertThat(obs.synced).extracting(SyncObserver.Synced::full).containsExactly(true, false, true);
    assertThat(obs.synced.get(0).previous()).isEqualTo(ProxyState.empty());
    assertThat(obs.synced.get(1).failure()).hasMessage("fake kernel refused");
    assertThat(obs.synced.get(1).result()).isNull();
    assertThat(obs.synced.get(1).changed()).containsExactly("ns/a");
    // The failed sync changed nothing: the retry starts from what the first sync wrote.
    assertThat(obs.synced.get(2).previous()).isEqualTo(state("10.0.1.1"));
    assertThat(obs.synced.get(2).state()).isEqualTo(state("10.0.1.9"));
  }
}
